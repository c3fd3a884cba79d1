"""The outputs of `planner runs` (a table, or JSON) and `planner runs show` (text)."""

from __future__ import annotations

import json
from itertools import islice
from pathlib import Path

from planner.render.run_json import FORMAT_VERSION, timestamp
from planner.render.run_text import (
    ACTION_WORDS,
    count,
    done_counts,
    human_duration,
    human_size,
    one_line,
)
from planner.runner.journal import RunCounts, RunSummary
from planner.runner.results import RunResult
from planner.timestamps import local_time


def _by_kind(c: RunCounts) -> dict[str, int]:
    return {
        "copied": c.copied,
        "moved": c.moved,
        "deleted": c.deleted,
        "directories": c.directories,
        "metadata_keys": c.metadata_keys,
        "grants": c.grants,
    }


def _counts(summary: RunSummary) -> str:
    """`4/4 ok, 0 failed, 0 skipped; 3 files copied, 5 paths deleted, 2 unchanged, 1.2 kB`."""
    c = summary.counts
    done = ", ".join(done_counts(_by_kind(c)))
    return (
        f"{c.succeeded}/{c.actions} ok, {c.failed} failed, {c.skipped} skipped; "
        f"{done}, {c.files_unchanged:,} unchanged, {human_size(c.bytes)}"
    )


def render_runs_text(runs: list[RunSummary], journal: Path) -> str:
    """One line per run, newest first, under a header."""
    if not runs:
        return f"No runs recorded in {journal}."
    rows = [("RUN", "PLAN", "STARTED", "DURATION", "RESULT", "ACTIONS AND FILES")]
    for r in runs:
        duration = human_duration(r.duration) if r.duration is not None else "-"
        plan = r.plan_name or r.plan_file
        rows.append((r.run_id, plan, local_time(r.started_at), duration, r.result, _counts(r)))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = [
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:5])) + "  " + row[5]
        for row in rows
    ]
    return "\n".join(line.rstrip() for line in lines)


def _summary_document(r: RunSummary) -> dict[str, object]:
    c = r.counts
    return {
        "run_id": r.run_id,
        "plan": {"file": r.plan_file, "name": r.plan_name},
        "started_at": timestamp(r.started_at),
        "ended_at": timestamp(r.ended_at),
        "duration": None if r.duration is None else round(r.duration, 3),
        "result": r.result,
        "resumed_from": r.resumed_from,
        "superseded_by": r.superseded_by,
        "totals": {
            "actions": c.actions,
            "succeeded": c.succeeded,
            "failed": c.failed,
            "skipped": c.skipped,
            "files_done": c.files_done,
            "files_unchanged": c.files_unchanged,
            **_by_kind(c),
            "bytes": c.bytes,
        },
    }


def render_runs_json(runs: list[RunSummary], journal: Path) -> str:
    """`{"format_version": 1, "journal": ..., "runs": [...]}`, newest first."""
    document = {
        "format_version": FORMAT_VERSION,
        "journal": str(journal),
        "runs": [_summary_document(r) for r in runs],
    }
    return json.dumps(document, indent=2)


def render_run_show(summary: RunSummary, run: RunResult, *, items_shown: int) -> str:
    """The run's header, then each action with its outcome, error and first file items."""
    duration = human_duration(summary.duration) if summary.duration is not None else "-"
    lines = [
        f"Run {run.run_id}: {summary.result}",
        f"  plan:      {run.plan_file} ({run.plan_name or 'unnamed'}), {run.digest}",
        f"  started:   {local_time(run.started_at)}, took {duration}",
        f"  totals:    {_counts(summary)}",
    ]
    if summary.resumed_from:
        lines.append(f"  resumes:   {summary.resumed_from}")
    if summary.superseded_by:
        lines.append(f"  superseded by {summary.superseded_by}")
    lines.append("")
    for action in run.actions:
        took = f" in {human_duration(action.duration)}" if action.ended_at else ""
        words = ACTION_WORDS.get(action.kind)
        done = (
            f"{count(action.files_done, words[0])} {words[1]}"
            if words
            else f"{action.files_done:,} done"
        )
        counts = f"{done}, {action.files_unchanged:,} unchanged, {human_size(action.bytes_done)}"
        lines.append(f"{action.id} ({action.kind}): {action.state.value}{took}; {counts}")
        if action.error:
            lines.append(f"    error: {action.error}")
        for item in islice(run.items_of(action), items_shown):
            where = (
                f"{one_line(item.src)} -> {one_line(item.dst)}" if item.src else one_line(item.dst)
            )
            size = f", {human_size(item.size)}" if item.kind in ("copy", "move") else ""
            error = f": {item.error}" if item.error else ""
            lines.append(f"    {item.state.value:<9} {item.kind} {where}{size}{error}")
        listed = action.items_journaled or len(action.items)
        if listed > items_shown:
            more = listed - items_shown
            lines.append(f"    ... and {more:,} more items (--format json lists them all)")
    return "\n".join(lines)
