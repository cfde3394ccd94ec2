"""The run history's table and its versions: `MIGRATIONS[n]` upgrades version n-1 to n in one
transaction; nothing is ever dropped, so an old database keeps every run."""
from __future__ import annotations

import sqlite3

from ...errors import LabError

STATUSES = ("running", "finished", "stopped", "failed", "incomplete")


class HistoryError(LabError):
    """The run history file cannot be opened or written."""


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
