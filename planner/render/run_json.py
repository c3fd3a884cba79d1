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

import json
from datetime import UTC, datetime

from planner.render.run_text import outcome
from planner.runner.results import ActionResult, ItemRecord, RunResult

FORMAT_VERSION = 1


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


def _action(action: ActionResult) -> dict[str, object]:
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
        "checksums": dict(sorted(action.checksums.items())),
        "skipped": list(action.skipped),
        "items": [_item(i) for i in action.items],
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


def run_document(run: RunResult, exit_code: int) -> dict[str, object]:
    """The document as plain data (see the module docstring for its shape)."""
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
        "actions": [_action(a) for a in run.actions],
    }


def render_run_json(run: RunResult, exit_code: int) -> str:
    """The `run --format json` document, indented, keys in the documented order."""
    return json.dumps(run_document(run, exit_code), indent=2)
