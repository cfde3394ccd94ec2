"""The run history in one SQLite file: writing a run (start, update, finish, delete), reading runs
back (filters, pages, counts), and one store per process (`open_store`).

Why it holds when a class uses it at once:
- WAL mode: readers never block the writer; every write is one short `BEGIN IMMEDIATE`
  transaction, so a row is either fully written or not at all, and a busy database is
  waited for (busy_timeout) rather than reported as "locked".
- A run's row stores the pid and the start time of the process that writes it (and the
  boot id). `mark_incomplete_on_start()` turns rows left "running" by a process that no
  longer exists into "incomplete"; a live run in another process is left alone.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import socket
import sqlite3
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

from .process import process_alive, process_marker
from .record import Recorder
from .schema import STATUSES, HistoryError, migrate

BUSY_TIMEOUT_S = 30.0
STALE_OTHER_HOST_S = 6 * 3600  # a "running" row from another machine, silent this long, is incomplete


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
    from ...data import data_dir
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

    def recording(self, kind: str, config: dict | None = None, **fields) -> Recorder:
        return Recorder(self, kind, config, fields)


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
