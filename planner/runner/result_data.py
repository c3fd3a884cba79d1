"""A preview's RunResult as plain JSON data and back: what a saved plan keeps so that
`planner show` renders it with the preview's own render functions. Times and attempts are left
out (a preview has none worth keeping); every other field is kept, whatever fields the records
gain."""

from __future__ import annotations

import dataclasses
from typing import Any

from planner.runner.results import (
    ActionResult,
    ActionState,
    Change,
    ItemRecord,
    ItemState,
    RunResult,
)

_TIMES = frozenset({"started_at", "ended_at", "attempts"})


def _plain(record: Any, leave_out: frozenset[str] = _TIMES) -> dict[str, Any]:
    return {
        f.name: getattr(record, f.name)
        for f in dataclasses.fields(record)
        if f.name not in leave_out and f.name != "items"
    }


def result_data(run: RunResult) -> dict[str, Any]:
    """`run` as plain data (enums as their values)."""
    actions = []
    for action in run.actions:
        data = _plain(action)
        data["state"], data["change"] = action.state.value, action.change.value
        data["items"] = [{**_plain(i), "state": i.state.value} for i in action.items]
        actions.append(data)
    return {
        "plan_file": run.plan_file,
        "plan_name": run.plan_name,
        "digest": run.digest,
        "api_requests": run.api_requests,
        "actions": actions,
    }


def _known(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in data.items() if k in names}


def result_from_data(data: dict[str, Any]) -> RunResult:
    """The RunResult `result_data` made (fields this planner does not know are left out)."""
    actions = []
    for raw in data["actions"]:
        fields = _known(ActionResult, raw)
        fields["state"], fields["change"] = ActionState(raw["state"]), Change(raw["change"])
        fields["items"] = [
            ItemRecord(**{**_known(ItemRecord, i), "state": ItemState(i["state"])})
            for i in raw.get("items", [])
        ]
        actions.append(ActionResult(**fields))
    return RunResult(
        "preview",
        data["plan_file"],
        data["plan_name"],
        data["digest"],
        0.0,
        actions=actions,
        api_requests=int(data.get("api_requests", 0)),
    )
