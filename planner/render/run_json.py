"""`planner run --format json`: one document (format_version 1) with every action and every item.

The shape is stable; keys appear in this order. Timestamps are RFC 3339 in UTC with milliseconds
(`2026-11-23T18:45:00.123Z`) or null when the moment never came; durations are seconds (float,
millisecond precision); sizes are bytes.

    {
      "format_version": 1,
      "run_id": "20261123T184500-3f2a",
      "plan": {"file": "plans/nightly.yaml", "name": "nightly", "digest": "sha256:..."},
      "result": "succeeded" | "failed" | "interrupted",
      "exit_code": 0 | 1 | 130,
      "started_at": "2026-11-23T18:45:00.000Z",
      "ended_at": "2026-11-23T18:45:12.400Z" | null,
      "duration": 12.4,
      "totals": {
        "actions": 4, "succeeded": 4, "failed": 0, "skipped": 0, "not_run": 0,
        "files_done": 120, "files_unchanged": 88, "files_filtered": 3, "files_compared": 0,
        "copied": 110, "moved": 5, "deleted": 5, "directories": 0, "metadata_keys": 0,
        "grants": 0, "bytes": 340200000, "api_requests": 14
      },
      "actions": [                      # plan order
        {
          "id": "fetch-inputs",
          "kind": "copy",               # directory, copy, move, removal, permission, ...
          "state": "pending" | "running" | "succeeded" | "failed" | "skipped",
          "change": "create" | "update" | "unchanged" | "delete" | "fail",
          "attempts": 1,
          "started_at": "...Z" | null,
          "ended_at": "...Z" | null,
          "duration": 1.2,
          "files_done": 12,             # files copied/moved/removed, directories made, keys set
          "files_unchanged": 5,
          "files_filtered": 3,          # left out by include/exclude or `symlinks: skip`
          "files_compared": 0,          # compared by checksum (`checksum: true`)
          "bytes": 3400000,
          "error": "",                  # why it failed or was skipped; "" otherwise
          "detail": ["granted read to alice", ...],
          "warnings": [],               # e.g. an include that selects no file
          "checksums": {"data/a.csv": "9f3c..."},  # XXH64 of source files, `checksum: true`
          "skipped": [{"path": "run/pipe", "reason": "fifo"}],  # a directory copy left out
          "items": [                    # every item, not only the last few
            {
              "key": "data/a.csv",      # unique within its action
              "kind": "copy",           # copy, move, remove, rmdir, mkdir, metadata, ...
              "src": "any:/in/data/a.csv",
              "dst": "local:/out/data/a.csv",
              "size": 1024,
              "state": "pending" | "succeeded" | "failed" | "unchanged",
              "attempts": 1,
              "error": "",
              "checksum": "9f3c..."    # XXH64 of the source when known, else ""
            }
          ]
        }
      ]
    }
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from itertools import islice
from json.encoder import encode_basestring_ascii as _text
from typing import TextIO

from planner.render.run_text import outcome
from planner.runner.results import ActionResult, ItemFields, ItemRecord, RunResult

FORMAT_VERSION = 1
# where an action's lists sit in the document: its keys are indented by 6 spaces (json's
# indent=2 at depth 3), a list's elements by 8 and an item's keys by 10
_IN_ACTION, _IN_LIST, _IN_ITEM = " " * 6, " " * 8, " " * 10
_ITEM = "".join(
    (
        "{\n",
        *(
            f'{_IN_ITEM}"{key}": %s,\n'
            for key in ("key", "kind", "src", "dst", "size", "state", "attempts", "error")
        ),
        f'{_IN_ITEM}"checksum": %s\n{_IN_LIST}}}',
    )
)
_CHUNK = 1000  # items joined per write


def timestamp(epoch: float | None) -> str | None:
    """RFC 3339 in UTC with milliseconds, or None."""
    if epoch is None:
        return None
    moment = datetime.fromtimestamp(epoch, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _item(item: ItemRecord) -> dict[str, object]:
    return {
        "key": item.key,
        "kind": item.kind,
        "src": item.src,
        "dst": item.dst,
        "size": item.size,
        "state": item.state.value,
        "attempts": item.attempts,
        "error": item.error,
        "checksum": item.checksum,
    }


def _item_text(fields: ItemFields) -> str:
    """`json.dumps(_item(i), indent=2)` of the item with these fields, as it reads inside the
    document, made directly."""
    key, kind, src, dst, size, state, attempts, error, checksum = fields
    return _ITEM % (
        _text(key),
        _text(kind),
        _text(src),
        _text(dst),
        int(size),
        _text(state),
        int(attempts),
        _text(error),
        _text(checksum),
    )


class Streamed:
    """A list or map of the document written from an iterable when the document is written
    (`write_document`), never held whole: an action's items, or its checksums."""

    def __init__(
        self, lines: Callable[[], Iterator[str]], brackets: str, *, empty: bool = False
    ) -> None:
        self.lines = lines  # each element's text, as indented inside the document
        self.brackets = brackets
        self.empty = empty  # known to have no element, without reading them (the journal)

    def write(self, out: TextIO) -> None:
        """The list (or map), as json.dumps(indent=2) writes it at an action's key."""
        opening, closing = self.brackets[0], self.brackets[1]
        first = True
        lines = self.lines()
        while True:
            chunk = list(islice(lines, _CHUNK))
            if not chunk:
                break
            out.write(f"{opening}\n{_IN_LIST}" if first else f",\n{_IN_LIST}")
            out.write(f",\n{_IN_LIST}".join(chunk))
            first = False
        out.write(f"{opening}{closing}" if first else f"\n{_IN_ACTION}{closing}")


def _items(run: RunResult, action: ActionResult) -> Streamed:
    journaled = action.items_journaled and run.journaled is not None
    empty = not journaled and not action.items
    return Streamed(lambda: map(_item_text, run.fields_of(action)), "[]", empty=empty)


def _checksums(run: RunResult, action: ActionResult) -> Streamed:
    def lines() -> Iterator[str]:
        return (f"{_text(path)}: {_text(value)}" for path, value in run.checksums_of(action))

    journaled = action.checksums_journaled and run.journaled is not None
    return Streamed(lines, "{}", empty=not journaled and not action.checksums)


def _action(run: RunResult, action: ActionResult, *, streamed: bool) -> dict[str, object]:
    return {
        "id": action.id,
        "kind": action.kind,
        "state": action.state.value,
        "change": action.change.name.lower(),
        "attempts": action.attempts,
        "started_at": timestamp(action.started_at),
        "ended_at": timestamp(action.ended_at),
        "duration": round(action.duration, 3),
        "files_done": action.files_done,
        "files_unchanged": action.files_unchanged,
        "files_filtered": action.files_filtered,
        "files_compared": action.files_compared,
        "files_deleted": action.files_deleted,
        "bytes": action.bytes_done,
        "bytes_deleted": action.bytes_deleted,
        "error": action.error,
        "detail": list(action.detail),
        "warnings": list(action.warnings),
        "checksums": _checksums(run, action) if streamed else dict(run.checksums_of(action)),
        "skipped": list(action.skipped),
        "items": _items(run, action) if streamed else [_item(i) for i in run.items_of(action)],
    }


def _totals(run: RunResult) -> dict[str, int]:
    succeeded, failed, skipped = len(run.succeeded), len(run.failed), len(run.skipped)
    done = run.totals()
    return {
        "actions": len(run.actions),
        "succeeded": succeeded,
        "failed": failed,
        "skipped": skipped,
        "not_run": len(run.actions) - succeeded - failed - skipped,
        "files_done": done["files_done"],
        "files_unchanged": done["files_unchanged"],
        "files_filtered": done["files_filtered"],
        "files_compared": done["files_compared"],
        "copied": done["copied"],
        "moved": done["moved"],
        "deleted": done["deleted"],
        "directories": done["directories"],
        "metadata_keys": done["metadata_keys"],
        "grants": done["grants"],
        "bytes": done["bytes"],
        "api_requests": run.api_requests,
    }


def run_document(run: RunResult, exit_code: int, *, streamed: bool = False) -> dict[str, object]:
    """The document as plain data (see the module docstring for its shape); `streamed`: each
    action's items and checksums are `Streamed`, and so is the list of actions, for
    `write_document`."""
    actions: object = (
        _Actions(run) if streamed else [_action(run, a, streamed=False) for a in run.actions]
    )
    return {
        "format_version": FORMAT_VERSION,
        "run_id": run.run_id,
        "plan": {"file": run.plan_file, "name": run.plan_name, "digest": run.digest},
        "result": outcome(run),
        "exit_code": exit_code,
        "started_at": timestamp(run.started_at),
        "ended_at": timestamp(run.ended_at),
        "duration": round(run.duration, 3),
        "totals": _totals(run),
        "actions": actions,
    }


def _scalar(value: object) -> str:
    """`json.dumps(value)` of a string, number, boolean or None, made directly."""
    if isinstance(value, str):
        return _text(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float) and value == value and value not in (_INF, -_INF):
        return float.__repr__(value)
    return json.dumps(value)


_INF = float("inf")


class _Actions:
    """The list of actions, written one action at a time as json.dumps(indent=2) writes it at
    the document's `actions` key: a plan of thousands of single-file actions spends no time in
    the pure-Python encoder that `indent` selects, and holds no action's dict past its text."""

    def __init__(self, run: RunResult) -> None:
        self.run = run

    def write(self, out: TextIO) -> None:
        """The list, as json.dumps(indent=2) writes it at the document's `actions` key."""
        run = self.run
        if not run.actions:
            out.write("[]")
            return
        buffered = ["[\n    "]
        for index, action in enumerate(run.actions):
            if index:
                buffered.append(",\n    ")
            fields = _action(run, action, streamed=True)
            values = fields.values()
            if all(not isinstance(v, Streamed) or v.empty for v in values):
                buffered.append(_ACTION % tuple(map(_value, values)))
            else:  # a list read as it is written: the action's text around it
                out.write("".join(buffered))
                buffered = []
                _write_action(fields, out)
            if len(buffered) > _CHUNK:
                out.write("".join(buffered))
                buffered = []
        buffered.append("\n  ]")
        out.write("".join(buffered))


# an action's text as json.dumps(indent=2) writes it in the list at the document's `actions`
# key, each key's value a %s (keys as `_action` returns them, in that order)
_ACTION_KEYS = tuple(_action(RunResult("", "", "", "", 0.0), ActionResult("", ""), streamed=False))
_ACTION = "".join(
    ("{\n", _IN_ACTION, f",\n{_IN_ACTION}".join(f"{_text(k)}: %s" for k in _ACTION_KEYS), "\n    }")
)


def _value(value: object) -> str:
    """An action's value as json.dumps(indent=2) writes it at the action's key (a `Streamed`
    known to be empty included)."""
    if isinstance(value, Streamed):
        return value.brackets
    if isinstance(value, list | dict):
        if not value:
            return "[]" if isinstance(value, list) else "{}"
        return json.dumps(value, indent=2).replace("\n", "\n" + _IN_ACTION)
    return _scalar(value)


def _write_action(fields: dict[str, object], out: TextIO) -> None:
    """An action whose lists are read as they are written (`Streamed`)."""
    parts = ["{\n" + _IN_ACTION]
    for key, value in fields.items():
        parts.append(f"{_text(key)}: ")
        if isinstance(value, Streamed) and not value.empty:
            out.write("".join(parts))
            parts = []
            value.write(out)
        else:
            parts.append(_value(value))
        parts.append(f",\n{_IN_ACTION}")
    parts[-1] = "\n    }"
    out.write("".join(parts))


def write_document(document: dict[str, object], out: TextIO) -> None:
    """Write `document` (from `run_document(..., streamed=True)`, perhaps amended) to `out`
    as json.dumps(indent=2) would, and a newline: the per-file lists are written as they are
    read (from the journal, for a run's tree operations), so they are never held whole."""
    lists: dict[str, Streamed | _Actions] = {}

    def placeholder(value: object) -> str:
        if not isinstance(value, Streamed | _Actions):
            raise TypeError(f"{type(value).__name__} is not JSON serializable")
        mark = f"\0streamed {len(lists)}\0"
        lists[_text(mark)] = value
        return mark

    encoder = json.JSONEncoder(indent=2, default=placeholder)
    buffered: list[str] = []
    for chunk in encoder.iterencode(document):
        found = lists.get(chunk)
        if found is None:
            buffered.append(chunk)
            continue
        out.write("".join(buffered))
        buffered = []
        found.write(out)
    buffered.append("\n")
    out.write("".join(buffered))


def write_run_json(run: RunResult, exit_code: int, out: TextIO) -> None:
    """Write the `run --format json` document to `out` (see `write_document`)."""
    write_document(run_document(run, exit_code, streamed=True), out)


def render_run_json(run: RunResult, exit_code: int) -> str:
    """The `run --format json` document, indented, keys in the documented order."""
    out = io.StringIO()
    write_run_json(run, exit_code, out)
    return out.getvalue()[:-1]
