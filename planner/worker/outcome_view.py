"""`GET /operations/{id}?view=outcome` (the `planner.operations.outcome` extension): an
operation with only what tells how its items ended, which is all a client reads of a batch
once it ended.

The full record details every child with its description, timestamps, messages and an empty
`children` list of its own, and repeats all of their results merged as the group's result: a
500-path stat batch answered 370 KB, built and rendered in about 20 ms, for each batch of a
plan of many small actions. Here a child is its `id`, `state`, `progress_total` and `result`,
with `error`, `error_detail` and `info` when it failed, and a group with children leaves its
merged result out (null): each child carries its own. Anything without children (a single
item, a child, an unknown or another user's id) answers its full record.
"""

from __future__ import annotations

from typing import Any

from planner.api.wire import OperationState
from planner.worker.operations import OperationStore, visible_owner
from planner.worker.records import Group, child_id, failure, unknown_operation

VIEW = "outcome"  # the value of `view` that asks for it


def outcome(store: OperationStore, op_id: str, viewer: str | None) -> dict[str, Any]:
    """The outcome view of `op_id` as `viewer` (None: an admin) may see it."""
    found = store.item(op_id)
    if isinstance(found, Group) and not found.single:
        # a live group is read from its items, even if it is written as ended meanwhile
        if not visible_owner(found, viewer):
            return unknown_operation(op_id)
        body = found.wire()
        items = [item.compact() for item in found.items]
    else:
        rows: dict[str, Any] = {}
        body = store.get(op_id, False, viewer, rows)
        stored = rows.get(op_id) if body.get("children") else None
        items = (stored or {}).get("items") or []
        if not items:
            return body
    body["result"] = None
    body["children_detail"] = [_child(child_id(op_id, i), fields) for i, fields in enumerate(items)]
    return body


def _child(op_id: str, fields: list[Any]) -> dict[str, Any]:
    """A child's outcome from its compact fields (records.WorkItem.compact)."""
    state, total, code, error, result = fields[1], fields[5], fields[6], fields[7], fields[8]
    body: dict[str, Any] = {"id": op_id, "state": state, "progress_total": total, "result": result}
    if state == OperationState.FAILED:
        failure(body, code, error or "failed")
    return body
