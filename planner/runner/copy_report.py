"""What a directory copy tells once it has decided and copied, the same on its item path
(action_copy.py) and its tree-operation path (action_tree.py): the unchanged and filtered
counts, the include that selects nothing, the empty directories made, the special files
skipped and the unreadable directories that fail the action."""

from __future__ import annotations

from collections.abc import Sequence

from planner.plan.model import CopyAction
from planner.runner.action_probe import join_target
from planner.runner.context import ActionContext, ActionFailedError
from planner.runner.engine import Target
from planner.runner.results import Change


def report_decided(
    ctx: ActionContext, action: CopyAction, *, unchanged: int, filtered: int, decided: int
) -> None:
    """Count the files left unchanged and filtered out on the action's line; warn when an
    include left out every file (`decided`: the files to copy, whatever became of them)."""
    ctx.result.files_unchanged = unchanged
    ctx.result.files_filtered = filtered
    if unchanged:
        ctx.result.detail.append(files_text(unchanged, "unchanged"))
    if filtered:
        ctx.result.detail.append(files_text(filtered, "filtered out"))
    if action.include and filtered and not decided and not unchanged:
        patterns = ", ".join(action.include)
        ctx.result.warnings.append(
            f"include ({patterns}) selects none of the {files_text(filtered, 'in')} {action.src}"
        )


def report_directories_made(ctx: ActionContext, made: int) -> None:
    """Count the empty directories a directory copy created."""
    if made:
        ctx.result.dirs_made = made
        ctx.result.detail.append(count_text(made, "empty directory", "created"))
        if ctx.result.change is Change.UNCHANGED:
            ctx.result.change = Change.CREATE


def report_problems(
    ctx: ActionContext,
    src: Target,
    skipped: Sequence[tuple[str, str]],
    unreadable: Sequence[tuple[str, str]],
    failed: ActionFailedError | None,
) -> None:
    """Count the skipped files (path, why) on the action line and list them in its result; fail
    the action naming every unreadable directory (path, error) after everything readable was
    copied, as rsync does, or with `failed`, the copy's own failure."""
    if skipped:
        ctx.result.skipped = [{"path": p, "reason": why} for p, why in sorted(skipped)]
        kinds = ", ".join(sorted({why for _, why in skipped}))
        ctx.result.detail.append(f"{count_text(len(skipped), 'special file', 'skipped')} ({kinds})")
    messages = [str(failed)] if failed is not None else []
    if unreadable:
        named = "; ".join(f"{join_target(src, p)}: {error}" for p, error in sorted(unreadable))
        unread = count_text(len(unreadable), "directory", "not read")
        done = failed is None and not ctx.previewing  # a preview lists what it would copy
        rest = ", everything else copied" if done else ""
        messages.append(f"{unread}{rest}: {named}")
    if messages:
        raise ActionFailedError("; ".join(messages))


def count_text(n: int, noun: str, what: str) -> str:
    """`1 empty directory created`, `2 special files skipped`."""
    plural = noun[:-1] + "ies" if noun.endswith("y") else noun + "s"
    return f"{n:,} {noun if n == 1 else plural} {what}"


def files_text(n: int, what: str) -> str:
    """`1 file unchanged`, `3 files filtered out`."""
    return f"{n:,} file{'s' if n != 1 else ''} {what}"
