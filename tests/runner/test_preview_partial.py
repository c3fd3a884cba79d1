"""`planner plan` of an action that would fail after changing something (issue 10, item 5): a
directory copy with an unreadable subdirectory copies everything else, so its preview lists the
files it would copy and names the directory it would fail on, and the totals count those files.
Through the real CLI and the real embedded worker; the run right after does exactly that."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from planner.render.run_text import count, human_size
from tests.helpers.cli import CliResult, actions_of, copied_keys, preview_json, run_json
from tests.helpers.unreadable import (
    SIM_PLAN,
    planner_unprivileged,
    raw_tree,
    refuse_to_open,
    unreadable_sim,
)
from tests.helpers.workers import WorkerHandle, start_worker

READABLE = {"out/a.txt", "out/pub/b.txt"}  # the files of `unreadable_sim` outside out/private


def assert_the_preview_counts_what_the_run_did(preview: Any, run: Any) -> None:
    """Per action and in the totals: the files and bytes the preview predicted are those the run
    copied, and each action's error is the same failure."""
    ran = actions_of(run)
    for predicted in preview["actions"]:
        actual = ran[predicted["id"]]
        where = predicted["id"]
        assert predicted["files"] == actual["files_done"], where
        assert predicted["files_unchanged"] == actual["files_unchanged"], where
        assert predicted["bytes"] == actual["bytes"], where
        assert {i["key"] for i in predicted["items"]} == copied_keys(run, where), where
    totals = preview["totals"]
    assert totals["to_copy"] + totals["to_overwrite"] == run["totals"]["copied"]
    assert totals["bytes_to_copy"] + totals["bytes_to_overwrite"] == run["totals"]["bytes"]
    assert totals["unchanged"] == run["totals"]["files_unchanged"]


def test_the_preview_of_a_tree_with_an_unreadable_subdirectory_counts_what_the_run_copies(
    tmp_path: Path, write_plan: Callable[..., Path]
) -> None:
    private = unreadable_sim(tmp_path)
    plan = write_plan(SIM_PLAN)

    text = planner_unprivileged("plan", plan)
    markdown = planner_unprivileged("plan", plan, "--format", "markdown")
    previewed = planner_unprivileged("plan", plan, "--format", "json")
    ran = planner_unprivileged("run", plan, "--format", "json")

    for result in (text, markdown, previewed, ran):
        assert result.returncode == 1, result.stdout + result.stderr
    preview, run = json.loads(previewed.stdout), json.loads(ran.stdout)
    assert copied_keys(run, "results") == READABLE
    assert_the_preview_counts_what_the_run_did(preview, run)
    assert (preview["changes_pending"], preview["would_fail"]) == (True, True)
    unread = f"1 directory not read: local:{private}: Permission denied"
    assert actions_of(preview)["results"]["error"] == unread
    assert actions_of(run)["results"]["error"].endswith(f"local:{private}: Permission denied")

    done = actions_of(run)["results"]
    work = f"{count(done['files_done'], 'file')} ({human_size(done['bytes'])}) to copy"
    totals = f"Plan: {work}; 0 unchanged; 1 action would fail."
    assert f"  ! results  copy  {work}, would fail: {unread}\n" in text.stdout, text.stdout
    assert f"\n{totals}\n" in text.stdout, text.stdout
    assert f"| `!` | `results` | copy | {work}, would fail: {unread} |" in markdown.stdout
    assert f"\n{totals}\n" in markdown.stdout, markdown.stdout
    assert preview["actions"][0]["summary"] == f"{work}, would fail: {unread}"

    # after the fix, the preview predicts only the rest, and the run copies just that
    private.chmod(0o755)
    previewed = planner_unprivileged("plan", plan, "--format", "json")
    ran = planner_unprivileged("run", plan, "--format", "json")

    assert (previewed.returncode, ran.returncode) == (0, 0), previewed.stderr + ran.stderr
    preview, run = json.loads(previewed.stdout), json.loads(ran.stdout)
    assert copied_keys(run, "results") == {"out/private/secret.txt", "out/private/deep/more.txt"}
    assert_the_preview_counts_what_the_run_did(preview, run)
    assert preview["totals"]["unchanged"] == len(READABLE)
    assert raw_tree(tmp_path / "dst" / "copy") == raw_tree(tmp_path / "src" / "sim")


@pytest.fixture
def plain_worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[WorkerHandle]:
    """A worker in this process without planner's recursive `list` (listing level by level)."""
    embedded, handle = start_worker(
        tmp_path / "worker", recursive_listing=False, tree_operations=False
    )
    monkeypatch.setenv("PLANNER_TOKEN", handle.token)
    try:
        yield handle
    finally:
        embedded.stop()


def test_listing_level_by_level_the_preview_counts_what_the_run_copies_around_the_unreadable(
    tmp_path: Path,
    write_plan: Callable[..., Path],
    plain_worker: WorkerHandle,
    run_cli: Callable[..., CliResult],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    private = unreadable_sim(tmp_path)
    refuse_to_open(private, monkeypatch)
    plan = write_plan(SIM_PLAN)

    code, preview = preview_json(run_cli, plan, "--api-url", plain_worker.url)
    assert code == 1, preview
    code, run = run_json(run_cli, plan, "--api-url", plain_worker.url)
    assert code == 1, run

    assert copied_keys(run, "results") == READABLE
    assert_the_preview_counts_what_the_run_did(preview, run)
    assert actions_of(preview)["results"]["error"] == (
        f"1 directory not read: local:{private}: Permission denied"
    )
