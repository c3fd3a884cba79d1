"""A run as text for people: one status per action and the final summary every reporter prints
(docs/run.md). Sizes use decimal units (kB, MB, GB); durations read 12.4s or 3m05s."""

from __future__ import annotations

from collections.abc import Mapping

from planner.render.style import paint
from planner.runner.results import (
    DONE_BY_KIND,
    ActionResult,
    ActionState,
    ItemRecord,
    ItemState,
    RunResult,
)

_UNITS = ("B", "kB", "MB", "GB", "TB", "PB")
_STATE_COLOR = {
    ActionState.SUCCEEDED: "green",
    ActionState.FAILED: "red",
    ActionState.SKIPPED: "yellow",
    ActionState.RUNNING: "cyan",
}
_OUTCOME_COLOR = {"succeeded": "green", "failed": "red", "interrupted": "yellow"}


def human_size(nbytes: float) -> str:
    """`512 B`, `3.4 MB`, `1.2 GB`: decimal units, one decimal above bytes."""
    if nbytes < 1000:
        return f"{int(nbytes)} B"
    value = float(nbytes)
    for unit in _UNITS[1:]:
        value /= 1000
        # 999.95 kB would print as "1000.0 kB": move up a unit instead.
        if round(value, 1) < 1000 or unit == _UNITS[-1]:
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")


def human_duration(seconds: float) -> str:
    """`0.8s`, `12.4s`, `3m05s`, `1h02m07s`."""
    seconds = max(0.0, seconds)
    if round(seconds, 1) < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    return f"{minutes}m{secs:02d}s"


def count(n: int, noun: str) -> str:
    """`1 file`, `1,234 files`, `2 directories`."""
    if n == 1:
        return f"{n:,} {noun}"
    plural = noun[:-1] + "ies" if noun.endswith("y") and noun[-2:-1] not in "aeiou" else noun + "s"
    return f"{n:,} {plural}"


def count_dirs(n: int) -> str:
    """`1 empty directory`, `2 empty directories`."""
    return f"{n:,} empty director{'y' if n == 1 else 'ies'}"


def outcome(run: RunResult) -> str:
    """`succeeded`, `failed` or `interrupted`: the word the summary and the JSON document use."""
    if run.interrupted:
        return "interrupted"
    return "succeeded" if run.is_success else "failed"


# what an action's files_done counts, per kind: (noun, verb)
ACTION_WORDS = {
    "copy": ("file", "copied"),
    "move": ("path", "moved"),
    "removal": ("path", "deleted"),
    "directory": ("directory", "created"),
    "metadata": ("key", "changed"),
    "permission": ("grant", "changed"),
}


def action_status(action: ActionResult, color: bool = False) -> str:
    """`running`, `succeeded: 12 files, 3.4 MB in 1.2s`, `failed: <error>`, `skipped: ...`."""
    state = paint(action.state.value, color, fg=_STATE_COLOR.get(action.state))
    match action.state:
        case ActionState.SUCCEEDED:
            noun, verb = ACTION_WORDS.get(action.kind, ("item", "done"))
            parts = [f"{count(action.files_done, noun)} {verb}"] if action.files_done else []
            if action.files_unchanged:
                parts.append(f"{action.files_unchanged:,} unchanged")
            if action.dirs_made:
                parts.append(f"{count_dirs(action.dirs_made)} created")
            if action.files_deleted:
                parts.append(f"{count(action.files_deleted, 'path')} deleted")
            if action.skipped:
                parts.append(f"{count(len(action.skipped), 'special file')} skipped")
            parts.extend(extra_counts(action))
            if action.bytes_done:
                parts.append(human_size(action.bytes_done))
            done = f": {', '.join(parts)}" if parts else ""  # a check or a no-op has no counts
            return f"{state}{done} in {human_duration(action.duration)}"
        case ActionState.FAILED:
            return f"{state}: {action.error or 'no error recorded'}"
        case ActionState.SKIPPED:
            # The executor records why ("skipped: 'fetch' failed"); keep the word coloured.
            reason = action.error.removeprefix("skipped").lstrip(": ")
            return f"{state}: {reason}" if reason else state
        case _:
            return state


def extra_counts(action: ActionResult) -> list[str]:
    """`3 filtered out`, `12 compared by checksum`: counts an action line adds when non-zero."""
    parts = []
    if action.files_filtered:
        parts.append(f"{action.files_filtered:,} filtered out")
    if action.files_compared:
        parts.append(f"{action.files_compared:,} compared by checksum")
    return parts


def warning_lines(run: RunResult, color: bool = False) -> list[str]:
    """`warning: pick (copy): include (*.csv) selects none of the 3 files in src:` per warning."""
    word = paint("warning", color, fg="yellow")
    return [f"{word}: {a.id} ({a.kind}): {w}" for a in run.actions for w in a.warnings]


def done_counts(totals: Mapping[str, int]) -> list[str]:
    """`120 files copied`, then `5 paths moved`, `2 paths deleted`, `1 directory created`,
    `3 keys changed`, `1 grant changed` when non-zero: every kind of change counted on its own
    (`totals` keyed as `RunResult.totals()`)."""
    parts = []
    for kind, key in DONE_BY_KIND.items():
        noun, verb = ACTION_WORDS[kind]
        if totals[key] or kind == "copy":
            parts.append(f"{count(totals[key], noun)} {verb}")
    return parts


# control characters in a file's name: shown escaped, so that one file is one line of the log
_CONTROLS = {c: f"\\x{c:02x}" for c in [*range(0x20), *range(0x7F, 0xA0)]}
_CONTROLS |= {ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"}


def one_line(path: str) -> str:
    """`path` with its control characters escaped (`new\\nline.txt`): one line of a log."""
    return path.translate(_CONTROLS)


def file_line(record: ItemRecord) -> str | None:
    """`+ copied local:out/a.csv (1.2 kB)`, `~ overwritten ...`, `- deleted ...`, `+ moved A -> B
    (size)`, `+ created DIR/`: one succeeded item as `planner run -v` lists it, like `rsync -v`;
    None for an item that did not succeed. Control characters in names are escaped (`\\n`,
    `\\x1b`): one file, one line."""
    if record.state is not ItemState.SUCCEEDED:
        return None
    size = f" ({human_size(record.size)})"
    src, dst = one_line(record.src), one_line(record.dst)
    match record.kind:
        case "copy":
            verb = "~ overwritten" if record.replaced else "+ copied"
            return f"{verb} {dst}{size}"
        case "move":
            verb = "~ moved over" if record.replaced else "+ moved"
            return f"{verb} {src} -> {dst}{size}"
        case "remove" | "rmdir":
            return f"- deleted {dst}{'/' if record.kind == 'rmdir' else ''}"
        case "mkdir":
            return f"+ created {dst}/"
        case _:
            return None


def action_line(action: ActionResult, color: bool = False) -> str:
    """`fetch-inputs (copy): succeeded: 12 files, 3.4 MB in 1.2s`."""
    return f"{action.id} ({action.kind}): {action_status(action, color)}"


def summary_lines(run: RunResult, color: bool = False) -> list[str]:
    """The final summary: one line of counts, then one line per failed action with its error.

    `Run 20261123T184500-3f2a succeeded: 4 actions succeeded, 0 failed, 0 skipped;
    120 files copied, 5 paths deleted, 88 unchanged, 340.2 MB in 12.4s` (on one line), then a
    line per warning (an include that selects nothing).
    """
    word = outcome(run)
    succeeded, failed, skipped = len(run.succeeded), len(run.failed), len(run.skipped)
    not_run = len(run.actions) - succeeded - failed - skipped
    actions = f"{count(succeeded, 'action')} succeeded, {failed:,} failed, {skipped:,} skipped"
    if not_run:
        actions += f", {not_run:,} not run"
    totals = run.totals()
    files = ", ".join(
        [
            *done_counts(totals),
            f"{totals['files_skipped']:,} unchanged",
            *([f"{totals['files_filtered']:,} filtered out"] if totals["files_filtered"] else []),
            f"{human_size(totals['bytes'])} in {human_duration(run.duration)}",
        ]
    )
    head = f"Run {run.run_id} {paint(word, color, fg=_OUTCOME_COLOR[word], bold=True)}"
    lines = [f"{head}: {actions}; {files}", *warning_lines(run, color)]
    red = paint("failed", color, fg="red")
    lines.extend(f"  {a.id} ({a.kind}) {red}: {a.error or 'no error recorded'}" for a in run.failed)
    return lines
