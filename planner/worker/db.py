"""The worker's SQLite state database (operations, metadata, permissions, temp files, the rows of
tree operations): one connection, WAL mode, schema created on open; a file that cannot be used
is refused at open with what is wrong and what to do (docs/worker.md, "A damaged worker.db")."""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
from collections.abc import Sequence
from pathlib import Path

from planner.api.names import escape_name, unescape_name
from planner.errors import UsageError
from planner.worker.paths import is_root_key

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
-- `GET /operations?limit=N[&after=ID]`: newest top-level operations, everyone's or one user's,
-- read straight off an index (no scan, no sort: see OperationStore.recent)
DROP INDEX IF EXISTS operations_recent;
CREATE INDEX IF NOT EXISTS operations_top ON operations (parent, queued_at, id);
CREATE INDEX IF NOT EXISTS operations_top_by_user ON operations (user_id, parent, queued_at, id);
-- start-up recovery (finished = 0) and pruning (finished = 1 AND ended_at < cutoff)
DROP INDEX IF EXISTS operations_unfinished;
CREATE INDEX IF NOT EXISTS operations_finished ON operations (finished, ended_at);
CREATE TABLE IF NOT EXISTS metadata (
    key TEXT PRIMARY KEY,
    size INTEGER,
    mtime_ns INTEGER,
    ctime_ns INTEGER,  -- of the file the checksum was computed from (NULL: never trusted)
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
-- the per-path rows of tree operations (tree_rows.py), kept and deleted with their operation
CREATE TABLE IF NOT EXISTS tree_rows (
    operation TEXT NOT NULL,  -- the id of the item's group (its own id for a single tree)
    item INTEGER NOT NULL,  -- the item's index in the group
    seq INTEGER NOT NULL,  -- walk order
    path TEXT NOT NULL,
    kind TEXT NOT NULL,
    size INTEGER NOT NULL,
    reason TEXT,
    state TEXT NOT NULL,
    checksum TEXT,
    code INTEGER,
    error TEXT,
    PRIMARY KEY (operation, item, seq)
) WITHOUT ROWID;
"""


class StateDB:
    """A thread-safe wrapper of one SQLite connection (writes are small and serialised)."""

    def __init__(self, path: Path) -> None:
        """Open (or create) the database and check it.

        Raises:
            UsageError: the file is not a usable SQLite database (damaged, not a database, a
                directory, unreadable, in use); the message names the file and what to do.
        """
        self.path = path
        self.lock = threading.RLock()
        self.conn = open_database(path)

    def execute(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        """Run one statement and return its rows."""
        with self.lock:
            return self.conn.execute(sql, params).fetchall()

    def executemany(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        """Run one statement for many rows in one transaction."""
        self.write([(sql, rows)])

    def write(self, statements: Sequence[tuple[str, Sequence[Sequence[object]]]]) -> None:
        """Run each statement for its rows, all in one transaction."""
        statements = [(sql, rows) for sql, rows in statements if rows]
        if not statements:
            return
        with self.lock:
            self.conn.execute("BEGIN")
            try:
                for sql, rows in statements:
                    self.conn.executemany(sql, rows)
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def close(self) -> None:
        with self.lock:
            self.conn.close()


SQLITE_HEADER = b"SQLite format 3\x00"
_MOVE_ASIDE = (
    "move it aside (`mv {path} {path}.damaged`) and start the worker again: it creates a new, "
    "empty database (operation history, metadata and permissions start empty; nothing under "
    "the storage roots is touched)"
)


def open_database(path: Path) -> sqlite3.Connection:
    """A connection to the state database at `path` (created when missing), checked with
    SQLite's `quick_check` (it reads every page once: a damaged file fails now, at start-up,
    rather than as 500s later), with the schema in place.

    Raises:
        UsageError: what is wrong with the file, and what to do about it.
    """
    _check_file(path)
    conn: sqlite3.Connection | None = None
    try:
        conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        verdict = [str(row[0]) for row in conn.execute("PRAGMA quick_check(5)")]
        if verdict != ["ok"]:
            found = [
                line
                for row in verdict
                for line in row.splitlines()
                if line.strip() and not line.startswith("***")  # `*** in database main ***`
            ]
            first = found[0] if found else "failed"
            raise _refused(path, f"is damaged (SQLite's integrity check: {first})")
        conn.executescript(SCHEMA)
        _migrate(conn)
    except sqlite3.Error as exc:
        if conn is not None:
            conn.close()
        raise database_refusal(path, exc) from exc
    except UsageError:
        if conn is not None:
            conn.close()
        raise
    return conn


def _migrate(conn: sqlite3.Connection) -> None:
    """Bring a database written by an older worker to the current schema: `metadata.ctime_ns`
    (rows recorded without it hold NULL, so their checksums are computed again when asked)."""
    columns = {str(row[1]) for row in conn.execute("PRAGMA table_info(metadata)")}
    if "ctime_ns" not in columns:
        conn.execute("ALTER TABLE metadata ADD COLUMN ctime_ns INTEGER")


def _check_file(path: Path) -> None:
    """What can be said before SQLite opens the file: its kind, its access, its first bytes."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(
            f"worker state directory {path.parent} cannot be created: {exc.strerror}"
        ) from exc
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return  # a new database
    except OSError as exc:
        raise UsageError(f"worker database {path} cannot be examined: {exc.strerror}") from exc
    if stat.S_ISDIR(info.st_mode):
        raise _refused(path, "is a directory, not a database file")
    if not stat.S_ISREG(info.st_mode):
        raise _refused(path, "is not a regular file")
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except OSError as exc:
        raise UsageError(
            f"worker database {path} cannot be opened for reading and writing "
            f"({exc.strerror}): give the worker's user read and write access to it, or "
            + _MOVE_ASIDE.format(path=path)
        ) from exc
    try:
        head = os.read(descriptor, len(SQLITE_HEADER))
    finally:
        os.close(descriptor)
    if head and head != SQLITE_HEADER:
        raise _refused(path, "is not an SQLite database (its first bytes are not an SQLite header)")


def database_refusal(path: Path, exc: sqlite3.Error) -> UsageError:
    """The error for a database SQLite refuses at start-up: what is wrong, what to do."""
    name = getattr(exc, "sqlite_errorname", "")
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return UsageError(
            f"worker database {path} is in use by another process (another worker on the same "
            "--state-dir?): stop it, or give this worker its own --state-dir"
        )
    if name.startswith(("SQLITE_CANTOPEN", "SQLITE_READONLY", "SQLITE_PERM", "SQLITE_AUTH")):
        return UsageError(
            f"worker database {path} cannot be opened for writing ({exc}): check the access "
            f"rights of {path.parent} and of the files in it"
        )
    if name.startswith("SQLITE_NOTADB"):
        return _refused(path, "is not an SQLite database")
    return _refused(path, f"is damaged ({exc})")


def _refused(path: Path, what: str) -> UsageError:
    return UsageError(f"worker database {path} {what}: " + _MOVE_ASIDE.format(path=path))


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
        directory = path[: path.rfind("/")] or "/"  # os.path.dirname of an absolute path
        if directory in self.known:
            return
        with self.lock:
            if directory not in self.known:
                # escaped: a directory name need not be valid UTF-8 (planner/api/names.py)
                self.db.execute(
                    "INSERT OR IGNORE INTO temp_files (path) VALUES (?)", (escape_name(directory),)
                )
                self.known.add(directory)

    def discard(self, path: str) -> None:
        """Nothing to do: directories stay recorded until the next start-up."""

    def leftovers(self) -> list[str]:
        from planner.worker.fileops import is_temp_name

        found = []
        for (directory,) in self.db.execute("SELECT path FROM temp_files"):
            folder = unescape_name(str(directory))
            try:
                # names, not DirEntry objects: a directory a tree was copied into holds its
                # thousands of files, and only names starting with a dot can be ours
                names = os.listdir(folder)
            except OSError:
                continue  # the directory is gone, and its temporary files with it
            found += [os.path.join(folder, n) for n in names if n[0] == "." and is_temp_name(n)]
        with self.lock:
            self.db.execute("DELETE FROM temp_files")
            self.known.clear()
        return found


def below_clause(column: str, top: str) -> tuple[str, tuple[object, ...]]:
    """SQL condition (and parameters) for rows whose `column` is the resource key `top` or a
    key below it. A range of the binary collation, not LIKE: LIKE ignores the case of ASCII
    letters, and `alice/%` would take `ALICE/x` too."""
    if top == "":
        return "1", ()
    prefix = top if is_root_key(top) else top + "/"
    # every string that starts with `prefix` sorts in [prefix, prefix with its last char + 1)
    end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return f"({column} = ? OR ({column} >= ? AND {column} < ?))", (top, prefix, end)
