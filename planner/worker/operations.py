"""Operation records: creation (a group and its per-item children), state transitions, progress,
persistence in SQLite (write-behind, flushed by the engine), restart recovery, paging, pruning.

Records live in memory while the worker runs and are written to the database when they are
created and when they end, so a restarted worker reports what was running as failed (transient).
"""

from __future__ import annotations

import json
import random
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from planner.api.wire import ErrorDetail, Operation, OperationState
from planner.worker.db import StateDB

TRANSIENT = 503
CANCELLED = 499
UNKNOWN_OPERATION = 404


# ids must be unique, not secret (the token authorises): a seeded generator, not getrandom()
_ids = random.Random(secrets.randbits(128))


def new_id() -> str:
    """A random, URL-safe operation id."""
    return f"{_ids.getrandbits(96):024x}"


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(eq=False)
class LiveOperation:
    """An operation this process created: its wire record plus what running it needs."""

    op: Operation
    parent: LiveOperation | None = None
    children: list[LiveOperation] = field(default_factory=list)
    cancel: threading.Event = field(default_factory=threading.Event)
    pending: int = 0
    bytes_done: int = 0
    started: float = 0.0

    @property
    def is_terminal(self) -> bool:
        return self.op.state.is_terminal

    def snapshot(self, expand: bool = False) -> Operation:
        """The wire view (group progress aggregated from the children)."""
        op = self.op
        if self.children:
            done = sum(1 for c in self.children if c.is_terminal)
            fractions = sum(1.0 if c.is_terminal else c.op.progress for c in self.children) / len(
                self.children
            )
            update: dict[str, Any] = {
                "progress": 1.0 if op.state is OperationState.SUCCEEDED else round(fractions, 6),
                "progress_current": done,
                "progress_total": len(self.children),
            }
            moved = sum(c.bytes_done for c in self.children)
            if moved and self.started:
                update["rate"] = format_rate(moved, time.monotonic() - self.started)
            op = op.model_copy(update=update)
        elif self.bytes_done and self.started and not self.is_terminal:
            op = op.model_copy(
                update={"rate": format_rate(self.bytes_done, time.monotonic() - self.started)}
            )
        if expand and self.children:
            op = op.model_copy(update={"children_detail": [c.snapshot() for c in self.children]})
        return op


def format_rate(nbytes: int, seconds: float) -> str:
    """`48.2 MB/s` (decimal units)."""
    rate = nbytes / max(seconds, 1e-6)
    for unit in ("B", "kB", "MB", "GB"):
        if rate < 1000 or unit == "GB":
            return f"{rate:.1f} {unit}/s"
        rate /= 1000
    return f"{rate:.1f} GB/s"


class OperationStore:
    """Every operation of this worker: live ones in memory, all of them in SQLite."""

    def __init__(self, db: StateDB) -> None:
        self.db = db
        self.live: dict[str, LiveOperation] = {}
        self.dirty: set[str] = set()
        self.lock = threading.RLock()  # item threads and the event loop both change records

    # -- creation -------------------------------------------------------------------------------
    def create(self, user_id: str, description: str, items: list[str]) -> LiveOperation:
        """One operation per item; several items get a group whose children they are."""
        now = _now()

        def make(desc: str, parent: LiveOperation | None) -> LiveOperation:
            op = Operation(
                id=new_id(),
                description=desc,
                state=OperationState.QUEUED,
                queued_at=now,
                user_id=user_id,
            )
            return LiveOperation(op=op, parent=parent)

        if len(items) == 1:
            top = make(items[0], None)
        else:
            top = make(description, None)
            top.children = [make(d, top) for d in items]
            top.op.children = [c.op.id for c in top.children]
            top.pending = len(top.children)
        for live in (top, *top.children):
            self.live[live.op.id] = live
        # Only the top operation is written now; children are written once, when they end (a
        # restart fails the unfinished top, and a child that was never written answers as
        # unknown, which is failed too): half the writes for a 500-item batch.
        self.db.execute(
            "INSERT INTO operations (id, parent, user_id, state, finished, queued_at, body) "
            "VALUES (?, NULL, ?, ?, 0, ?, ?)",
            (top.op.id, user_id, top.op.state.value, now.timestamp(), top.op.model_dump_json()),
        )
        return top

    # -- transitions ----------------------------------------------------------------------------
    def start_unless_finished(self, live: LiveOperation) -> bool:
        """Mark an item running, unless it already ended (cancelled while queued)."""
        with self.lock:
            if live.is_terminal:
                return False
            self.start(live)
            return True

    def fail_if_queued(self, live: LiveOperation, code: int, message: str) -> None:
        """Fail an item that has not started yet (cancellation)."""
        with self.lock:
            if live.op.state is OperationState.QUEUED:
                self.fail(live, code, message)

    def start(self, live: LiveOperation) -> None:
        live.op.state = OperationState.RUNNING
        live.op.started_at = _now()
        live.started = time.monotonic()
        parent = live.parent
        if parent is not None and parent.op.state is OperationState.QUEUED:
            parent.op.state = OperationState.RUNNING
            parent.op.started_at = live.op.started_at
            parent.started = live.started

    def succeed(
        self, live: LiveOperation, result: Any = None, succeeded_on: list[str] | None = None
    ) -> None:
        with self.lock:
            self._succeed(live, result, succeeded_on)

    def _succeed(
        self, live: LiveOperation, result: Any = None, succeeded_on: list[str] | None = None
    ) -> None:
        op = live.op
        op.state, op.result, op.progress = OperationState.SUCCEEDED, result, 1.0
        if op.progress_total:
            op.progress_current = op.progress_total
        op.succeeded_on = succeeded_on or []
        self._end(live)

    def fail(self, live: LiveOperation, code: int, message: str) -> None:
        with self.lock:
            self._fail(live, code, message)

    def _fail(self, live: LiveOperation, code: int, message: str) -> None:
        op = live.op
        op.state, op.error = OperationState.FAILED, message
        op.error_detail = ErrorDetail(code=code, message=message)
        if code == TRANSIENT:
            op.info = {**op.info, "transient": True}
        if op.started_at is None:
            op.started_at = _now()
        self._end(live)

    def _end(self, live: LiveOperation) -> None:  # called with self.lock held
        live.op.ended_at = _now()
        self.dirty.add(live.op.id)
        parent = live.parent
        if parent is None:
            return
        parent.pending -= 1
        if parent.pending == 0:
            failed = [c for c in parent.children if c.op.state is OperationState.FAILED]
            if failed:
                first = failed[0].op
                code = first.error_detail.code if first.error_detail else 500
                transient = all(c.op.is_transient_failure for c in failed)
                message = f"{len(failed)} of {len(parent.children)} items failed: {first.error}"
                self._fail(parent, TRANSIENT if transient else int(code or 500), message)
            else:
                results = [c.op.result for c in parent.children]
                self._succeed(parent, merge_results(results))

    # -- reading --------------------------------------------------------------------------------
    def get(self, op_id: str, expand: bool = False) -> Operation:
        """The operation, or a failed 'unknown operation' record (never a pending one)."""
        live = self.live.get(op_id)
        if live is not None:
            return live.snapshot(expand)
        rows = self.db.execute("SELECT body FROM operations WHERE id = ?", (op_id,))
        if not rows:
            return unknown_operation(op_id)
        op = Operation.model_validate_json(str(rows[0][0]))
        if expand and op.children:
            op.children_detail = [self.get(child) for child in op.children]
        return op

    def recent(self, user_id: str | None, limit: int, after: str | None) -> list[Operation]:
        """Top-level operations, newest first; `user_id` None means everyone's."""
        clauses: list[str] = ["parent IS NULL"]
        params: list[object] = []
        if user_id is not None:
            clauses.append("user_id = ?")
            params.append(user_id)
        if after:
            rows = self.db.execute("SELECT queued_at, id FROM operations WHERE id = ?", (after,))
            if rows:
                clauses.append("(queued_at < ? OR (queued_at = ? AND id < ?))")
                params += [rows[0][0], rows[0][0], after]
        sql = (
            f"SELECT id FROM operations WHERE {' AND '.join(clauses)} "
            "ORDER BY queued_at DESC, id DESC LIMIT ?"
        )
        return [self.get(str(r[0])) for r in self.db.execute(sql, (*params, limit))]

    def delete(self, op_id: str) -> bool:
        """Forget a finished operation and its children; False when it is unknown."""
        op = self.get(op_id)
        if op.error == "unknown operation":
            return False
        for oid in [op_id, *op.children]:
            self.live.pop(oid, None)
            self.db.execute("DELETE FROM operations WHERE id = ?", (oid,))
        return True

    # -- persistence ----------------------------------------------------------------------------
    def flush(self) -> int:
        """Write ended operations to the database; returns how many."""
        with self.lock:
            ids, self.dirty = self.dirty, set()
        rows = []
        for oid in ids:
            live = self.live.get(oid)
            if live is None:
                continue
            op = live.snapshot()
            ended = op.ended_at.timestamp() if op.ended_at else None
            queued = op.queued_at.timestamp() if op.queued_at else time.time()
            parent = live.parent.op.id if live.parent else None
            finished = 1 if op.state.is_terminal else 0
            rows.append(
                (
                    oid,
                    parent,
                    op.user_id,
                    op.state.value,
                    finished,
                    queued,
                    ended,
                    op.model_dump_json(),
                )
            )
        self.db.executemany(
            "INSERT OR REPLACE INTO operations "
            "(id, parent, user_id, state, finished, queued_at, ended_at, body) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        for oid in ids:  # keep finished children reachable from their live group only
            live = self.live.get(oid)
            if live is not None and live.is_terminal and live.parent is None:
                for child in live.children:
                    self.live.pop(child.op.id, None)
                self.live.pop(oid, None)
        return len(rows)

    def fail_unfinished(self) -> int:
        """At start-up: what a previous process left queued or running failed (transient)."""
        rows = self.db.execute("SELECT id, body FROM operations WHERE finished = 0")
        now = _now()
        updates = []
        for oid, body in rows:
            op = Operation.model_validate_json(str(body))
            op.state, op.error, op.ended_at = OperationState.FAILED, "worker restarted", now
            op.error_detail = ErrorDetail(
                code=TRANSIENT,
                message="the worker restarted while this operation was unfinished; retry it",
            )
            op.info = {**op.info, "transient": True}
            updates.append((op.model_dump_json(), now.timestamp(), str(oid)))
        self.db.executemany(
            "UPDATE operations SET state = 'failed', finished = 1, body = ?, ended_at = ? "
            "WHERE id = ?",
            updates,
        )
        return len(updates)

    def prune(self, retention_seconds: float) -> int:
        """Delete finished operations that ended longer ago than the retention period."""
        cutoff = time.time() - retention_seconds
        rows = self.db.execute(
            "SELECT id FROM operations WHERE finished = 1 AND ended_at < ?", (cutoff,)
        )
        self.db.executemany("DELETE FROM operations WHERE id = ?", [(r[0],) for r in rows])
        return len(rows)


def unknown_operation(op_id: str) -> Operation:
    """What an unknown id answers: failed, so that no client waits for it forever."""
    now = _now()
    return Operation(
        id=op_id,
        state=OperationState.FAILED,
        error="unknown operation",
        error_detail=ErrorDetail(code=UNKNOWN_OPERATION, message="unknown operation"),
        queued_at=now,
        started_at=now,
        ended_at=now,
    )


def merge_results(results: list[Any]) -> Any:
    """A group's result: mappings (list, metadata:get) merged, otherwise the list of results."""
    if results and all(isinstance(r, dict) for r in results):
        merged: dict[str, Any] = {}
        for r in results:
            merged.update(r)
        return merged
    if all(r is None for r in results):
        return None
    return results


def dump_json(value: Any) -> str:
    """Compact JSON (used for stored bodies)."""
    return json.dumps(value, separators=(",", ":"))
