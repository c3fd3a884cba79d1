"""The run journal (docs/run.md, "The journal, --resume and the lock"): runs, actions and file
items in SQLite (`--state`, default `.planner/state.db` beside the plan), the per-plan lock,
resume, and what `planner runs` reads. Every call is one short transaction on one WAL connection:
a kill -9 loses only that call (a run's changes of one moment are one call: session.py)."""

from __future__ import annotations

import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from planner.errors import EXIT_INVALID, PlannerError
from planner.runner.holders import HELD, HOST, is_live_holder
from planner.runner.journal_read import JournalReader
from planner.runner.journal_sql import (
    ACTIONS,
    ACTIONS_OF,
    ITEM_COUNTS,
    ITEMS,
    META,
    NEXT_POSITION,
    RUN,
    SAVE_ACTION,
    SAVE_ITEM,
    SCHEMA,
    SCHEMA_VERSION,
    SUMMARIES,
    UNFINISHED,
    UPDATE_ACTION,
    VERSION,
    Row,
    action_fields,
    action_of,
    detail_text,
    item_fields,
    item_of,
)
from planner.runner.results import ActionResult, ItemRecord, ItemRow, RunResult
from planner.timestamps import local_time


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
    # files_done per kind of action (journal_sql.KINDS_DONE)
    copied: int = 0
    moved: int = 0
    deleted: int = 0
    directories: int = 0
    metadata_keys: int = 0
    grants: int = 0


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
        with self._as_journal_errors("open"):
            self._conn = sqlite3.connect(
                path, timeout=30, isolation_level=None, check_same_thread=False
            )
            self._closed = False
        try:
            version = self._migrate()
        except BaseException:
            self.close()
            raise
        if version != VERSION:
            self.close()
            raise JournalError(
                f"cannot open the journal {path}: its schema version is {version}, this planner"
                f" reads version {SCHEMA_VERSION}"
            )

    def _migrate(self) -> str:
        """Create the schema unless the file is another version's journal; return its version."""
        with self._as_journal_errors("open"):
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._conn.execute(META)
        with self._write() as conn:
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (VERSION,))
            (version,) = conn.execute(
                "SELECT value FROM meta WHERE key = 'schema_version'"
            ).fetchone()
        if version == VERSION:
            with self._as_journal_errors("open"):
                self._conn.executescript(SCHEMA)  # idempotent; executescript commits by itself
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
            if row is not None and is_live_holder(*row):
                raise JournalError(
                    f"{plan_key} is already being run by process {row[0]} on host {row[1]} since"
                    f" {local_time(row[2])} (lock in {self.path})"
                )
            conn.execute(
                "INSERT OR REPLACE INTO locks VALUES (?, ?, ?, ?, ?)",
                (plan_key, os.getpid(), HOST, time.time(), token),  # real time: see holders.py
            )
        HELD.add(token)
        try:
            yield
        finally:
            HELD.discard(token)
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
            conn.executemany(
                SAVE_ACTION,
                [
                    (run_id, position, *action_fields(a), detail_text(a))
                    for position, a in enumerate(actions)
                ],
            )
            self._save_items(conn, run_id, [i for a in actions for i in a.items])
        return RunResult(run_id, plan_file, plan_name, digest, started, actions=actions)

    def save_action(self, run_id: str, action: ActionResult) -> None:
        """Record an action: state, change, attempts, error, timings, counts, detail (not items)."""
        with self._write() as conn:
            self._save_action(conn, run_id, action)

    def save_many(
        self,
        run_id: str,
        actions: Sequence[ActionResult],
        items: Collection[ItemRecord],
        rows: Sequence[ItemRow] = (),
    ) -> None:
        """`save_action` of every action, `save_items` of the items and the item `rows` (in
        the journal's own form: no object made per row), in one transaction."""
        if actions or items or rows:
            with self._write() as conn:
                self._save_actions(conn, run_id, actions)
                self._save_items(conn, run_id, items)
                if rows:
                    conn.executemany(SAVE_ITEM, [(run_id, *row) for row in rows])

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
            self._save_actions(conn, run.run_id, run.actions)
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
            row = conn.execute(UNFINISHED, (plan_key,)).fetchone()
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
            copy = f"INSERT INTO actions (run_id, position, {ACTIONS}) SELECT ?, position, "
            conn.execute(
                f"{copy}{ACTIONS} FROM actions WHERE run_id = ? AND state = ?",
                (new, old, "succeeded"),
            )
            conn.execute(
                f"{copy}action_id, kind, 'pending', '=', attempts, '', NULL, NULL, 0, 0, 0, '[]'"
                " FROM actions WHERE run_id = ? AND state != ?",
                (new, old, "succeeded"),
            )
            conn.execute(
                f"INSERT INTO items (run_id, {ITEMS}) SELECT ?, {ITEMS} FROM items"
                " WHERE run_id = ? AND state IN ('succeeded', 'unchanged') ORDER BY rowid",
                (new, old),
            )
        return self.load(new)

    def latest_unfinished(self, plan_key: str) -> RunResult | None:
        """The plan's newest run that neither succeeded nor was superseded, loaded whole."""
        rows = self._read(UNFINISHED, (plan_key,))
        return self.load(rows[0][0]) if rows else None

    def runs(self, plan_key: str | None = None, limit: int | None = 50) -> list[RunSummary]:
        """Recorded runs, newest first: all, or one plan's; at most `limit` (None: no limit)."""
        where, params = ("WHERE plan_key = ?", (plan_key,)) if plan_key is not None else ("", ())
        rows = self._read(SUMMARIES.format(where=where), (*params, -1 if limit is None else limit))
        return [self._summary(row) for row in rows]

    def summary(self, run_id: str) -> RunSummary:
        """One run's line of `planner runs`; `run_id` may be a prefix of exactly one run's id.

        Raises:
            JournalError: no run, or more than one, matches `run_id`.
        """
        rows = self._read(SUMMARIES.format(where="WHERE run_id = ?"), (self._resolve(run_id), 1))
        return self._summary(rows[0])

    def load(self, run_id: str, *, items: bool = True) -> RunResult:
        """A whole run: actions in plan order, each with its items in the order first recorded
        (`items` False: none loaded, every action's read from the journal by its outputs, see
        RunResult.items_of); `run_id` may be a prefix of exactly one run's id.

        Raises:
            JournalError: no run, or more than one, matches `run_id`.
        """
        if not items:
            return self._load_counted(self._resolve(run_id))
        run_id = self._resolve(run_id)
        with self._mutex, self._as_journal_errors("read"):
            self._conn.execute("BEGIN")  # one snapshot for the three reads
            try:
                run = self._conn.execute(RUN, (run_id,)).fetchone()
                actions = [action_of(row) for row in self._conn.execute(ACTIONS_OF, (run_id,))]
                by_id = {a.id: a.items for a in actions}
                for row in self._conn.execute(
                    f"SELECT {ITEMS} FROM items WHERE run_id = ? ORDER BY rowid", (run_id,)
                ):
                    if row[0] in by_id:
                        by_id[row[0]].append(item_of(row))
            finally:
                self._conn.execute("COMMIT")
        return RunResult(run[0], run[1], run[2], run[3], run[4], run[5], bool(run[6]), actions)

    def _load_counted(self, run_id: str) -> RunResult:
        """The run with each action's count of items, read back by `JournalReader`."""
        with self._mutex, self._as_journal_errors("read"):
            self._conn.execute("BEGIN")  # one snapshot for the three reads
            try:
                run = self._conn.execute(RUN, (run_id,)).fetchone()
                actions = [action_of(row) for row in self._conn.execute(ACTIONS_OF, (run_id,))]
                counts = dict(self._conn.execute(ITEM_COUNTS, (run_id,)).fetchall())
            finally:
                self._conn.execute("COMMIT")
        for action in actions:
            action.items_journaled = counts.get(action.id, 0)
        result = RunResult(run[0], run[1], run[2], run[3], run[4], run[5], bool(run[6]), actions)
        result.journaled = JournalReader(self.path, run_id)
        return result

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
    def _insert_action(
        conn: sqlite3.Connection, run_id: str, position: int, a: ActionResult
    ) -> None:
        conn.execute(SAVE_ACTION, (run_id, position, *action_fields(a), detail_text(a)))

    @classmethod
    def _save_action(cls, conn: sqlite3.Connection, run_id: str, a: ActionResult) -> None:
        """Update the action's row by its key (constant time); a row not there yet goes last."""
        fields = action_fields(a)
        updated = conn.execute(UPDATE_ACTION, (*fields[1:], detail_text(a), run_id, a.id))
        if updated.rowcount == 0:
            (position,) = conn.execute(NEXT_POSITION, (run_id,)).fetchone()
            cls._insert_action(conn, run_id, int(position), a)

    @classmethod
    def _save_actions(
        cls, conn: sqlite3.Connection, run_id: str, actions: Sequence[ActionResult]
    ) -> None:
        """`_save_action` of each, as one statement run for them all when every row is there
        (the usual case: a run inserts its actions' rows when it starts)."""
        rows = [(*action_fields(a)[1:], detail_text(a), run_id, a.id) for a in actions]
        updated = conn.executemany(UPDATE_ACTION, rows).rowcount
        if updated != len(actions):  # some row is missing: each on its own (idempotent)
            for action in actions:
                cls._save_action(conn, run_id, action)

    @staticmethod
    def _save_items(conn: sqlite3.Connection, run_id: str, items: Iterable[ItemRecord]) -> None:
        conn.executemany(SAVE_ITEM, [(run_id, *item_fields(i)) for i in items])

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
            r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], RunCounts(*map(int, r[9:22]))
        )
        if summary.result == "running" and (r[8] is not None or not self._is_locked(r[1])):
            return replace(summary, result="abandoned")
        return summary

    def _is_locked(self, plan_key: str) -> bool:
        sql = "SELECT pid, host, started_at, token FROM locks WHERE plan_key = ?"
        return any(is_live_holder(*row) for row in self._read(sql, (plan_key,)))

    def _read(self, sql: str, params: tuple[object, ...] = ()) -> list[Row]:
        with self._mutex, self._as_journal_errors("read"):
            return self._conn.execute(sql, params).fetchall()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._mutex, self._as_journal_errors("write"):
            self._conn.execute("BEGIN IMMEDIATE")  # the write lock first: check-then-write is safe
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    @contextmanager
    def _as_journal_errors(self, doing: str) -> Iterator[None]:
        """sqlite3 errors become a JournalError naming the file, here and nowhere else."""
        try:
            yield
        except sqlite3.Error as exc:
            raise JournalError(f"cannot {doing} the journal {self.path}: {exc}") from exc
