"""Operation records: creation (one record per request, its items as compact slots), state
transitions, progress, persistence in SQLite (write-behind, flushed by the engine), restart
recovery, paging, pruning, and the wire view (plain JSON-ready dicts).

A request with several items is a group whose children are its items. Children are not objects
of their own: an item is a small slot of its group, and its id is `<group id>-<index>`, so a
20,000-file copy costs no per-file records, rows or serialisations unless a client asks to see
the children (`expand=true`, or a child's id).

Records live in memory while the worker runs; a group is written to the database when it is
created (so a restarted worker reports it failed) and once more, with its children, when it ends.
"""

from __future__ import annotations

import json
import random
import secrets
import threading
import time
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

from planner.worker.db import StateDB

TRANSIENT = 503
CANCELLED = 499
UNKNOWN_OPERATION = 404
UNKNOWN_ERROR = "unknown operation"
# how many items of ended groups are kept in memory (the oldest groups are read back from disk)
ENDED_ITEMS_IN_MEMORY = 100_000

QUEUED, RUNNING, SUCCEEDED, FAILED = "queued", "running", "succeeded", "failed"
_TERMINAL = frozenset({SUCCEEDED, FAILED})

# ids must be unique, not secret (the token authorises): a seeded generator, not getrandom()
_ids = random.Random(secrets.randbits(128))


def new_id() -> str:
    """A random, URL-safe operation id (children append `-<index>`)."""
    return f"{_ids.getrandbits(96):024x}"


def timestamp(epoch: float | None) -> str | None:
    """RFC 3339 UTC with microseconds and a `Z`."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def format_rate(nbytes: int, seconds: float) -> str:
    """`48.2 MB/s` (decimal units)."""
    rate = nbytes / max(seconds, 1e-6)
    for unit in ("B", "kB", "MB", "GB"):
        if rate < 1000 or unit == "GB":
            return f"{rate:.1f} {unit}/s"
        rate /= 1000
    return f"{rate:.1f} GB/s"


class Item:
    """One unit of work of a group: the fields of its wire record that change while it runs."""

    __slots__ = (
        "cancelled",
        "code",
        "current",
        "description",
        "ended_at",
        "error",
        "group",
        "index",
        "result",
        "started_at",
        "state",
        "succeeded_on",
        "total",
    )

    def __init__(self, group: Group, index: int, description: str) -> None:
        self.group = group
        self.index = index
        self.description = description
        self.state = QUEUED
        self.started_at: float | None = None
        self.ended_at: float | None = None
        self.current = 0
        self.total = 0
        self.result: Any = None
        self.error: str | None = None
        self.code = 0
        self.succeeded_on: list[str] = []
        self.cancelled = False  # this child alone was cancelled

    @property
    def id(self) -> str:
        return self.group.id if self.group.single else f"{self.group.id}-{self.index}"

    @property
    def is_terminal(self) -> bool:
        return self.state in _TERMINAL

    @property
    def fraction(self) -> float:
        if self.state == SUCCEEDED:
            return 1.0
        return min(self.current / self.total, 1.0) if self.total else 0.0

    def is_cancelled(self) -> bool:
        return self.cancelled or self.group.cancel.is_set()

    def wire(self) -> dict[str, Any]:
        """The wire record of this item."""
        return item_wire(self.id, self.group.queued_at, self.group.user_id, self.compact())

    def compact(self) -> list[Any]:
        """The item's fields as stored with its group (see `item_wire`)."""
        return [
            self.description,
            self.state,
            self.started_at,
            self.ended_at,
            self.current,
            self.total,
            self.code,
            self.error,
            self.result,
            self.succeeded_on,
        ]


def item_wire(op_id: str, queued: float, user_id: str | None, fields: list[Any]) -> dict[str, Any]:
    """The wire record of an item from its compact fields."""
    description, state, started, ended, current, total, code, error, result, on = fields
    body = _record(op_id, description, state, queued, started, ended, user_id)
    fraction = 1.0 if state == SUCCEEDED else (min(current / total, 1.0) if total else 0.0)
    body["progress"] = round(fraction, 6)
    body["progress_current"], body["progress_total"] = current, total
    body["result"] = result
    body["succeeded_on"] = on
    if state == FAILED:
        _failure(body, code, error or "failed")
    elif state == RUNNING and current and started:
        body["rate"] = format_rate(current, time.time() - started)
    return body


class Group:
    """What one request started: its items, their aggregate state and the cancel flag."""

    def __init__(self, user_id: str, description: str, items: list[str]) -> None:
        self.id = new_id()
        self.user_id = user_id
        self.single = len(items) == 1
        self.description = items[0] if self.single else description
        self.queued_at = time.time()
        self.cancel = threading.Event()
        self.items = [Item(self, i, d) for i, d in enumerate(items)]
        self.pending = len(items)
        self.running: set[Item] = set()
        self.bytes_done = 0
        self.started_at: float | None = None
        self.ended_at: float | None = None
        self.state = QUEUED
        self.error: str | None = None
        self.code = 0
        self.result: Any = None

    @property
    def is_terminal(self) -> bool:
        return self.state in _TERMINAL

    def wire(self, expand: bool = False) -> dict[str, Any]:
        """The wire record (progress aggregated from the items; `expand` adds their records)."""
        if self.single:
            return self.items[0].wire()
        body = _record(
            self.id,
            self.description,
            self.state,
            self.queued_at,
            self.started_at,
            self.ended_at,
            self.user_id,
        )
        count = len(self.items)
        done = count - self.pending
        if self.state == SUCCEEDED:
            progress = 1.0
        else:
            progress = (done + sum(item.fraction for item in list(self.running))) / count
        body["progress"] = round(progress, 6)
        body["progress_current"], body["progress_total"] = done, count
        body["result"] = self.result
        body["children"] = [f"{self.id}-{i}" for i in range(count)]
        if self.state == FAILED:
            _failure(body, self.code, self.error or "failed")
        if self.bytes_done and self.started_at:
            end = self.ended_at or time.time()
            body["rate"] = format_rate(self.bytes_done, end - self.started_at)
        if expand:
            body["children_detail"] = [item.wire() for item in self.items]
        return body


def _record(
    op_id: str,
    description: str | None,
    state: str,
    queued: float | None,
    started: float | None,
    ended: float | None,
    user_id: str | None,
) -> dict[str, Any]:
    return {
        "id": op_id,
        "description": description,
        "state": state,
        "progress": 0.0,
        "progress_current": 0,
        "progress_total": 0,
        "queued_at": timestamp(queued),
        "started_at": timestamp(started),
        "ended_at": timestamp(ended),
        "result": None,
        "error": None,
        "error_detail": None,
        "messages": [],
        "children": [],
        "children_detail": None,
        "info": {},
        "user_id": user_id,
        "retries": 0,
        "max_retries": 0,
        "rate": None,
        "succeeded_on": [],
    }


def _failure(body: dict[str, Any], code: int, message: str) -> None:
    body["error"] = message
    body["error_detail"] = {"code": code, "message": message, "errors": []}
    body["messages"] = [message]
    if code == TRANSIENT:
        body["info"] = {"transient": True}


class OperationStore:
    """Every operation of this worker: live ones in memory, all of them in SQLite."""

    def __init__(self, db: StateDB) -> None:
        self.db = db
        self.live: dict[str, Group] = {}
        # ended groups stay in memory for a while: their results are fetched right after
        self.ended: OrderedDict[str, Group] = OrderedDict()
        self.ended_items = 0
        self.dirty: set[str] = set()
        self.lock = threading.RLock()  # item threads and the event loop both change records

    # -- creation -------------------------------------------------------------------------------
    def create(self, user_id: str, description: str, items: list[str]) -> Group:
        """One operation for the request; several items make it a group of children."""
        group = Group(user_id, description, items)
        self.live[group.id] = group
        self.db.execute(
            "INSERT INTO operations (id, parent, user_id, state, finished, queued_at, body) "
            "VALUES (?, NULL, ?, ?, 0, ?, ?)",
            (group.id, user_id, QUEUED, group.queued_at, json.dumps(group.wire())),
        )
        return group

    # -- transitions ----------------------------------------------------------------------------
    def start_unless_finished(self, item: Item) -> bool:
        """Mark an item running, unless it already ended (cancelled while queued)."""
        with self.lock:
            if item.is_terminal:
                return False
            now = time.time()
            item.state, item.started_at = RUNNING, now
            group = item.group
            group.running.add(item)
            if group.state == QUEUED:
                group.state, group.started_at = RUNNING, now
            return True

    def fail_if_queued(self, item: Item, code: int, message: str) -> None:
        """Fail an item that has not started yet (cancellation)."""
        with self.lock:
            if item.state == QUEUED:
                self._end(item, FAILED, None, [], code, message)

    def succeed(
        self, item: Item, result: Any = None, succeeded_on: list[str] | None = None
    ) -> None:
        with self.lock:
            self._end(item, SUCCEEDED, result, succeeded_on or [], 0, None)

    def fail(self, item: Item, code: int, message: str) -> None:
        with self.lock:
            self._end(item, FAILED, None, [], code, message)

    def _end(
        self,
        item: Item,
        state: str,
        result: Any,
        succeeded_on: list[str],
        code: int,
        error: str | None,
    ) -> None:  # called with self.lock held
        now = time.time()
        item.state, item.result, item.succeeded_on = state, result, succeeded_on
        item.code, item.error, item.ended_at = code, error, now
        if item.started_at is None:
            item.started_at = now
        if state == SUCCEEDED and item.total:
            item.current = item.total
        group = item.group
        group.running.discard(item)
        group.pending -= 1
        if group.pending:
            return
        group.ended_at = now
        group.started_at = group.started_at or now
        failed = [i for i in group.items if i.state == FAILED]
        if failed:
            first = failed[0]
            transient = all(i.code == TRANSIENT for i in failed)
            group.state = FAILED
            group.code = TRANSIENT if transient else (first.code or 500)
            group.error = (
                first.error
                if group.single
                else f"{len(failed)} of {len(group.items)} items failed: {first.error}"
            )
        else:
            group.state = SUCCEEDED
            group.result = merge_results([i.result for i in group.items])
        self.dirty.add(group.id)

    # -- reading --------------------------------------------------------------------------------
    def item(self, op_id: str) -> Item | Group | None:
        """The live group or child item with this id, if it is still in memory."""
        group = self.live.get(op_id) or self.ended.get(op_id)
        if group is not None:
            return group
        base, _, index = op_id.rpartition("-")
        group = self.live.get(base) or self.ended.get(base)
        if group is None or group.single or not index.isdigit() or int(index) >= len(group.items):
            return None
        return group.items[int(index)]

    def get(self, op_id: str, expand: bool = False) -> dict[str, Any]:
        """The wire record, or a failed 'unknown operation' record (never a pending one)."""
        found = self.item(op_id)
        if isinstance(found, Group):
            return found.wire(expand)
        if found is not None:
            return found.wire()
        return self._stored(op_id, expand)

    def _stored(self, op_id: str, expand: bool) -> dict[str, Any]:
        rows = self.db.execute("SELECT body FROM operations WHERE id = ?", (op_id,))
        if rows:
            body: dict[str, Any] = json.loads(str(rows[0][0]))
            items = body.pop("items", None) or []
            if expand and body["children"] and not body.get("children_detail"):
                body["children_detail"] = [
                    _stored_item(body, i, fields) for i, fields in enumerate(items)
                ]
            elif not expand:
                body["children_detail"] = None
            body.pop("queued_epoch", None)
            return body
        base, _, index = op_id.rpartition("-")
        if base and index.isdigit():
            rows = self.db.execute("SELECT body FROM operations WHERE id = ?", (base,))
            if rows:
                group = json.loads(str(rows[0][0]))
                items = group.get("items") or []
                if int(index) < len(items):
                    return _stored_item(group, int(index), items[int(index)])
        return unknown_operation(op_id)

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
                clauses.append("(queued_at < ? OR (queued_at = ? AND id < ?))")
                params += [rows[0][0], rows[0][0], after]
        sql = (
            f"SELECT id FROM operations WHERE {' AND '.join(clauses)} "
            "ORDER BY queued_at DESC, id DESC LIMIT ?"
        )
        return [self.get(str(r[0])) for r in self.db.execute(sql, (*params, limit))]

    def delete(self, op_id: str) -> bool:
        """Forget a finished operation (and its children); False when it is unknown."""
        op = self.get(op_id)
        if op["error"] == UNKNOWN_ERROR:
            return False
        self.live.pop(op_id, None)
        dropped = self.ended.pop(op_id, None)
        if dropped is not None:
            self.ended_items -= len(dropped.items)
        self.db.execute("DELETE FROM operations WHERE id = ? OR parent = ?", (op_id, op_id))
        return True

    # -- persistence ----------------------------------------------------------------------------
    def flush(self) -> int:
        """Write ended operations (with their children) to the database; returns how many."""
        with self.lock:
            ids, self.dirty = self.dirty, set()
            groups = [g for g in (self.live.get(i) for i in ids) if g is not None]
            rows = [(g.id, g.state, g.ended_at, json.dumps(_stored_body(g))) for g in groups]
        self.db.executemany(
            "UPDATE operations SET state = ?, finished = 1, ended_at = ?, body = ? WHERE id = ?",
            [(state, ended, body, oid) for oid, state, ended, body in rows],
        )
        with self.lock:
            for group in groups:
                if self.live.pop(group.id, None) is not None:
                    self.ended[group.id] = group
                    self.ended_items += len(group.items)
            while self.ended_items > ENDED_ITEMS_IN_MEMORY and len(self.ended) > 1:
                _, old = self.ended.popitem(last=False)
                self.ended_items -= len(old.items)
        return len(rows)

    def fail_unfinished(self) -> int:
        """At start-up: what a previous process left queued or running failed (transient)."""
        rows = self.db.execute("SELECT id, body FROM operations WHERE finished = 0")
        now = time.time()
        message = "the worker restarted while this operation was unfinished; retry it"
        updates = []
        for oid, text in rows:
            body = json.loads(str(text))
            body["state"], body["ended_at"] = FAILED, timestamp(now)
            _failure(body, TRANSIENT, message)
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
        self.db.executemany("DELETE FROM operations WHERE id = ?", [(r[0],) for r in rows])
        return len(rows)


def _stored_body(group: Group) -> dict[str, Any]:
    """What the database keeps of an ended group: its record, and its items compactly."""
    body = group.wire()
    if not group.single:
        body["items"] = [item.compact() for item in group.items]
    body["queued_epoch"] = group.queued_at
    return body


def _stored_item(group: dict[str, Any], index: int, fields: list[Any]) -> dict[str, Any]:
    queued = group.get("queued_epoch") or time.time()
    return item_wire(f"{group['id']}-{index}", queued, group.get("user_id"), fields)


def unknown_operation(op_id: str) -> dict[str, Any]:
    """What an unknown id answers: failed, so that no client waits for it forever."""
    now = time.time()
    body = _record(op_id, UNKNOWN_ERROR, FAILED, now, now, now, None)
    body["description"] = None
    _failure(body, UNKNOWN_OPERATION, UNKNOWN_ERROR)
    return body


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
