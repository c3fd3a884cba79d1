"""The run journal (PRODUCT.md section 3): runs, actions and file items in SQLite (`--state`,
default `.planner/state.db` beside the plan), the per-plan lock, resume, and what `planner runs`
reads. Every call is one short transaction on one WAL connection: a kill -9 loses only that call."""

from __future__ import annotations

import json
import os
import random
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from operator import attrgetter
from pathlib import Path
from typing import Any

from planner.errors import EXIT_INVALID, PlannerError
from planner.runner.results import (
    ActionResult,
    ActionState,
    Change,
    ItemRecord,
    ItemState,
    RunResult,
)

SCHEMA_VERSION = 1
_VERSION = str(SCHEMA_VERSION)  # as stored in meta
_META = "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, plan_key TEXT NOT NULL, plan_file TEXT NOT NULL,
    plan_name TEXT NOT NULL, digest TEXT NOT NULL, started_at REAL NOT NULL, ended_at REAL,
    interrupted INTEGER NOT NULL DEFAULT 0, result TEXT NOT NULL,
    resumed_from TEXT, superseded_by TEXT);
CREATE INDEX IF NOT EXISTS runs_by_plan ON runs (plan_key, started_at);
CREATE INDEX IF NOT EXISTS runs_by_start ON runs (started_at);
CREATE TABLE IF NOT EXISTS actions (
    run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE, position INTEGER NOT NULL,
    action_id TEXT NOT NULL, kind TEXT NOT NULL, state TEXT NOT NULL, change TEXT NOT NULL,
    attempts INTEGER NOT NULL, error TEXT NOT NULL, started_at REAL, ended_at REAL,
    files_done INTEGER NOT NULL, files_unchanged INTEGER NOT NULL, bytes_done INTEGER NOT NULL,
    detail TEXT NOT NULL, PRIMARY KEY (run_id, action_id));
CREATE TABLE IF NOT EXISTS items (
    run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE, action_id TEXT NOT NULL,
    key TEXT NOT NULL, kind TEXT NOT NULL, src TEXT NOT NULL, dst TEXT NOT NULL,
    size INTEGER NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL, error TEXT NOT NULL,
    checksum TEXT NOT NULL, started_at REAL, ended_at REAL, UNIQUE (run_id, action_id, key));
CREATE TABLE IF NOT EXISTS locks (plan_key TEXT PRIMARY KEY, pid INTEGER NOT NULL,
    host TEXT NOT NULL, started_at REAL NOT NULL, token TEXT NOT NULL);
"""
_ITEMS = (
    "action_id, key, kind, src, dst, size, state, attempts, error, checksum, started_at, ended_at"
)
_ACTIONS = (
    "action_id, kind, state, change, attempts, error, started_at, ended_at, files_done,"
    " files_unchanged, bytes_done, detail"
)


def _excluded(columns: str, key: str) -> str:
    """`SET column = excluded.column, ...` for every column outside the conflict key."""
    names = [c.strip() for c in columns.split(",") if c.strip() not in key.split()]
    return ", ".join(f"{c} = excluded.{c}" for c in names)


_SAVE_ITEM = (
    f"INSERT INTO items (run_id, {_ITEMS}) VALUES ({', '.join('?' * 13)})"
    f" ON CONFLICT (run_id, action_id, key) DO UPDATE SET {_excluded(_ITEMS, 'action_id key')}"
)
_SAVE_ACTION = (
    f"INSERT INTO actions (run_id, position, {_ACTIONS}) VALUES (?,"
    " (SELECT COALESCE(MAX(position) + 1, 0) FROM actions WHERE run_id = ?),"
    f" {', '.join('?' * 12)}) ON CONFLICT (run_id, action_id) DO UPDATE SET"
    f" {_excluded(_ACTIONS, 'action_id')}"
)
_UNFINISHED = (
    "SELECT run_id, digest, plan_file, plan_name FROM runs WHERE plan_key = ?"
    " AND result != 'succeeded' AND superseded_by IS NULL"
    " ORDER BY started_at DESC, rowid DESC LIMIT 1"
)
_SUMMARIES = """
SELECT r.run_id, r.plan_key, r.plan_file, r.plan_name, r.started_at, r.ended_at, r.result,
    r.resumed_from, r.superseded_by, COUNT(a.action_id), COALESCE(SUM(a.state = 'succeeded'), 0),
    COALESCE(SUM(a.state = 'failed'), 0), COALESCE(SUM(a.state = 'skipped'), 0),
    COALESCE(SUM(a.files_done), 0), COALESCE(SUM(a.files_unchanged), 0),
    COALESCE(SUM(a.bytes_done), 0)
FROM (SELECT rowid AS rid, * FROM runs {where} ORDER BY started_at DESC, rowid DESC LIMIT ?) r
LEFT JOIN actions a ON a.run_id = r.run_id GROUP BY r.run_id ORDER BY r.started_at DESC, r.rid DESC
"""

Row = tuple[Any, ...]  # a row as sqlite3 returns it
_HOST = socket.gethostname()
_HELD: set[str] = set()  # the lock tokens this process holds: tells our pid from a reused one
_ITEM_STATES = {s.value: s for s in ItemState}
# The columns above read off the objects (the enums are str: sqlite3 stores their values).
_item_fields = attrgetter(*_ITEMS.split(", "))
_action_fields = attrgetter("id", *_ACTIONS.split(", ")[1:-1])


class JournalError(PlannerError):
    """The journal refused or failed: the plan's lock is held, the plan changed since the run to
    resume, nothing to resume, an unknown run id, an unreadable database."""

    exit_code = EXIT_INVALID


@dataclass(frozen=True)
class RunCounts:
    """How a run's actions ended, and the files and bytes they handled."""

    actions: int
    succeeded: int
    failed: int
    skipped: int
    files_done: int
    files_unchanged: int
    bytes: int


@dataclass(frozen=True)
class RunSummary:
    """One line of `planner runs`. `result`: succeeded, failed or interrupted once finished;
    running while a live process holds the plan's lock; abandoned when it never finished and
    nothing runs it any more (killed)."""

    run_id: str
    plan_key: str
    plan_file: str
    plan_name: str
    started_at: float
    ended_at: float | None
    result: str
    resumed_from: str | None  # the run this one continued (`--resume`)
    superseded_by: str | None  # the later run of the plan that made this one not resumable
    counts: RunCounts

    @property
    def duration(self) -> float | None:
        return None if self.ended_at is None else max(0.0, self.ended_at - self.started_at)


class Journal:
    """The journal at one `--state` path. Call `start_run` and `resume` inside `lock(plan_key)`:
    the lock is what makes an unfinished run one that no live process still writes."""

    def __init__(
        self,
        path: Path,
        *,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        """Open the journal at `path`, creating it (and its directory) if needed.

        Raises:
            JournalError: it cannot be created, or is not a journal this planner reads.
        """
        self.path, self._clock, self._rng = path, clock, rng or random.Random()
        self._mutex = threading.RLock()
        self._closed = True
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            msg = f"cannot create the journal {path}: {exc.filename}: {exc.strerror}"
            raise JournalError(msg) from exc
        with self._translated("open"):
            self._conn = sqlite3.connect(path, 30, isolation_level=None, check_same_thread=False)
            self._closed = False
        try:
            version = self._migrate()
        except BaseException:
            self.close()
            raise
        if version != _VERSION:
            self.close()
            raise JournalError(
                f"cannot open the journal {path}: its schema version is {version}, this planner"
                f" reads version {SCHEMA_VERSION}"
            )

    def _migrate(self) -> str:
        """Create the schema unless the file is another version's journal; return its version."""
        with self._translated("open"):
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._conn.execute(_META)
        with self._write() as conn:
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (_VERSION,))
            (version,) = conn.execute(
                "SELECT value FROM meta WHERE key = 'schema_version'"
            ).fetchone()
        if version == _VERSION:
            with self._translated("open"):
                self._conn.executescript(_SCHEMA)  # idempotent; executescript commits by itself
        return str(version)

    def close(self) -> None:
        with self._mutex:
            if not self._closed:
                self._closed = True
                self._conn.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def lock(self, plan_key: str) -> Iterator[None]:
        """Hold the plan's lock for the block; a dead holder's lock (same host) is taken over, and
        a process that dies holding it leaves exactly such a stale lock.

        Raises:
            JournalError: a live process (this one included) holds it: names pid, host, start.
        """
        token = f"{self._rng.getrandbits(64):016x}"
        with self._write() as conn:
            row = conn.execute(
                "SELECT pid, host, started_at, token FROM locks WHERE plan_key = ?", (plan_key,)
            ).fetchone()
            if row is not None and _is_live_holder(*row):
                raise JournalError(
                    f"{plan_key} is already being run by process {row[0]} on host {row[1]} since"
                    f" {_local_time(row[2])} (lock in {self.path})"
                )
            conn.execute(
                "INSERT OR REPLACE INTO locks VALUES (?, ?, ?, ?, ?)",
                (plan_key, os.getpid(), _HOST, time.time(), token),  # real time: see _proc_stat
            )
        _HELD.add(token)
        try:
            yield
        finally:
            _HELD.discard(token)
            if not self._closed:
                with self._write() as conn:
                    conn.execute(
                        "DELETE FROM locks WHERE plan_key = ? AND token = ?", (plan_key, token)
                    )

    def start_run(
        self,
        plan_key: str,
        plan_file: str,
        plan_name: str,
        digest: str,
        actions: list[ActionResult],
    ) -> RunResult:
        """Record a new run (running) and its actions in plan order; the plan's earlier unfinished
        runs are superseded (no longer resumable). The returned run holds `actions` themselves."""
        started = self._clock()
        with self._write() as conn:
            run_id = self._insert_run(conn, (plan_key, plan_file, plan_name, digest), started, None)
            for action in actions:
                self._save_action(conn, run_id, action)
                self._save_items(conn, run_id, action.items)
        return RunResult(run_id, plan_file, plan_name, digest, started, actions=actions)

    def save_action(self, run_id: str, action: ActionResult) -> None:
        """Record an action: state, change, attempts, error, timings, counts, detail (not items)."""
        with self._write() as conn:
            self._save_action(conn, run_id, action)

    def save_items(self, run_id: str, items: Sequence[ItemRecord]) -> None:
        """Record items in one transaction, each keyed by its action id and key."""
        if items:
            with self._write() as conn:
                self._save_items(conn, run_id, items)

    def finish_run(self, run: RunResult) -> None:
        """Record a run's end: its action rows, ended_at (stamped on `run` when unset), interrupted
        and the result (interrupted, succeeded or failed)."""
        if run.ended_at is None:
            run.ended_at = self._clock()
        result = "interrupted" if run.interrupted else "succeeded" if run.is_success else "failed"
        with self._write() as conn:
            for action in run.actions:
                self._save_action(conn, run.run_id, action)
            conn.execute(
                "UPDATE runs SET ended_at = ?, interrupted = ?, result = ? WHERE run_id = ?",
                (run.ended_at, int(run.interrupted), result, run.run_id),
            )

    def resume(self, plan_key: str, digest: str) -> RunResult:
        """Start a new run that continues the plan's latest unfinished one (then superseded): its
        succeeded actions and its succeeded or unchanged items are carried over; every other
        action is pending again, its attempts kept.

        Raises:
            JournalError: the plan has no unfinished run, or its digest changed since.
        """
        with self._write() as conn:
            row = conn.execute(_UNFINISHED, (plan_key,)).fetchone()
            if row is None:
                raise JournalError(f"nothing to resume for {plan_key}: no unfinished run recorded")
            old, old_digest, plan_file, plan_name = row
            if old_digest != digest:
                raise JournalError(
                    f"the plan changed since run {old} started; run without --resume"
                )
            new = self._insert_run(
                conn, (plan_key, plan_file, plan_name, digest), self._clock(), old
            )
            copy = f"INSERT INTO actions (run_id, position, {_ACTIONS}) SELECT ?, position, "
            conn.execute(
                f"{copy}{_ACTIONS} FROM actions WHERE run_id = ? AND state = ?",
                (new, old, "succeeded"),
            )
            conn.execute(
                f"{copy}action_id, kind, 'pending', '=', attempts, '', NULL, NULL, 0, 0, 0, '[]'"
                " FROM actions WHERE run_id = ? AND state != ?",
                (new, old, "succeeded"),
            )
            conn.execute(
                f"INSERT INTO items (run_id, {_ITEMS}) SELECT ?, {_ITEMS} FROM items"
                " WHERE run_id = ? AND state IN ('succeeded', 'unchanged') ORDER BY rowid",
                (new, old),
            )
        return self.load(new)

    def latest_unfinished(self, plan_key: str) -> RunResult | None:
        """The plan's newest run that neither succeeded nor was superseded, loaded whole."""
        rows = self._read(_UNFINISHED, (plan_key,))
        return self.load(rows[0][0]) if rows else None

    def runs(self, plan_key: str | None = None, limit: int | None = 50) -> list[RunSummary]:
        """Recorded runs, newest first: all, or one plan's; at most `limit` (None: no limit)."""
        where, params = ("WHERE plan_key = ?", (plan_key,)) if plan_key is not None else ("", ())
        rows = self._read(_SUMMARIES.format(where=where), (*params, -1 if limit is None else limit))
        return [self._summary(row) for row in rows]

    def summary(self, run_id: str) -> RunSummary:
        """One run's line of `planner runs`; `run_id` may be a prefix of exactly one run's id.

        Raises:
            JournalError: no run, or more than one, matches `run_id`.
        """
        rows = self._read(_SUMMARIES.format(where="WHERE run_id = ?"), (self._resolve(run_id), 1))
        return self._summary(rows[0])

    def load(self, run_id: str) -> RunResult:
        """A whole run: actions in plan order, each with its items in the order first recorded;
        `run_id` may be a prefix of exactly one run's id.

        Raises:
            JournalError: no run, or more than one, matches `run_id`.
        """
        run_id = self._resolve(run_id)
        with self._mutex, self._translated("read"):
            self._conn.execute("BEGIN")  # one snapshot for the three reads
            try:
                run = self._conn.execute(
                    "SELECT run_id, plan_file, plan_name, digest, started_at, ended_at, interrupted"
                    " FROM runs WHERE run_id = ?",
                    (run_id,),
                ).fetchone()
                actions = [
                    _action(row)
                    for row in self._conn.execute(
                        f"SELECT {_ACTIONS} FROM actions WHERE run_id = ? ORDER BY position",
                        (run_id,),
                    )
                ]
                by_id = {a.id: a.items for a in actions}
                for row in self._conn.execute(
                    f"SELECT {_ITEMS} FROM items WHERE run_id = ? ORDER BY rowid", (run_id,)
                ):
                    if row[0] in by_id:
                        by_id[row[0]].append(_item(row))
            finally:
                self._conn.execute("COMMIT")
        return RunResult(run[0], run[1], run[2], run[3], run[4], run[5], bool(run[6]), actions)

    def _insert_run(
        self,
        conn: sqlite3.Connection,
        plan: tuple[str, str, str, str],
        started: float,
        old: str | None,
    ) -> str:
        """Insert a running run of `plan` (key, file, name, digest); supersede the plan's others."""
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(started))  # UTC, sortable
        run_id = ""
        while (
            not run_id or conn.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        ):
            run_id = f"{stamp}-{self._rng.getrandbits(16):04x}"
        conn.execute(
            "INSERT INTO runs (run_id, plan_key, plan_file, plan_name, digest, started_at, result,"
            " resumed_from) VALUES (?, ?, ?, ?, ?, ?, 'running', ?)",
            (run_id, *plan, started, old),
        )
        conn.execute(
            "UPDATE runs SET superseded_by = ? WHERE plan_key = ? AND run_id != ?"
            " AND result != 'succeeded' AND superseded_by IS NULL",
            (run_id, plan[0], run_id),
        )
        return run_id

    @staticmethod
    def _save_action(conn: sqlite3.Connection, run_id: str, a: ActionResult) -> None:
        conn.execute(_SAVE_ACTION, (run_id, run_id, *_action_fields(a), json.dumps(a.detail)))

    @staticmethod
    def _save_items(conn: sqlite3.Connection, run_id: str, items: Sequence[ItemRecord]) -> None:
        conn.executemany(_SAVE_ITEM, [(run_id, *_item_fields(i)) for i in items])

    def _resolve(self, run_id: str) -> str:
        """The run id equal to `run_id` or else the only one starting with it."""
        rows = self._read(  # the exact id, if any, sorts first among those it prefixes
            "SELECT run_id FROM runs WHERE substr(run_id, 1, ?) = ? ORDER BY run_id LIMIT 3",
            (len(run_id), run_id),
        )
        if not run_id or not rows:
            raise JournalError(f"no run {run_id!r} in {self.path}")
        if len(rows) > 1 and rows[0][0] != run_id:
            matches = ", ".join(r[0] for r in rows[:2])
            raise JournalError(f"run id {run_id!r} is ambiguous: it matches {matches}, ...")
        return str(rows[0][0])

    def _summary(self, r: Row) -> RunSummary:
        summary = RunSummary(
            r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], RunCounts(*map(int, r[9:16]))
        )
        if summary.result == "running" and (r[8] is not None or not self._is_locked(r[1])):
            return replace(summary, result="abandoned")
        return summary

    def _is_locked(self, plan_key: str) -> bool:
        sql = "SELECT pid, host, started_at, token FROM locks WHERE plan_key = ?"
        return any(_is_live_holder(*row) for row in self._read(sql, (plan_key,)))

    def _read(self, sql: str, params: tuple[object, ...] = ()) -> list[Row]:
        with self._mutex, self._translated("read"):
            return self._conn.execute(sql, params).fetchall()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._mutex, self._translated("write"):
            self._conn.execute("BEGIN IMMEDIATE")  # the write lock first: check-then-write is safe
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    @contextmanager
    def _translated(self, doing: str) -> Iterator[None]:
        """sqlite3 errors become a JournalError naming the file, here and nowhere else."""
        try:
            yield
        except sqlite3.Error as exc:
            raise JournalError(f"cannot {doing} the journal {self.path}: {exc}") from exc


def _action(r: Row) -> ActionResult:
    state, change, detail = ActionState(r[2]), Change(r[3]), json.loads(r[11])
    return ActionResult(
        id=r[0],
        kind=r[1],
        state=state,
        change=change,
        attempts=r[4],
        error=r[5],
        started_at=r[6],
        ended_at=r[7],
        files_done=r[8],
        files_unchanged=r[9],
        bytes_done=r[10],
        detail=detail,
    )


def _item(r: Row) -> ItemRecord:
    state = _ITEM_STATES[r[6]]
    return ItemRecord(r[0], r[1], r[2], r[3], r[4], r[5], state, r[7], r[8], r[9], r[10], r[11])


def _is_live_holder(pid: int, host: str, started_at: float, token: str) -> bool:
    """Whether the process that took a lock still runs. Another host's is respected (it cannot be
    checked); on this host a dead pid, a zombie, a pid reused by a process started after the lock
    was taken, or our own pid without our token (an earlier process) mean a stale lock."""
    if host != _HOST:
        return True
    if pid == os.getpid():
        return token in _HELD
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, another user's
    state, process_started = _proc_stat(pid)
    # /proc start times are tick-grained from a whole-second boot time: allow for that.
    return state != "Z" and (process_started is None or process_started <= started_at + 5.0)


def _proc_stat(pid: int) -> tuple[str, float | None]:
    """A process's state letter and start time (epoch seconds) from Linux /proc, else ("", None)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        lines = Path("/proc/stat").read_text().splitlines()
        boot = next(float(line.split()[1]) for line in lines if line.startswith("btime "))
        fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold ")"
        return fields[0], boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, StopIteration, IndexError, ValueError):
        return "", None


def _local_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch).isoformat(sep=" ", timespec="seconds")
