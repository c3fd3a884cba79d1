"""The worker's SQLite state database (operations, metadata, permissions, temp files): one
connection, WAL mode, schema created on open."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS operations (
    id TEXT PRIMARY KEY,
    parent TEXT,
    user_id TEXT,
    state TEXT NOT NULL,
    finished INTEGER NOT NULL DEFAULT 0,
    queued_at REAL NOT NULL,
    ended_at REAL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS operations_recent ON operations (user_id, parent, queued_at);
CREATE INDEX IF NOT EXISTS operations_unfinished ON operations (finished);
CREATE TABLE IF NOT EXISTS metadata (
    key TEXT PRIMARY KEY,
    size INTEGER,
    mtime_ns INTEGER,
    checksum TEXT,
    custom TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS grants (
    resource TEXT NOT NULL,
    subject_type TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    role TEXT NOT NULL,
    PRIMARY KEY (resource, subject_type, subject_id, role)
);
CREATE TABLE IF NOT EXISTS temp_files (path TEXT PRIMARY KEY);
"""


class StateDB:
    """A thread-safe wrapper of one SQLite connection (writes are small and serialised)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.lock = threading.RLock()
        self.conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.executescript(SCHEMA)

    def execute(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        """Run one statement and return its rows."""
        with self.lock:
            return self.conn.execute(sql, params).fetchall()

    def executemany(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        """Run one statement for many rows in one transaction."""
        if not rows:
            return
        with self.lock:
            self.conn.execute("BEGIN")
            try:
                self.conn.executemany(sql, rows)
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def close(self) -> None:
        with self.lock:
            self.conn.close()


class SqliteTempRegistry:
    """Where copies in flight write their temporary files, so a restarted worker deletes what a
    kill left. It records the *directories* (one row the first time a directory is written in,
    instead of two writes per file copied); at start-up, `leftovers` lists the temporary names
    (`.<name>.planner-tmp-<hex>`) found in them and forgets the directories."""

    def __init__(self, db: StateDB) -> None:
        self.db = db
        self.known: set[str] = set()
        self.lock = threading.Lock()

    def add(self, path: str) -> None:
        directory = os.path.dirname(path)
        if directory in self.known:
            return
        with self.lock:
            if directory not in self.known:
                self.db.execute("INSERT OR IGNORE INTO temp_files (path) VALUES (?)", (directory,))
                self.known.add(directory)

    def discard(self, path: str) -> None:
        """Nothing to do: directories stay recorded until the next start-up."""

    def leftovers(self) -> list[str]:
        from planner.worker.fileops import is_temp_name

        found = []
        for (directory,) in self.db.execute("SELECT path FROM temp_files"):
            try:
                with os.scandir(str(directory)) as entries:
                    found += [e.path for e in entries if is_temp_name(e.name)]
            except OSError:
                continue  # the directory is gone, and its temporary files with it
        with self.lock:
            self.db.execute("DELETE FROM temp_files")
            self.known.clear()
        return found


def below_clause(column: str, top: str) -> tuple[str, tuple[object, ...]]:
    """SQL condition (and parameters) for rows whose `column` is `top` or a path below it."""
    if top in ("", "/") or top.endswith(":") or top.endswith(":/"):
        return f"({column} = ? OR {column} LIKE ? ESCAPE '\\')", (top, _like_escape(top) + "%")
    return f"({column} = ? OR {column} LIKE ? ESCAPE '\\')", (top, _like_escape(top) + "/%")


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
