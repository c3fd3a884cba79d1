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

    def __init__(self, lines: Callable[[], Iterator[str]], brackets: str) -> None:
        self.lines = lines  # each element's text, as indented inside the document
        self.brackets = brackets

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
    return Streamed(lambda: map(_item_text, run.fields_of(action)), "[]")


def _checksums(run: RunResult, action: ActionResult) -> Streamed:
    def lines() -> Iterator[str]:
        return (f"{_text(path)}: {_text(value)}" for path, value in run.checksums_of(action))

    return Streamed(lines, "{}")


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
    action's items and checksums are `Streamed`, for `write_document`."""
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
        "actions": [_action(run, a, streamed=streamed) for a in run.actions],
    }


def write_document(document: dict[str, object], out: TextIO) -> None:
    """Write `document` (from `run_document(..., streamed=True)`, perhaps amended) to `out`
    as json.dumps(indent=2) would, and a newline: the per-file lists are written as they are
    read (from the journal, for a run's tree operations), so they are never held whole."""
    lists: dict[str, Streamed] = {}

    def placeholder(value: object) -> str:
        if not isinstance(value, Streamed):
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
