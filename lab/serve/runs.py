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

Why it holds when a class uses it at once:
- WAL mode: readers never block the writer; every write is one short `BEGIN IMMEDIATE`
  transaction, so a row is either fully written or not at all, and a busy database is
  waited for (busy_timeout) rather than reported as "locked".
- A run's row stores the pid and the start time of the process that writes it (and the
  boot id). `mark_incomplete_on_start()` turns rows left "running" by a process that no
  longer exists into "incomplete"; a live run in another process is left alone.
- The schema has a version; `MIGRATIONS[n]` upgrades version n-1 to n in one transaction.
  Nothing is ever dropped: an old database keeps every run.
"""
from __future__ import annotations

import contextlib
import getpass
import json
import math
import os
import socket
import sqlite3
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

from ..errors import LabError

STATUSES = ("running", "finished", "stopped", "failed", "incomplete")
# The training engine's final events -> a run's status (a diverged run failed, with a message).
EVENT_STATUS = {"finished": "finished", "stopped": "stopped", "diverged": "failed"}
BUSY_TIMEOUT_S = 30.0
STALE_OTHER_HOST_S = 6 * 3600  # a "running" row from another machine, silent this long, is incomplete


class HistoryError(LabError):
    """The run history file cannot be opened or written."""


# ---------------------------------------------------------------- schema and migrations

MIGRATIONS: dict[int, list[str]] = {
    # Version 1: the first release kept the essentials only.
    1: ["""CREATE TABLE runs (
             id INTEGER PRIMARY KEY AUTOINCREMENT,
             kind TEXT NOT NULL,
             status TEXT NOT NULL,
             config TEXT NOT NULL DEFAULT '{}',
             metrics TEXT NOT NULL DEFAULT '{}',
             checkpoint TEXT,
             started_at REAL NOT NULL,
             finished_at REAL)"""],
    # Version 2: curves, who ran it (session/owner), which process (for crash recovery),
    # grouping (the two students of a pair, a sweep), and searchable dataset/arch columns.
    2: ["ALTER TABLE runs ADD COLUMN dataset TEXT",
        "ALTER TABLE runs ADD COLUMN arch TEXT",
        "ALTER TABLE runs ADD COLUMN name TEXT",
        "ALTER TABLE runs ADD COLUMN group_id TEXT",
        "ALTER TABLE runs ADD COLUMN curves TEXT NOT NULL DEFAULT '[]'",
        "ALTER TABLE runs ADD COLUMN message TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE runs ADD COLUMN updated_at REAL",
        "ALTER TABLE runs ADD COLUMN session TEXT",
        "ALTER TABLE runs ADD COLUMN owner TEXT",
        "ALTER TABLE runs ADD COLUMN host TEXT",
        "ALTER TABLE runs ADD COLUMN pid INTEGER",
        "ALTER TABLE runs ADD COLUMN process_marker TEXT",
        # Old rows: fill the new columns from what version 1 stored.
        "UPDATE runs SET dataset = json_extract(config, '$.dataset') WHERE json_valid(config)",
        "UPDATE runs SET arch = json_extract(config, '$.arch') WHERE json_valid(config)",
        "UPDATE runs SET updated_at = COALESCE(finished_at, started_at)",
        "CREATE INDEX runs_session ON runs (session, started_at)",
        "CREATE INDEX runs_status ON runs (status)"],
}
SCHEMA_VERSION = max(MIGRATIONS)


def migrate(conn: sqlite3.Connection, target: int = SCHEMA_VERSION) -> int:
    """Bring the database up to `target`, one version per transaction; returns the version."""
    conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    version = row[0] or 0
    if version > SCHEMA_VERSION:
        raise HistoryError(f"The run history was written by a newer version of the lab (schema {version}, "
                           f"this lab knows {SCHEMA_VERSION}). Update the lab, or set LAB_RUNS_DB to another file.")
    while version < target:
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Re-read inside the write lock: another process may have migrated meanwhile.
            version = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] or 0
            if version < target:
                for statement in MIGRATIONS[version + 1]:
                    conn.execute(statement)
                version += 1
                conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return version


# ---------------------------------------------------------------- which process is this

def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def process_marker(pid: int) -> str | None:
    """Something that identifies *this incarnation* of process `pid`: the boot id and the
    process start time (Linux /proc). A pid reused after a crash or reboot gets another
    marker. None where it cannot be told (the pid alone is then trusted)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22 is the start time in clock ticks since boot; the command name (field 2) may
    # hold spaces, so count fields after its closing parenthesis.
    fields = stat[stat.rindex(")") + 2:].split()
    return f"{_boot_id()}:{fields[19]}"


def process_alive(pid: int | None, marker: str | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    except OSError:
        return False
    if marker is None:
        return True
    current = process_marker(pid)
    return current is None or current == marker


# ---------------------------------------------------------------- the store

@dataclass
class Run:
    id: int
    kind: str              # "teacher" | "hard" | "distilled" | "sweep" | ...
    status: str            # one of STATUSES
    config: dict
    metrics: dict
    curves: list
    checkpoint: str | None
    dataset: str | None
    arch: str | None
    name: str | None
    group_id: str | None
    message: str
    started_at: float
    updated_at: float | None
    finished_at: float | None
    session: str | None
    owner: str | None
    host: str | None
    pid: int | None

    def as_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> dict:
        """One flat row for a table (no curves, no config)."""
        return {"id": self.id, "kind": self.kind, "status": self.status, "dataset": self.dataset,
                "arch": self.arch, "name": self.name, "test_accuracy": self.metrics.get("test_accuracy"),
                "params": self.metrics.get("params"), "started_at": self.started_at,
                "seconds": (self.finished_at or self.updated_at or self.started_at) - self.started_at,
                "session": self.session, "owner": self.owner, "checkpoint": self.checkpoint}


def _json(value) -> str:
    def finite(v):  # JSON has no NaN: store null
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {str(k): finite(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [finite(x) for x in v]
        return v
    return json.dumps(finite(value), default=str)


def default_path() -> Path:
    """$LAB_RUNS_DB, else runs.sqlite3 in the lab's data folder ($LAB_DATA_DIR)."""
    if os.environ.get("LAB_RUNS_DB"):
        return Path(os.environ["LAB_RUNS_DB"]).expanduser()
    from ..data import data_dir
    return data_dir() / "runs.sqlite3"


class RunStore:
    """The run history in one SQLite file. Safe to share between threads and processes:
    every call opens its own short-lived connection."""

    def __init__(self, path: Path | str | None = None):
        self.path = Path(path) if path is not None else default_path()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect() as conn:
                conn.execute("PRAGMA journal_mode=WAL")
                migrate(conn)
        except sqlite3.DatabaseError as e:
            raise HistoryError(f"The run history {self.path} cannot be used ({e}). Move the file away "
                               "(a fresh history will be started) or set LAB_RUNS_DB to another file.") from None
        except OSError as e:
            raise HistoryError(f"Cannot create the run history {self.path} ({e}). "
                               "Set LAB_RUNS_DB to a writable file.") from None

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA synchronous=NORMAL")  # with WAL: durable at checkpoints, never corrupt
            yield conn
        finally:
            conn.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One transaction, taking the write lock up front (no lock upgrade, no deadlock)."""
        try:
            with self._connect() as conn:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
        except sqlite3.OperationalError as e:
            raise HistoryError(f"Could not write to the run history {self.path} ({e}). "
                               "Try again; if it persists, check the disk.") from None

    # -- writing

    def start_run(self, kind: str, config: dict | None = None, *, dataset: str | None = None,
                  arch: str | None = None, name: str | None = None, group_id: str | None = None,
                  session: str | None = None, owner: str | None = None) -> int:
        now = time.time()
        pid = os.getpid()
        with self._write() as conn:
            cursor = conn.execute(
                "INSERT INTO runs (kind, status, config, metrics, curves, dataset, arch, name, group_id, "
                "started_at, updated_at, session, owner, host, pid, process_marker) "
                "VALUES (?, 'running', ?, '{}', '[]', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (kind, _json(config or {}), dataset, arch, name, group_id, now, now, session, owner,
                 socket.gethostname(), pid, process_marker(pid)))
            return cursor.lastrowid

    def update_run(self, run_id: int, *, metrics: dict | None = None, curves: list | None = None,
                   checkpoint: str | None = None, message: str | None = None) -> None:
        """Store progress so far (metrics are merged into what is stored); also a heartbeat."""
        with self._write() as conn:
            self._update(conn, run_id, metrics, curves, checkpoint, message)

    @staticmethod
    def _update(conn, run_id, metrics, curves, checkpoint, message, status: str | None = None) -> None:
        row = conn.execute("SELECT metrics FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            return  # deleted meanwhile: nothing to update
        merged = {**_loads(row["metrics"], {}), **(metrics or {})}
        now = time.time()
        conn.execute("UPDATE runs SET metrics = ?, curves = COALESCE(?, curves), "
                     "checkpoint = COALESCE(?, checkpoint), message = COALESCE(?, message), "
                     "status = COALESCE(?, status), finished_at = CASE WHEN ? IS NULL THEN finished_at ELSE ? END, "
                     "updated_at = ? WHERE id = ?",
                     (_json(merged), None if curves is None else _json(curves), checkpoint, message,
                      status, status, now, now, run_id))

    def finish_run(self, run_id: int, status: str, *, metrics: dict | None = None, curves: list | None = None,
                   checkpoint: str | None = None, message: str | None = None) -> None:
        """Close a run: its final metrics and its status in ONE transaction (a reader never sees a
        finished run without its numbers, and a crash between the two cannot happen)."""
        assert status in STATUSES and status != "running", status
        with self._write() as conn:
            self._update(conn, run_id, metrics, curves, checkpoint, message, status)

    def delete_run(self, run_id: int, *, session: str | None = None) -> bool:
        """Delete one run (only if it belongs to `session`, when given). Its checkpoint files stay."""
        with self._write() as conn:
            if session is None:
                cursor = conn.execute("DELETE FROM runs WHERE id = ?", (run_id,))
            else:
                cursor = conn.execute("DELETE FROM runs WHERE id = ? AND session = ?", (run_id, session))
            return cursor.rowcount > 0

    def mark_incomplete_on_start(self) -> list[int]:
        """Runs left "running" by a process that has died (a crash, a server restart) become
        "incomplete". Returns their ids. Runs of live processes are left alone."""
        host, now = socket.gethostname(), time.time()
        with self._write() as conn:
            rows = conn.execute("SELECT id, host, pid, process_marker, updated_at FROM runs "
                                "WHERE status = 'running'").fetchall()
            dead = [r["id"] for r in rows
                    if (r["host"] == host and not process_alive(r["pid"], r["process_marker"]))
                    or (r["host"] != host and now - (r["updated_at"] or 0) > STALE_OTHER_HOST_S)]
            for run_id in dead:
                conn.execute("UPDATE runs SET status = 'incomplete', updated_at = ?, message = CASE "
                             "WHEN message = '' THEN 'The process running it ended without finishing "
                             "(a crash or a restart).' ELSE message END WHERE id = ?", (now, run_id))
        return dead

    # -- reading

    def get_run(self, run_id: int) -> Run | None:
        with self._connect() as conn:
            row = conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        return _run(row) if row else None

    FILTERS = ("session", "owner", "dataset", "arch", "kind", "status", "group_id")

    @classmethod
    def _where(cls, filters: dict, ids: list[int] | None = None, kinds: tuple[str, ...] | None = None,
               since: float | None = None) -> tuple[str, list]:
        """SQL for "every filter given": a value, or a list/tuple of allowed values."""
        where, params = [], []
        if kinds is not None:
            where.append(f"kind IN ({', '.join('?' * len(kinds))})" if kinds else "0")
            params.extend(kinds)
        if since is not None:
            where.append("started_at >= ?")
            params.append(float(since))
        for column in cls.FILTERS:
            value = filters.get(column)
            if value is None:
                continue
            if isinstance(value, (list, tuple, set)):
                values = list(value)
                where.append(f"{column} IN ({', '.join('?' * len(values))})" if values else "0")
                params.extend(values)
            else:
                where.append(f"{column} = ?")
                params.append(value)
        if ids is not None:
            where.append(f"id IN ({', '.join('?' * len(ids))})" if ids else "0")
            params.extend(ids)
        return (" WHERE " + " AND ".join(where) if where else ""), params

    def list_runs(self, *, ids: list[int] | None = None, limit: int | None = None, offset: int = 0,
                  kinds: tuple[str, ...] | None = None, since: float | None = None, curves: bool = True,
                  **filters) -> list[Run]:
        """Runs matching every filter given (session, owner, dataset, arch, kind, status, group_id:
        a value or a list of values), newest first. `kinds`: any of these kinds; `since`: started at or
        after this UNIX time. `limit`/`offset`: one page of them; `curves=False` leaves the curves
        unread (empty), the bulk of a row, for a table."""
        unknown = set(filters) - set(self.FILTERS)
        assert not unknown, unknown
        where, params = self._where(filters, ids, kinds, since)
        columns = "*" if curves else ", ".join(_COLUMNS_BUT_CURVES)
        sql = f"SELECT {columns} FROM runs{where} ORDER BY id DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)} OFFSET {int(offset)}"
        with self._connect() as conn:
            return [_run(row, curves) for row in conn.execute(sql, params)]

    def count_runs(self, kinds: tuple[str, ...] | None = None, since: float | None = None, **filters) -> int:
        """How many runs match (for "runs 1-100 of N")."""
        where, params = self._where(filters, None, kinds, since)
        with self._connect() as conn:
            return conn.execute(f"SELECT COUNT(*) FROM runs{where}", params).fetchone()[0]

    def distinct(self, column: str, **filters) -> list:
        """The values of one column among the matching runs (a filter's choices), sorted."""
        assert column in self.FILTERS, column
        where, params = self._where(filters)
        with self._connect() as conn:
            rows = conn.execute(f"SELECT DISTINCT {column} FROM runs{where}", params).fetchall()
        return sorted(r[0] for r in rows if r[0] is not None)

    def recording(self, kind: str, config: dict | None = None, **fields) -> "Recorder":
        return Recorder(self, kind, config, fields)


# What _run() reads, less the curves (a row's bulk: one point per step).
_COLUMNS_BUT_CURVES = ("id", "kind", "status", "config", "metrics", "checkpoint", "dataset", "arch", "name",
                       "group_id", "message", "started_at", "updated_at", "finished_at", "session", "owner",
                       "host", "pid")


def _loads(text, empty):
    """A damaged JSON field (e.g. written by hand into an old file) reads as empty, not as a crash."""
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return empty
    return value if isinstance(value, type(empty)) else empty


# What _run() reads, less the curves (a row's bulk: one point per step).
_COLUMNS_BUT_CURVES = ("id", "kind", "status", "config", "metrics", "checkpoint", "dataset", "arch", "name",
                       "group_id", "message", "started_at", "updated_at", "finished_at", "session", "owner",
                       "host", "pid")


def _run(row: sqlite3.Row, curves: bool = True) -> Run:
    return Run(id=row["id"], kind=row["kind"], status=row["status"], config=_loads(row["config"], {}),
               metrics=_loads(row["metrics"], {}), curves=_loads(row["curves"], []) if curves else [],
               checkpoint=row["checkpoint"],
               dataset=row["dataset"], arch=row["arch"], name=row["name"], group_id=row["group_id"],
               message=row["message"], started_at=row["started_at"], updated_at=row["updated_at"],
               finished_at=row["finished_at"], session=row["session"], owner=row["owner"], host=row["host"],
               pid=row["pid"])


class Recorder:
    """Follows one training generator into the history: the row is created at the first
    event, curves are stored at each epoch, and the row is closed when the block ends:
    with the last event's status, or "failed" / "stopped" if an error or Ctrl-C escapes."""

    def __init__(self, store: RunStore, kind: str, config: dict | None, fields: dict):
        self.store, self.kind, self.config, self.fields = store, kind, config, fields
        self.run_id: int | None = None
        self.last = None
        self.points: list[dict] = []  # one per epoch, stored as the run goes
        self.closed = False

    def __enter__(self) -> "Recorder":
        return self

    def watch(self, events):
        for event in events:
            if self.run_id is None:
                self.run_id = self.store.start_run(self.kind, self.config, **self.fields)
            self.last = event
            if event.kind == "epoch":
                self.points.append({"epoch": event.epoch, "step": event.step, "loss": event.loss,
                                    "train_accuracy": event.train_accuracy, "test_accuracy": event.test_accuracy,
                                    "seconds": event.seconds})
                self.store.update_run(self.run_id, curves=self.points,
                                      metrics={"test_accuracy": event.test_accuracy})
            yield event

    def finish(self, status: str | None = None, **values) -> None:
        if self.run_id is None or self.closed:
            return
        if status is None:
            status = EVENT_STATUS.get(getattr(self.last, "kind", None), "failed")
        result = getattr(self.last, "result", None)
        if result is not None:
            values.setdefault("curves", result.history)
            values["metrics"] = {**result.metrics, **(values.get("metrics") or {})}
            if result.message:
                values.setdefault("message", result.message)
        self.store.finish_run(self.run_id, status, **values)
        self.closed = True

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.finish()
        elif issubclass(exc_type, (KeyboardInterrupt, GeneratorExit)):
            self.finish("stopped", message="Interrupted.")
        else:
            self.finish("failed", message=str(exc) or exc_type.__name__)


def recorded(store: RunStore, events, kind: str, config: dict | None = None, **fields):
    """`events`, passed through unchanged, recorded as one run (for a job-queue worker or a page):

        jobs.submit(lambda stop: recorded(store, train_teacher(ds, stop=stop), "teacher", cfg, session=sid))

    Closing the generator early (a closed tab) records the run as "stopped"."""
    with store.recording(kind, config, **fields) as rec:
        yield from rec.watch(events)


# ---------------------------------------------------------------- one store per process

_stores: dict[Path, RunStore] = {}


def open_store(path: Path | str | None = None, recover: bool = True) -> RunStore:
    """The run history at `path` (default: default_path()), migrated; on first open in this
    process, runs orphaned by a crashed process are marked incomplete."""
    path = Path(path) if path is not None else default_path()
    key = path.expanduser().absolute()
    if key not in _stores:
        store = RunStore(path)
        if recover:
            store.mark_incomplete_on_start()
        _stores[key] = store
    return _stores[key]


def new_session_id() -> str:
    return uuid.uuid4().hex[:12]


def cli_identity() -> dict:
    """session/owner for runs started from a terminal."""
    try:
        owner = getpass.getuser()
    except Exception:  # no user name (some containers)
        owner = None
    return {"session": f"cli-{os.getpid()}", "owner": owner}
