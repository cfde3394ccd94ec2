import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from lab.serve import runs
from lab.serve.runs import HistoryError, RunStore, migrate
from lab.train import Event, TrainResult

LAB_DIR = Path(runs.__file__).parents[2]  # lab/, above lab/serve/runs/__init__.py

# Subprocesses import lab.serve.runs without lab/__init__ (which imports torch): fast to start.
PRELUDE = f"""
import sys, types
pkg = types.ModuleType("lab"); pkg.__path__ = [{str(LAB_DIR)!r}]; sys.modules["lab"] = pkg
from lab.serve.runs import RunStore
"""


def python(code: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", PRELUDE + code], stdout=subprocess.PIPE, text=True, **kwargs)


@pytest.fixture
def store(tmp_path):
    return RunStore(tmp_path / "runs.sqlite3")


def test_a_run_round_trips(store):
    run_id = store.start_run("teacher", {"lr": 0.003, "epochs": 2}, dataset="mnist-sample", arch="teacher-cnn",
                             session="s1", owner="ada")
    run = store.get_run(run_id)
    assert (run.status, run.kind, run.dataset, run.session, run.pid) == ("running", "teacher", "mnist-sample", "s1",
                                                                        os.getpid())
    store.update_run(run_id, curves=[{"epoch": 1, "loss": 0.5}], metrics={"test_accuracy": 0.9})
    store.finish_run(run_id, "finished", metrics={"params": 10, "ece": float("nan")}, checkpoint="/ckpt")
    run = store.get_run(run_id)
    assert run.status == "finished" and run.finished_at >= run.started_at
    assert run.metrics == {"test_accuracy": 0.9, "params": 10, "ece": None}  # merged; NaN stored as null
    assert run.curves == [{"epoch": 1, "loss": 0.5}] and run.checkpoint == "/ckpt"
    assert run.config == {"lr": 0.003, "epochs": 2}
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_filters_sessions_and_delete(store):
    a = store.start_run("teacher", dataset="mnist-sample", arch="teacher-cnn", session="alice")
    b = store.start_run("hard", dataset="mnist-sample", arch="student-mlp", session="bob")
    c = store.start_run("distilled", dataset="fashion-mnist", arch="student-mlp", session="alice")
    assert [r.id for r in store.list_runs()] == [c, b, a]  # newest first
    assert [r.id for r in store.list_runs(session="alice")] == [c, a]
    assert [r.id for r in store.list_runs(arch="student-mlp", dataset="mnist-sample")] == [b]
    assert [r.id for r in store.list_runs(ids=[a, c])] == [c, a] and store.list_runs(ids=[]) == []
    assert not store.delete_run(b, session="alice")  # not alice's run
    assert store.delete_run(b, session="bob")
    assert [r.id for r in store.list_runs()] == [c, a]
    assert not store.delete_run(b)


def test_concurrent_writers_lose_nothing(tmp_path):
    path = tmp_path / "runs.sqlite3"
    RunStore(path)
    writer = f"""
store = RunStore({str(path)!r})
for i in range(15):
    run = store.start_run("hard", {{"writer": int(sys.argv[1]), "i": i}}, session=sys.argv[1])
    for epoch in range(3):
        store.update_run(run, curves=[{{"epoch": e}} for e in range(epoch + 1)], metrics={{"epoch": epoch}})
    store.finish_run(run, "finished", metrics={{"test_accuracy": i / 100}})
"""
    procs = [subprocess.Popen([sys.executable, "-c", PRELUDE + writer, str(w)]) for w in range(4)]
    # Threads of this process write at the same time.
    errors = []

    def thread_writer(name):
        try:
            local = RunStore(path)
            for i in range(10):
                run = local.start_run("distilled", {"i": i}, session=name)
                local.finish_run(run, "stopped", curves=[{"epoch": 1}])
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)
    threads = [threading.Thread(target=thread_writer, args=(f"t{k}",)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert [p.wait(120) for p in procs] == [0, 0, 0, 0]
    assert errors == []
    store = RunStore(path)
    every = store.list_runs()
    assert len(every) == 4 * 15 + 3 * 10
    for w in range(4):
        mine = store.list_runs(session=str(w))
        assert sorted(r.config["i"] for r in mine) == list(range(15))
        assert all(r.status == "finished" and len(r.curves) == 3 and r.metrics["epoch"] == 2 for r in mine)
    assert all(len(store.list_runs(session=f"t{k}", status="stopped")) == 10 for k in range(3))


def test_a_killed_process_leaves_an_incomplete_run_and_a_live_one_is_left_alone(tmp_path):
    path = tmp_path / "runs.sqlite3"
    RunStore(path)
    worker = f"""
store = RunStore({str(path)!r})
run = store.start_run("teacher", {{"epochs": 10}})
store.update_run(run, curves=[{{"epoch": 1, "loss": 1.0}}])
print(run, flush=True)
import time; time.sleep(300)
"""
    crashing, living = python(worker), python(worker)
    try:
        crashed_id, live_id = int(crashing.stdout.readline()), int(living.stdout.readline())
        crashing.send_signal(signal.SIGKILL)
        crashing.wait(30)
        # The next start of the app / CLI:
        store = RunStore(path)
        assert store.mark_incomplete_on_start() == [crashed_id]
        crashed = store.get_run(crashed_id)
        assert crashed.status == "incomplete" and "ended without finishing" in crashed.message
        assert crashed.curves == [{"epoch": 1, "loss": 1.0}]  # what it recorded is kept
        assert store.get_run(live_id).status == "running"
    finally:
        living.kill()
        living.wait(30)
    assert runs.open_store(path) is runs.open_store(path)  # recovery ran on first open
    assert store.get_run(live_id).status == "incomplete"


def test_a_reused_pid_does_not_keep_a_dead_run_alive(store):
    """After a restart the same pid may belong to another process: the start-time marker tells."""
    mine = store.start_run("teacher")
    ghost = store.start_run("teacher")
    with sqlite3.connect(store.path) as conn:
        conn.execute("UPDATE runs SET process_marker = 'another-boot:123' WHERE id = ?", (ghost,))
    assert store.mark_incomplete_on_start() == [ghost]
    assert store.get_run(mine).status == "running"


def test_migration_from_version_1_keeps_every_run(tmp_path):
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    assert migrate(conn, target=1) == 1
    for i in range(5):
        conn.execute("INSERT INTO runs (kind, status, config, metrics, checkpoint, started_at, finished_at) "
                     "VALUES ('teacher', 'finished', ?, ?, ?, ?, ?)",
                     (json.dumps({"dataset": "mnist-sample", "arch": "teacher-cnn", "seed": i}),
                      json.dumps({"test_accuracy": 0.9 + i / 100}), f"/ckpt/{i}", 1000.0 + i, 1010.0 + i))
    conn.execute("INSERT INTO runs (kind, status, config, started_at) VALUES ('hard', 'running', 'not json', 5)")
    conn.close()

    store = RunStore(path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] == runs.SCHEMA_VERSION
    old = store.list_runs(kind="teacher")
    assert len(old) == 5 and len(store.list_runs()) == 6
    assert sorted(r.config["seed"] for r in old) == list(range(5))
    assert all(r.dataset == "mnist-sample" and r.arch == "teacher-cnn" and r.curves == [] for r in old)
    assert old[0].metrics["test_accuracy"] == pytest.approx(0.94) and old[0].updated_at == 1014.0
    # A run that was "running" in the old file, with no process recorded, is recovered too.
    (hard,) = store.list_runs(kind="hard")
    assert hard.config == {}  # a damaged field reads as empty instead of breaking the list
    assert store.mark_incomplete_on_start() == [hard.id]
    RunStore(path)  # opening a current database again changes nothing
    assert len(store.list_runs()) == 6


def test_a_newer_or_damaged_history_is_refused_and_left_untouched(tmp_path):
    newer = tmp_path / "newer.sqlite3"
    with sqlite3.connect(newer) as conn:
        conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        conn.execute("INSERT INTO schema_version VALUES (99)")
    with pytest.raises(HistoryError, match="newer version of the lab"):
        RunStore(newer)
    damaged = tmp_path / "damaged.sqlite3"
    damaged.write_bytes(b"this is not a database" * 100)
    with pytest.raises(HistoryError, match="Move the file away"):
        RunStore(damaged)
    assert damaged.read_bytes() == b"this is not a database" * 100


def _events(final: str, model=None):
    yield Event("start", 1, 0, 4)
    yield Event("epoch", 1, 2, 4, loss=0.7, train_accuracy=0.6, test_accuracy=0.5, seconds=1.0)
    if final == "crash":
        raise RuntimeError("out of memory")
    result = TrainResult(model, final, {"test_accuracy": 0.8, "seconds": 2.0}, [{"step": 4, "loss": 0.3}],
                         "Lower the learning rate." if final == "diverged" else "")
    yield Event(final, 2, 4, 4, result=result)


@pytest.mark.parametrize("final,status", [("finished", "finished"), ("stopped", "stopped"), ("diverged", "failed"),
                                          ("crash", "failed")])
def test_recorder_follows_a_training_stream(store, final, status):
    with pytest.raises(RuntimeError) if final == "crash" else _nothing():
        with store.recording("teacher", {"epochs": 2}, dataset="mnist-sample", session="s") as rec:
            seen = []
            for event in rec.watch(_events(final)):
                seen.append(event.kind)
                if event.kind == "epoch":  # stored while the run goes on
                    assert store.get_run(rec.run_id).curves[0]["test_accuracy"] == 0.5
    (run,) = store.list_runs(session="s")
    assert run.status == status
    if final == "crash":
        assert run.message == "out of memory" and len(run.curves) == 1
    else:
        assert run.curves == [{"step": 4, "loss": 0.3}] and run.metrics["test_accuracy"] == 0.8
    if final == "diverged":
        assert "learning rate" in run.message


def test_recorder_without_events_records_nothing(store):
    with store.recording("distilled") as rec:
        list(rec.watch(iter(())))
    assert store.list_runs() == []


def test_recorded_stream_closed_early_is_stopped(store):
    stream = runs.recorded(store, _events("finished"), "hard", {"alpha": 0.9}, session="tab")
    assert next(stream).kind == "start"
    stream.close()  # the page went away mid-run
    (run,) = store.list_runs(session="tab")
    assert run.status == "stopped" and run.config == {"alpha": 0.9}
    assert [e.kind for e in runs.recorded(store, _events("finished"), "hard")] == ["start", "epoch", "finished"]
    assert store.list_runs(status="finished")[0].kind == "hard"


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_finish_run_writes_metrics_and_status_in_one_transaction(tmp_path, monkeypatch):
    """A reader never sees a run 'finished' without its metrics: one write transaction closes it."""
    store = RunStore(tmp_path / "runs.sqlite3")
    run_id = store.start_run("teacher", {}, dataset="mnist-sample")
    writes = []
    real = RunStore._write

    def counting(self):
        writes.append(1)
        return real(self)

    monkeypatch.setattr(RunStore, "_write", counting)
    store.finish_run(run_id, "finished", metrics={"test_accuracy": 0.9}, curves=[{"step": 1}])
    assert len(writes) == 1
    run = store.get_run(run_id)
    assert (run.status, run.metrics, run.curves) == ("finished", {"test_accuracy": 0.9}, [{"step": 1}])
    assert run.finished_at is not None and run.finished_at == run.updated_at


def test_a_page_of_runs_with_filters_counts_and_choices(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite3")
    ids = [store.start_run("hard", {}, dataset=("mnist-sample" if i % 3 else "mnist"), arch="student-mlp",
                           session="s") for i in range(25)]
    store.update_run(ids[0], curves=[{"step": 1, "loss": 2.0}])
    newest_first = ids[::-1]
    page = store.list_runs(session="s", limit=10, offset=10, curves=False)
    assert [r.id for r in page] == newest_first[10:20] and all(r.curves == [] for r in page)
    assert store.list_runs(ids=[ids[0]])[0].curves == [{"step": 1, "loss": 2.0}]  # curves when asked
    mnist = [i for n, i in enumerate(ids) if n % 3 == 0]
    assert store.count_runs(session="s") == 25 and store.count_runs(dataset="mnist") == len(mnist)
    assert [r.id for r in store.list_runs(dataset=["mnist"], limit=100)] == mnist[::-1]
    assert store.count_runs(dataset=["mnist", "mnist-sample"]) == 25 and store.count_runs(dataset=[]) == 0
    assert store.distinct("dataset", session="s") == ["mnist", "mnist-sample"]
