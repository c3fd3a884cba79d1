"""Operation records: a request's items (compact slots of their group) and the group, with
their wire view (plain JSON-ready dicts), what the database keeps of them, and the answer for an
unknown id.

A request with several items is a group whose children are its items. Children are not objects
of their own: an item is a small slot of its group, and its id is `<group id>-<index>`, so a
20,000-file copy costs no per-file records, rows or serialisations unless a client asks to see
the children (`expand=true`, or a child's id).
"""

from __future__ import annotations

import secrets
import threading
import time
from datetime import UTC, datetime
from typing import Any

from planner.api.codes import ItemCode
from planner.api.wire import OperationState

UNKNOWN_ERROR = "unknown operation"
# work a stopping worker cancelled: CANCELLED, but marked transient, so that clients send it again
# (to this worker once it is back, or to another)
SHUTDOWN_ERROR = "cancelled: the worker shut down"


ID_BYTES = 12  # 96 bits


def new_id() -> str:
    """An unguessable operation id: 96 bits from the OS CSPRNG as 24 lowercase hex digits
    (URL-safe, no `-`, so that a child's `<group id>-<index>` parses back unambiguously).

    A predictable generator would let one user name another's operations; ownership is checked
    too, but ids are not an oracle either way. Cheap, and drawn once per request.
    """
    return secrets.token_hex(ID_BYTES)


def child_id(group_id: str, index: int) -> str:
    """The id of a group's child: `<group id>-<index>`."""
    return f"{group_id}-{index}"


def child_of(op_id: str) -> tuple[str, int] | None:
    """(group id, index) of a child's id `<group id>-<index>`; None for any other id (the index
    is ASCII digits as child_id writes them: `²`, `01` or 5,000 digits name no child)."""
    base, _, index = op_id.rpartition("-")
    if not base or not index.isascii() or not index.isdigit() or len(index) > _INDEX_DIGITS:
        return None
    if index != "0" and index.startswith("0"):
        return None
    return base, int(index)


_INDEX_DIGITS = 18  # far more children than any group can have, and below int64


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


class WorkItem:
    """One unit of work of a group: the fields of its wire record that change while it runs."""

    __slots__ = (
        "bytes_done",
        "cancelled",
        "code",
        "current",
        "description",
        "ended_at",
        "error",
        "group",
        "index",
        "ratio",
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
        self.state = OperationState.QUEUED
        self.started_at: float | None = None
        self.ended_at: float | None = None
        self.current = 0
        self.total = 0
        self.result: Any = None
        self.error: str | None = None
        self.code = 0
        self.succeeded_on: list[str] = []
        self.cancelled = False  # this child alone was cancelled
        # items counting files (tree operations): their fraction comes from bytes, not counts
        self.ratio: float | None = None
        self.bytes_done = 0

    @property
    def id(self) -> str:
        return self.group.id if self.group.single else child_id(self.group.id, self.index)

    @property
    def is_terminal(self) -> bool:
        return self.state.is_terminal

    @property
    def fraction(self) -> float:
        if self.ratio is not None and self.state != OperationState.SUCCEEDED:
            return min(self.ratio, 1.0)
        return _fraction(self.state, self.current, self.total)

    def is_cancelled(self) -> bool:
        return self.cancelled or self.group.cancel.is_set()

    def wire(self) -> dict[str, Any]:
        """The wire record of this item."""
        body = item_wire(self.id, self.group.queued_at, self.group.user_id, self.compact())
        if self.ratio is not None:
            body["progress"] = round(self.fraction, 6)
        return body

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


def _fraction(state: str, current: int, total: int) -> float:
    """How far an item is, 0..1 (exactly 1.0 once it succeeded)."""
    if state == OperationState.SUCCEEDED:
        return 1.0
    return min(current / total, 1.0) if total else 0.0


def item_wire(op_id: str, queued: float, user_id: str | None, fields: list[Any]) -> dict[str, Any]:
    """The wire record of an item from its compact fields."""
    description, state, started, ended, current, total, code, error, result, on = fields
    body = _record(op_id, description, state, queued, started, ended, user_id)
    body["progress"] = round(_fraction(state, current, total), 6)
    body["progress_current"], body["progress_total"] = current, total
    body["result"] = result
    body["succeeded_on"] = on
    if state == OperationState.FAILED:
        failure(body, code, error or "failed")
    elif state == OperationState.RUNNING and current and started:
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
        self.items = [WorkItem(self, i, d) for i, d in enumerate(items)]
        self.weight = 1  # what each item counts against the queue bound (admission.py)
        self._children: list[str] | None = None
        self.pending = len(items)
        self.running: set[WorkItem] = set()
        self.bytes_done = 0
        self.started_at: float | None = None
        self.ended_at: float | None = None
        self.state = OperationState.QUEUED
        self.error: str | None = None
        self.code = 0
        self.result: Any = None

    @property
    def is_terminal(self) -> bool:
        return self.state.is_terminal

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
        if self.state == OperationState.SUCCEEDED:
            progress = 1.0
        else:
            progress = (done + sum(item.fraction for item in list(self.running))) / count
        body["progress"] = round(progress, 6)
        body["progress_current"], body["progress_total"] = done, count
        body["result"] = self.result
        if self._children is None:  # every poll answers them: built once
            self._children = [child_id(self.id, i) for i in range(count)]
        body["children"] = self._children
        if self.state == OperationState.FAILED:
            failure(body, self.code, self.error or "failed")
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


def failure(body: dict[str, Any], code: int, message: str) -> None:
    body["error"] = message
    body["error_detail"] = {"code": code, "message": message, "errors": []}
    body["messages"] = [message]
    if code == ItemCode.TRANSIENT or message.endswith(SHUTDOWN_ERROR):
        body["info"] = {"transient": True}


def stored_body(group: Group) -> dict[str, Any]:
    """What the database keeps of an ended group: its record, and its items compactly."""
    body = group.wire()
    if not group.single:
        body["items"] = [item.compact() for item in group.items]
    body["queued_epoch"] = group.queued_at
    return body


def stored_item(group: dict[str, Any], index: int, fields: list[Any]) -> dict[str, Any]:
    queued = group.get("queued_epoch") or time.time()
    return item_wire(child_id(str(group["id"]), index), queued, group.get("user_id"), fields)


def unknown_operation(op_id: str) -> dict[str, Any]:
    """What an unknown id answers: failed, so that no client waits for it forever."""
    now = time.time()
    body = _record(op_id, UNKNOWN_ERROR, OperationState.FAILED, now, now, now, None)
    body["description"] = None
    failure(body, ItemCode.NOT_FOUND, UNKNOWN_ERROR)
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
