"""The preview's totals line (issue 10, item 7): each kind with its own bytes, and numbers
formatted as the run formats them (`29,982`); what an action that would fail still changes is
described and counted (item 5)."""

from __future__ import annotations

from planner.render.preview import PreviewTotals, describe, totals, totals_line
from planner.render.run_text import count
from planner.runner.results import ActionResult, ActionState, RunResult


def test_overwrites_have_their_own_bytes_and_numbers_have_separators() -> None:
    totals = PreviewTotals(
        to_copy=1,
        bytes_to_copy=104_900_000,
        to_overwrite=21,
        bytes_to_overwrite=2_100_000,
        to_move=1_500,
        bytes_to_move=1_500,
        to_delete=2_000,
        directories=2,
        grants=1,
        metadata=3,
        unchanged=29_982,
        filtered=1_234,
        compared=4_000,
    )
    assert totals_line(totals) == (
        "Plan: 1 file (104.9 MB) to copy, 21 (2.1 MB) to overwrite, 1,500 (1.5 kB) to move, "
        "2,000 to delete, 2 directories to create, 1 grant, 3 metadata changes; "
        "29,982 unchanged, 1,234 filtered out, 4,000 compared by checksum."
    )


def test_counts_that_are_zero_are_left_out_and_the_first_one_names_the_unit() -> None:
    assert totals_line(PreviewTotals(to_overwrite=1, bytes_to_overwrite=23, unchanged=4)) == (
        "Plan: 1 file (23 B) to overwrite; 4 unchanged."
    )
    moves = PreviewTotals(to_move=2, bytes_to_move=10, directories=1)
    assert totals_line(moves) == "Plan: 2 files (10 B) to move, 1 directory to create; 0 unchanged."
    assert totals_line(PreviewTotals(grants=2)) == "Plan: 2 grants; 0 unchanged."


def test_failing_and_skipped_actions_are_counted_with_separators() -> None:
    totals = PreviewTotals(failing=1, skipped=1_001)
    assert totals_line(totals) == (
        "Plan: 0 files (0 B) to copy; 0 unchanged; 1 action would fail, 1,001 would be skipped."
    )


def test_nouns_ending_in_y_pluralise() -> None:
    assert [count(1, "directory"), count(2, "directory"), count(2, "key")] == [
        "1 directory",
        "2 directories",
        "2 keys",
    ]


def test_an_action_that_would_fail_after_changing_files_says_both_and_is_counted() -> None:
    partial = ActionResult(
        "results",
        "copy",
        state=ActionState.FAILED,
        error="1 directory not read: local:/sim/out/private: Permission denied",
        files_done=3,
        bytes_done=3_000,
        files_replaced=1,
        bytes_replaced=1_000,
        files_unchanged=4,
    )
    nothing = ActionResult("gone", "removal", state=ActionState.FAILED, error="not allowed")
    deleted = ActionResult(
        "junk", "removal", state=ActionState.FAILED, error="one refused", files_done=2
    )
    run = RunResult("preview", "plan.yaml", "plan", "", 0.0, actions=[partial, nothing, deleted])

    assert describe(partial) == (
        "2 files (2.0 kB) to copy, 1 (1.0 kB) to overwrite, 4 unchanged, "
        "would fail: 1 directory not read: local:/sim/out/private: Permission denied"
    )
    assert describe(nothing) == "would fail: not allowed"
    assert describe(deleted) == "2 paths to delete, would fail: one refused"
    assert totals_line(totals(run)) == (
        "Plan: 2 files (2.0 kB) to copy, 1 (1.0 kB) to overwrite, 2 to delete; 4 unchanged; "
        "3 actions would fail."
    )
