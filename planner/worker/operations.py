"""The operation store: creation, state transitions (item threads and the event loop both make
them), reads by id (live, recently ended, or from SQLite), paging, persistence (write-behind,
flushed by the engine), restart recovery and pruning. The records themselves: records.py.

A group is written to the database when it is created (so a restarted worker reports it failed)
and once more, with its items, when it ends. Creation counts its items against the queue bound
(admission.py), and every item that ends gives its slot back.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from planner.api.codes import ItemCode
from planner.api.wire import OperationState
from planner.worker.admission import QueueBound
from planner.worker.db import StateDB
from planner.worker.records import (
    Group,
    WorkItem,
    child_of,
    failure,
    merge_results,
    stored_body,
    stored_item,
    timestamp,
    unknown_operation,
)

# Ended groups are kept in memory, for the polls and result fetches that follow their end, as
# the JSON text the database holds (the oldest are read back from disk): characters of text.
# As text, not objects: the garbage collector walks every object of the heap in each full
# collection, and tens of thousands of ended groups as objects paused all clients noticeably
# under load (figures: tests/bench/README.md).
ENDED_TEXT_IN_MEMORY = 32_000_000


class TooManyDetailsError(ValueError):
    """An expanded poll would detail more children than one answer may hold."""

    def __init__(self, detailed: int, limit: int) -> None:
        super().__init__(
            f"expand=true would detail {detailed:,} children in one answer (at most {limit:,}):"
            " poll fewer ids, or without expand and ask for the children by their ids"
        )


class OperationStore:
    """Every operation of this worker: live ones in memory, all of them in SQLite."""

    def __init__(self, db: StateDB, bound: QueueBound | None = None) -> None:
        self.db = db
        self.bound = bound or QueueBound()
        self.live: dict[str, Group] = {}
        # ended groups stay in memory for a while (as stored): their results are fetched next
        self.ended: OrderedDict[str, str] = OrderedDict()
        self.ended_size = 0
        self.dirty: set[str] = set()
        self.lock = threading.RLock()  # item threads and the event loop both change records
        # ids that long polls wait on (waits.py), with what wakes each; guarded by `lock`
        self.watched: dict[str, list[Callable[[], None]]] = {}

    # -- creation -------------------------------------------------------------------------------
    def create(self, user_id: str, description: str, items: list[str], weight: int = 1) -> Group:
        """One operation for the request; several items make it a group of children. Each
        item counts `weight` times against the queue bound (a metadata item: once per path).

        Raises:
            WorkerError: 413 or 503 (with Retry-After) when the queue bound refuses the items.
        """
        self.bound.admit(user_id, len(items) * weight)
        group = Group(user_id, description, items)
        group.weight = weight
        self.live[group.id] = group
        self.db.execute(
            "INSERT INTO operations (id, parent, user_id, state, finished, queued_at, body) "
            "VALUES (?, NULL, ?, ?, 0, ?, ?)",
            (group.id, user_id, OperationState.QUEUED, group.queued_at, json.dumps(group.wire())),
        )
        return group

    # -- transitions ----------------------------------------------------------------------------
    def start_unless_finished(self, item: WorkItem) -> bool:
        """Mark an item running, unless it already ended (cancelled while queued)."""
        with self.lock:
            if item.is_terminal:
                return False
            now = time.time()
            item.state, item.started_at = OperationState.RUNNING, now
            group = item.group
            group.running.add(item)
            if group.state == OperationState.QUEUED:
                group.state, group.started_at = OperationState.RUNNING, now
            return True

    def fail_if_queued(self, item: WorkItem, code: ItemCode, message: str) -> None:
        """Fail an item that has not started yet (cancellation)."""
        with self.lock:
            if item.state == OperationState.QUEUED:
                self._end(item, OperationState.FAILED, None, [], code, message)

    def succeed(
        self, item: WorkItem, result: Any = None, succeeded_on: list[str] | None = None
    ) -> None:
        with self.lock:
            self._end(item, OperationState.SUCCEEDED, result, succeeded_on or [], 0, None)

    def fail(self, item: WorkItem, code: ItemCode, message: str, result: Any = None) -> None:
        """End an item failed; `result`, when given, is what it did before it failed."""
        with self.lock:
            self._end(item, OperationState.FAILED, result, [], code, message)

    def _end(
        self,
        item: WorkItem,
        state: OperationState,
        result: Any,
        succeeded_on: list[str],
        code: int,
        error: str | None,
    ) -> None:  # called with self.lock held
        if item.is_terminal:  # failed by a shutdown while its thread still ran: keep that
            return
        self.bound.finished(item.group.user_id, item.group.weight)
        now = time.time()
        item.state, item.result, item.succeeded_on = state, result, succeeded_on
        item.code, item.error, item.ended_at = code, error, now
        if item.started_at is None:
            item.started_at = now
        if state == OperationState.SUCCEEDED and item.total:
            item.current = item.total
        group = item.group
        group.running.discard(item)
        group.pending -= 1
        if self.watched and not group.single:
            self._wake(item.id)
        if group.pending:
            return
        group.ended_at = now
        group.started_at = group.started_at or now
        failed = [i for i in group.items if i.state == OperationState.FAILED]
        if failed:
            first = failed[0]
            transient = all(i.code == ItemCode.TRANSIENT for i in failed)
            group.state = OperationState.FAILED
            group.code = ItemCode.TRANSIENT if transient else (first.code or ItemCode.INTERNAL)
            group.error = (
                first.error
                if group.single
                else f"{len(failed)} of {len(group.items)} items failed: {first.error}"
            )
        else:
            group.state = OperationState.SUCCEEDED
            group.result = merge_results([i.result for i in group.items])
        self.dirty.add(group.id)
        if self.watched:
            self._wake(group.id)

    def _wake(self, op_id: str) -> None:  # called with self.lock held
        for wake in self.watched.pop(op_id, ()):
            wake()

    # -- reading --------------------------------------------------------------------------------
    # `viewer` is the caller's user name, or None for an admin: a viewer sees only its own
    # operations, and another user's id answers exactly as an unknown id (no existence oracle).
    def item(self, op_id: str) -> WorkItem | Group | None:
        """The live (not yet written as ended) group or child item with this id (anyone's)."""
        group = self.live.get(op_id)
        if group is not None:
            return group
        child = child_of(op_id)
        if child is None:
            return None
        group = self.live.get(child[0])
        if group is None or group.single or child[1] >= len(group.items):
            return None
        return group.items[child[1]]

    def get(
        self,
        op_id: str,
        expand: bool = False,
        viewer: str | None = None,
        rows: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The wire record, or a failed 'unknown operation' record (never a pending one).
        `rows`: stored bodies already read by this request (see `get_many`)."""
        found = self.item(op_id)
        if found is None:
            stored = self._stored(op_id, expand, rows)
            if stored is not None and _visible(stored.get("user_id"), viewer):
                return stored
        elif _visible(_owner(found), viewer):
            return found.wire(expand) if isinstance(found, Group) else found.wire()
        return unknown_operation(op_id)

    def get_many(
        self, ids: list[str], expand: bool, viewer: str | None, detail_limit: int | None = None
    ) -> list[dict[str, Any]]:
        """`get` of each id; a stored group is read and parsed once however many of its
        children (or copies of its id) are asked for (read one by one, the children of a large
        group held the database thread for seconds: tests/bench/README.md).

        Raises:
            TooManyDetailsError: `expand` would detail more than `detail_limit` children in all
                (counted before any is built: 1,000 copies of a 10,000-item group's id made a
                5 GB answer).
        """
        rows: dict[str, Any] = {}
        if expand and detail_limit is not None:
            detailed = sum(self._children_count(op_id, rows) for op_id in ids)
            if detailed > detail_limit:
                raise TooManyDetailsError(detailed, detail_limit)
        return [self.get(op_id, expand, viewer, rows) for op_id in ids]

    def _children_count(self, op_id: str, rows: dict[str, Any]) -> int:
        """How many children `op_id` would detail when expanded (anyone's: an id the caller
        may not see costs as much to look at)."""
        found = self.item(op_id)
        if isinstance(found, Group):
            return 0 if found.single else len(found.items)
        if found is not None:
            return 0
        stored = self._row(op_id, rows)
        return len(stored.get("children") or []) if stored is not None else 0

    def is_visible(self, op_id: str, viewer: str | None) -> bool:
        """Whether `op_id` names an operation (or child) that `viewer` may see."""
        found = self.item(op_id)
        if found is not None:
            return _visible(_owner(found), viewer)
        stored = self._stored(op_id, expand=False)
        return stored is not None and _visible(stored.get("user_id"), viewer)

    def _text(self, op_id: str) -> str | None:
        """The stored record of an ended group: from memory, or else from the database."""
        text = self.ended.get(op_id)
        if text is not None:
            return text
        rows = self.db.execute("SELECT body FROM operations WHERE id = ?", (op_id,))
        return str(rows[0][0]) if rows else None

    def _row(self, op_id: str, rows: dict[str, Any] | None) -> dict[str, Any] | None:
        """The stored body of `op_id` as parsed JSON (shared through `rows`: never mutate)."""
        if rows is not None and op_id in rows:
            cached: dict[str, Any] | None = rows[op_id]
            return cached
        text = self._text(op_id)
        body: dict[str, Any] | None = json.loads(text) if text is not None else None
        if rows is not None:
            rows[op_id] = body
        return body

    def _stored(
        self, op_id: str, expand: bool, rows: dict[str, Any] | None = None
    ) -> dict[str, Any] | None:
        stored = self._row(op_id, rows)
        if stored is not None:
            body = dict(stored)
            items = body.pop("items", None) or []
            if expand and body["children"] and not body.get("children_detail"):
                body["children_detail"] = [
                    stored_item(body, i, fields) for i, fields in enumerate(items)
                ]
            elif not expand:
                body["children_detail"] = None
            body.pop("queued_epoch", None)
            return body
        child = child_of(op_id)
        if child is not None:
            group = self._row(child[0], rows)
            if group is not None:
                items = group.get("items") or []
                if child[1] < len(items):
                    return stored_item(group, child[1], items[child[1]])
        return None

    def recent(self, user_id: str | None, limit: int, after: str | None) -> list[dict[str, Any]]:
        """Top-level operations, newest first; `user_id` None means everyone's."""
        clauses: list[str] = ["parent IS NULL"]
        params: list[object] = []
        if user_id is not None:
            clauses.append("user_id = ?")
            params.append(user_id)
        if after:
            rows = self.db.execute("SELECT queued_at, id FROM operations WHERE id = ?", (after,))
            if rows:
                # a row value, not an OR: SQLite then seeks in the index (db.py, operations_top)
                clauses.append("(queued_at, id) < (?, ?)")
                params += [rows[0][0], after]
        sql = (
            f"SELECT id FROM operations WHERE {' AND '.join(clauses)} "
            "ORDER BY queued_at DESC, id DESC LIMIT ?"
        )
        return [self.get(str(r[0])) for r in self.db.execute(sql, (*params, limit))]

    def delete(self, op_id: str, viewer: str | None = None) -> bool:
        """Forget a finished operation (and its children); False when it is unknown (or not
        `viewer`'s)."""
        if not self.is_visible(op_id, viewer):
            return False
        self.live.pop(op_id, None)
        dropped = self.ended.pop(op_id, None)
        if dropped is not None:
            self.ended_size -= len(dropped)
        self.db.execute("DELETE FROM operations WHERE id = ? OR parent = ?", (op_id, op_id))
        self.db.execute("DELETE FROM tree_rows WHERE operation = ?", (op_id,))
        return True

    # -- persistence ----------------------------------------------------------------------------
    def flush(self) -> int:
        """Write ended operations (with their children) to the database; returns how many."""
        with self.lock:
            ids, self.dirty = self.dirty, set()
            groups = [g for g in (self.live.get(i) for i in ids) if g is not None]
            rows = [(g.id, g.state, g.ended_at, json.dumps(stored_body(g))) for g in groups]
        self.db.executemany(
            "UPDATE operations SET state = ?, finished = 1, ended_at = ?, body = ? WHERE id = ?",
            [(state, ended, body, oid) for oid, state, ended, body in rows],
        )
        with self.lock:
            for oid, _, _, text in rows:
                if self.live.pop(oid, None) is not None:
                    self.ended[oid] = text
                    self.ended_size += len(text)
            while self.ended_size > ENDED_TEXT_IN_MEMORY and len(self.ended) > 1:
                _, old = self.ended.popitem(last=False)
                self.ended_size -= len(old)
        return len(rows)

    def fail_live(self, code: ItemCode, message: str) -> int:
        """At shutdown: every item of this process that has not ended fails now (queued ones, and
        running ones that did not stop in time); returns how many. `flush` then writes them."""
        with self.lock:
            items = [i for g in list(self.live.values()) for i in g.items if not i.is_terminal]
            for item in items:
                self._end(item, OperationState.FAILED, None, [], code, message)
        return len(items)

    def fail_unfinished(self) -> int:
        """At start-up: what a previous process left queued or running failed (transient)."""
        rows = self.db.execute("SELECT id, body FROM operations WHERE finished = 0")
        now = time.time()
        message = "the worker restarted while this operation was unfinished; retry it"
        updates = []
        for oid, text in rows:
            body = json.loads(str(text))
            body["state"], body["ended_at"] = OperationState.FAILED, timestamp(now)
            failure(body, ItemCode.TRANSIENT, message)
            body["error"] = "worker restarted"
            updates.append((json.dumps(body), now, str(oid)))
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
        ids = [(r[0],) for r in rows]
        self.db.executemany("DELETE FROM operations WHERE id = ?", ids)
        self.db.executemany("DELETE FROM tree_rows WHERE operation = ?", ids)
        return len(rows)


def visible_owner(found: WorkItem | Group, viewer: str | None) -> bool:
    """Whether the live operation (or child) `found` is visible to `viewer`."""
    return _visible(_owner(found), viewer)


def _visible(owner: object, viewer: str | None) -> bool:
    """Whether an operation of `owner` is visible to `viewer` (None: an admin, who sees all)."""
    return viewer is None or owner == viewer


def _owner(found: WorkItem | Group) -> str:
    return found.user_id if isinstance(found, Group) else found.group.user_id
