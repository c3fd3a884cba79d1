"""The outputs of `planner plan`: Terraform-style text, a markdown table for pull requests, and
the JSON document (format_version 1). Each action is one line with its symbol: `+` create,
`~` change or overwrite, `=` unchanged, `-` delete, `!` would fail (or would be skipped after a
failure)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from planner.render.run_json import FORMAT_VERSION
from planner.render.run_text import count, count_dirs, extra_counts, human_size
from planner.render.style import paint
from planner.runner.results import ActionResult, ActionState, Change, RunResult

_COLORS = {"+": "green", "~": "yellow", "-": "red", "!": "red", "=": None}


@dataclass
class PreviewTotals:
    """What the whole preview adds up to."""

    to_copy: int = 0
    bytes_to_copy: int = 0
    to_overwrite: int = 0
    bytes_to_overwrite: int = 0
    to_move: int = 0
    bytes_to_move: int = 0
    filtered: int = 0
    compared: int = 0
    to_delete: int = 0
    bytes_to_delete: int = 0  # of the files a mirror copy deletes
    directories: int = 0
    grants: int = 0
    revokes: int = 0
    metadata: int = 0
    unchanged: int = 0
    failing: int = 0
    skipped: int = 0

    @property
    def changes(self) -> int:
        return (
            self.to_copy
            + self.to_overwrite
            + self.to_move
            + self.to_delete
            + self.directories
            + self.grants
            + self.revokes
            + self.metadata
        )


def symbol(action: ActionResult) -> str:
    """The action's preview symbol."""
    if action.state is not ActionState.SUCCEEDED:
        return "!"
    return action.change.value


def describe(action: ActionResult) -> str:
    """What the action would do, in a few words. An action that would fail after changing
    something (a directory copy with unreadable subdirectories copies the rest) says both."""
    if action.state is ActionState.FAILED:
        done = _changes(action) if _changes_something(action) else []
        return ", ".join([*done, f"would fail: {action.error}"])
    if action.state is ActionState.SKIPPED:
        return "would be skipped: " + action.error.removeprefix("skipped: ")
    if action.state is not ActionState.SUCCEEDED:
        return "not previewed"
    if action.change is Change.UNCHANGED:
        if action.kind == "check":
            return "holds"
        files = f" ({count(action.files_unchanged, 'file')})" if _files(action) else ""
        extra = ", ".join([*extra_counts(action), *_left_out(action)])
        return "unchanged" + files + (f", {extra}" if extra else "")
    return ", ".join(_changes(action))


def _changes_something(action: ActionResult) -> bool:
    """The action changes files, keys or grants, or makes directories."""
    return action.files_done > 0 or action.dirs_made > 0 or action.files_deleted > 0


def _changes(action: ActionResult) -> list[str]:
    """`3 files (93 B) to copy, 1 (2 B) to overwrite, 2 unchanged`: the action's changes."""
    parts: list[str] = []
    if action.kind in ("copy", "move"):
        new = action.files_done - action.files_replaced
        new_bytes = action.bytes_done - action.bytes_replaced
        verb = "to copy" if action.kind == "copy" else "to move"
        parts += file_counts(
            [(new, new_bytes, verb), (action.files_replaced, action.bytes_replaced, "to overwrite")]
        )
        if action.files_unchanged:
            parts.append(f"{action.files_unchanged:,} unchanged")
        if action.dirs_made:
            parts.append(f"{count_dirs(action.dirs_made)} to create")
        if action.files_deleted:
            deleted = f"{count(action.files_deleted, 'path')} ({human_size(action.bytes_deleted)})"
            parts.append(f"{deleted} to delete")
        parts.extend(extra_counts(action))
        parts.extend(_left_out(action))
    elif action.kind == "removal":
        parts.append(f"{count(action.files_done, 'path')} to delete")
    elif action.kind == "directory":
        parts.append("to create")
    else:  # permission, metadata: the exact changes
        parts.extend(action.detail)
    return parts


def _left_out(action: ActionResult) -> list[str]:
    """`3 special files skipped` when a directory copy leaves some out."""
    return [f"{count(len(action.skipped), 'special file')} skipped"] if action.skipped else []


def _files(action: ActionResult) -> bool:
    return action.kind == "copy" and action.files_unchanged > 0


def totals(run: RunResult) -> PreviewTotals:
    """Add every action's predicted changes up, those of actions that would fail included: what
    they would change before failing is changed by the run too."""
    t = PreviewTotals()
    for a in run.actions:
        if a.state is ActionState.FAILED:
            t.failing += 1
        elif a.state is not ActionState.SUCCEEDED:
            t.skipped += 1
            continue
        t.unchanged += a.files_unchanged
        t.filtered += a.files_filtered
        t.compared += a.files_compared
        if a.kind == "copy":
            t.to_copy += a.files_done - a.files_replaced
            t.bytes_to_copy += a.bytes_done - a.bytes_replaced
            t.to_overwrite += a.files_replaced
            t.bytes_to_overwrite += a.bytes_replaced
            t.to_delete += a.files_deleted
            t.bytes_to_delete += a.bytes_deleted
        elif a.kind == "move":
            t.to_move += a.files_done - a.files_replaced
            t.bytes_to_move += a.bytes_done - a.bytes_replaced
            t.to_overwrite += a.files_replaced
            t.bytes_to_overwrite += a.bytes_replaced
        elif a.kind == "removal":
            t.to_delete += a.files_done
        elif a.kind == "directory":
            t.directories += a.files_done
        elif a.kind == "permission":
            t.grants += sum(1 for d in a.detail if d.startswith("grant "))
            t.revokes += sum(1 for d in a.detail if d.startswith("revoke "))
        elif a.kind == "metadata":
            t.metadata += a.files_done
    return t


def file_counts(changes: list[tuple[int, int, str]]) -> list[str]:
    """`2 files (5 B) to copy, 1 (1 B) to overwrite` from (files, bytes, what) in that order:
    the first count present names its unit, those that are zero are left out."""
    parts: list[str] = []
    for files, size, what in changes:
        if files:
            shown = f"{files:,}" if parts else count(files, "file")
            parts.append(f"{shown} ({human_size(size)}) {what}")
    return parts


def totals_line(t: PreviewTotals) -> str:
    """`Plan: 120 files (340.0 MB) to copy, 3 (1.2 MB) to overwrite, 2 to delete, ...;
    88 unchanged.`: each kind with its own bytes, numbers as the run prints them (`29,982`)."""
    parts = file_counts(
        [
            (t.to_copy, t.bytes_to_copy, "to copy"),
            (t.to_overwrite, t.bytes_to_overwrite, "to overwrite"),
            (t.to_move, t.bytes_to_move, "to move"),
        ]
    )
    if t.to_delete:
        freed = f" ({human_size(t.bytes_to_delete)})" if t.bytes_to_delete else ""
        parts.append(f"{t.to_delete:,}{freed} to delete")
    if t.directories:
        parts.append(f"{count(t.directories, 'directory')} to create")
    parts += [
        count(n, noun)
        for n, noun in ((t.grants, "grant"), (t.revokes, "revoke"), (t.metadata, "metadata change"))
        if n
    ]
    line = f"Plan: {', '.join(parts or ['0 files (0 B) to copy'])}; {t.unchanged:,} unchanged"
    if t.filtered:
        line += f", {t.filtered:,} filtered out"
    if t.compared:
        line += f", {t.compared:,} compared by checksum"
    if t.failing or t.skipped:
        line += f"; {count(t.failing, 'action')} would fail"
        if t.skipped:
            line += f", {t.skipped:,} would be skipped"
    return line + "."


def render_preview_text(run: RunResult, where: str, color: bool = False) -> str:
    """Terraform-like: one line per action in execution order, then the totals line."""
    width = max((len(a.id) for a in run.actions), default=0)
    kinds = max((len(a.kind) for a in run.actions), default=0)
    lines = [f"Preview of {run.plan_file} against {where}:", ""]
    for action in run.actions:
        mark = symbol(action)
        shown = paint(mark, color, fg=_COLORS[mark], bold=True) if _COLORS[mark] else mark
        lines.append(f"  {shown} {action.id:<{width}}  {action.kind:<{kinds}}  {describe(action)}")
        word = paint("warning", color, fg="yellow")
        lines += [f"      {word}: {w}" for w in action.warnings]
    lines += ["", totals_line(totals(run))]
    return "\n".join(lines)


def render_preview_markdown(run: RunResult, where: str) -> str:
    """A compact table for a pull-request comment, with per-action details folded away."""
    t = totals(run)
    lines = [
        f"### planner plan: `{run.plan_file}`",
        "",
        totals_line(t),
        "",
        "| | action | kind | change |",
        "|---|---|---|---|",
    ]
    for action in run.actions:
        text = describe(action).replace("|", "\\|")
        lines.append(f"| `{symbol(action)}` | `{action.id}` | {action.kind} | {text} |")
    warnings = [f"> **warning**: `{a.id}`: {w}" for a in run.actions for w in a.warnings]
    if warnings:
        lines += ["", *warnings]
    detailed = [a for a in run.actions if a.detail or a.items]
    if detailed:
        lines += ["", "<details><summary>Details per action</summary>", ""]
        for action in detailed:
            lines.append(f"**{action.id}**")
            lines += [f"- {d}" for d in action.detail]
            shown = action.items[:50]
            lines += [f"- `{i.kind}` {i.dst or i.key}" for i in shown]
            if len(action.items) > len(shown):
                lines.append(f"- … and {len(action.items) - len(shown)} more")
            lines.append("")
        lines.append("</details>")
    lines += ["", f"<sub>previewed against {where}</sub>"]
    return "\n".join(lines)


def preview_document(run: RunResult, api_url: str | None) -> dict[str, object]:
    """The `plan --format json` document as plain data (`api` null: the embedded worker)."""
    t = totals(run)
    return {
        "format_version": FORMAT_VERSION,
        "plan": {"file": run.plan_file, "name": run.plan_name, "digest": run.digest},
        "api": api_url,
        "changes_pending": t.changes > 0,
        "would_fail": t.failing > 0,
        "totals": {
            "to_copy": t.to_copy,
            "bytes_to_copy": t.bytes_to_copy,
            "to_overwrite": t.to_overwrite,
            "bytes_to_overwrite": t.bytes_to_overwrite,
            "to_move": t.to_move,
            "bytes_to_move": t.bytes_to_move,
            "filtered": t.filtered,
            "compared": t.compared,
            "to_delete": t.to_delete,
            "bytes_to_delete": t.bytes_to_delete,
            "directories": t.directories,
            "grants": t.grants,
            "revokes": t.revokes,
            "metadata": t.metadata,
            "unchanged": t.unchanged,
            "failing": t.failing,
            "skipped": t.skipped,
            "api_requests": run.api_requests,
        },
        "actions": [
            {
                "id": a.id,
                "kind": a.kind,
                "symbol": symbol(a),
                "state": "would-succeed" if a.state is ActionState.SUCCEEDED else a.state.value,
                "summary": describe(a),
                "files": a.files_done,
                "files_replaced": a.files_replaced,
                "files_unchanged": a.files_unchanged,
                "files_filtered": a.files_filtered,
                "files_compared": a.files_compared,
                "files_deleted": a.files_deleted,
                "bytes": a.bytes_done,
                "bytes_replaced": a.bytes_replaced,
                "bytes_deleted": a.bytes_deleted,
                "error": a.error,
                "detail": list(a.detail),
                "warnings": list(a.warnings),
                "checksums": dict(sorted(a.checksums.items())),
                "items": [
                    {
                        "key": i.key,
                        "kind": i.kind,
                        "src": i.src,
                        "dst": i.dst,
                        "size": i.size,
                        "checksum": i.checksum,
                    }
                    for i in a.items
                ],
            }
            for a in run.actions
        ],
    }


def render_preview_json(run: RunResult, api_url: str | None) -> str:
    """The `plan --format json` document, indented."""
    return json.dumps(preview_document(run, api_url), indent=2)
