"""Whether a saved plan is stale: its inputs (first: when they differ, nothing else is asked),
then its worker, what its preview read and what it decided, compared with the same taken again
now. Each difference names a path (or what else
differs) with what the saved plan saw and what is there now."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from planner.errors import PlanError

ABSENT = "absent"


@dataclass(frozen=True)
class Difference:
    """One thing that is not as the saved plan saw it."""

    path: str  # a path on the worker (`local:/data/a.txt`), or what differs (`variable env`)
    then: str  # what the saved plan saw
    now: str  # what is there now

    def as_data(self) -> dict[str, str]:
        """The difference as a JSON object."""
        return {"path": self.path, "then": self.then, "now": self.now}


def _text(value: Any) -> str:
    """A seen value in a few words: an entry as `file 12 B, mtime ...`, else compact JSON."""
    if value is None:
        return ABSENT
    if isinstance(value, dict) and "type" in value:
        words = [str(value["type"])]
        if value["type"] == "file":
            words.append(f"{value.get('size', '?')} B")
        if value.get("mtime"):
            words.append(f"mtime {value['mtime']}")
        if value.get("checksum"):
            words.append(f"checksum {value['checksum']}")
        return ", ".join(words)
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(", ", ": "))


def _mapping(
    then: Mapping[str, Any], now: Mapping[str, Any], name: str = "{}"
) -> Iterator[Difference]:
    for key in sorted(set(then) | set(now)):
        if then.get(key) != now.get(key) or (key in then) != (key in now):
            yield Difference(name.format(key), _text(then.get(key)), _text(now.get(key)))


def _observation(key: str, then: Any, now: Any) -> Iterator[Difference]:
    """A read of the preview seen differently: a listing entry by entry, else as a whole."""
    kind, _, where = key.partition(" ")
    listings = ("list", "list-children", "list-quick")
    if kind in listings and "entries" in (then or {}) and "entries" in (now or {}):
        base = where.rstrip("/")
        yield from _mapping(then["entries"], now["entries"], base + "/{}")
        return
    label = {"grants": f"{where} (grants)", "metadata-get": f"{where} (metadata)"}.get(kind)
    if kind in (*listings, "stat", "exists"):
        label = where
    yield Difference(label or key, _seen(then), _seen(now))


def _seen(value: Any) -> str:
    if isinstance(value, dict) and len(value) == 1:
        (name, inner), *_ = value.items()
        if name == "absent":
            return ABSENT
        if name == "entry":
            return _text(inner)
        if name in ("grants", "metadata"):
            return _text(inner)
        if name == "exists":
            return "present" if inner else ABSENT
        if name == "entries":
            return f"directory of {len(inner)} entries"
    return _text(value)


def _writes(then: list[list[Any]], now: list[list[Any]]) -> Iterator[Difference]:
    def key(write: list[Any]) -> str:
        return json.dumps(write, sort_keys=True)

    before, after = {key(w): w for w in then}, {key(w): w for w in now}
    for text in sorted(set(before) ^ set(after)):
        write = before.get(text) or after[text]
        verb, src, dst = str(write[0]), str(write[1]), str(write[2])
        what = f"{verb} {src} -> {dst}" if src and verb in ("copy", "move") else f"{verb} {dst}"
        if verb in ("grant", "revoke"):
            what = f"{verb} {write[3]} to {src} on {dst}"
        then_now = ("planned", "not planned") if text in before else ("not planned", "planned")
        yield Difference(f"decision: {what}", *then_now)


def _actions(then: list[dict[str, Any]], now: list[dict[str, Any]]) -> Iterator[Difference]:
    """Actions whose outcome the preview predicts differently (what they would write is
    compared as decisions)."""
    fields = ("state", "error")
    before = {a["id"]: a for a in then}
    for action in now:
        old = before.get(action["id"])
        if old is None:
            yield Difference(f"action {action['id']}", ABSENT, "present")
            continue
        for field in fields:
            if old.get(field) != action.get(field):
                name = f"action {action['id']}: {field}"
                yield Difference(name, _text(old.get(field)), _text(action.get(field)))


def plan_text(then: Mapping[str, Any], plan_file: str) -> list[Difference]:
    """The plan file, absent or edited since it was saved (`then`: the saved inputs)."""
    from planner.plan.source import decode_source

    where = f"plan {then['file']}"
    try:
        raw = Path(plan_file).read_bytes()
    except OSError as exc:
        return [Difference(where, "as saved", exc.strerror or ABSENT)]
    try:
        text = decode_source(raw, plan_file)
    except PlanError:
        text = None
    return [] if text == then["text"] else [Difference(where, "as saved", "edited since")]


def input_differences(then: Mapping[str, Any], now: Mapping[str, Any]) -> list[Difference]:
    """What differs in what the plan was made from: its text, the `--var` values, the
    variables as resolved, the environment variables it reads (saved `inputs`, and now)."""
    found: list[Difference] = []
    if then["text"] != now["text"]:
        found.append(Difference(f"plan {then['file']}", "as saved", "edited since"))
    found += _mapping(then["vars"], now["vars"], "--var {}")
    found += _mapping(then["variables"], now["variables"], "variable {}")
    found += _mapping(then["env"], now["env"], "environment variable {}")
    return found


def observed_differences(saved: Mapping[str, Any], fresh: Mapping[str, Any]) -> list[Difference]:
    """What differs between a saved plan's preview and the same preview made now (`fresh`:
    `worker`, `observations`, `writes`, `result`): the worker, what both read, what would be
    written, and each action's predicted outcome."""
    found: list[Difference] = list(_mapping(saved["worker"], fresh["worker"], "worker {}"))
    then_seen, now_seen = saved["observations"], fresh["observations"]
    # a read made by one preview only follows from another difference, or from the order in
    # which concurrent reads landed (what one read told, another need not ask): not one itself
    for key in sorted(set(then_seen) & set(now_seen)):
        if then_seen[key] != now_seen[key]:
            found += _observation(key, then_seen[key], now_seen[key])
    found += _writes(saved["writes"], fresh["writes"])
    found += _actions(saved["result"]["actions"], fresh["result"]["actions"])
    return found
