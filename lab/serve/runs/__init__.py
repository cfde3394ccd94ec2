"""Run history: every training run (teacher, students, sweeps...) in one SQLite file.

    store = open_store()                         # $LAB_RUNS_DB, else <data folder>/runs.sqlite3
    run_id = store.start_run("teacher", config, dataset="mnist-sample", arch="teacher-cnn")
    store.update_run(run_id, curves=history)      # also a heartbeat
    store.finish_run(run_id, "finished", metrics=..., checkpoint="runs/teacher")
    store.list_runs(session="abc")                # -> [Run], newest first
    store.list_runs(status=["finished", "stopped"], limit=100, offset=100, curves=False)  # one page
    store.count_runs(session="abc"), store.distinct("dataset")

Or let a recorder follow a training generator (what the CLI does):

    with store.recording("teacher", config, dataset=..., arch=...) as rec:
        for event in rec.watch(train_teacher(...)): ...
        rec.finish(checkpoint=folder, metrics=card["metrics"])

    schema   the table, its versions and their migrations; the statuses a run can have
    process  which process wrote a run (pid + incarnation marker), to tell a crashed run from a live one
    store    RunStore: writing and reading runs, safely shared by threads and processes; open_store
    record   Recorder / recorded: a training generator recorded as one run; session and CLI identities
"""
from .process import process_alive, process_marker
from .record import EVENT_STATUS, Recorder, cli_identity, new_session_id, recorded
from .schema import MIGRATIONS, SCHEMA_VERSION, STATUSES, HistoryError, migrate
from .store import BUSY_TIMEOUT_S, STALE_OTHER_HOST_S, Run, RunStore, default_path, open_store

__all__ = ["BUSY_TIMEOUT_S", "EVENT_STATUS", "HistoryError", "MIGRATIONS", "Recorder", "Run", "RunStore",
           "SCHEMA_VERSION", "STALE_OTHER_HOST_S", "STATUSES", "cli_identity", "default_path", "migrate",
           "new_session_id", "open_store", "process_alive", "process_marker", "recorded"]
