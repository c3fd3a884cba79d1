"""Mirror copies (`mirror: true`, issue 13) through the real CLI against a real worker, with and
without tree operations: what the destination holds beyond the filtered source is deleted after
the copies (excluded files protected unless `delete_excluded`, directories whole, symlinks as
links), `max_delete` and `--max-delete` refuse before deleting anything, a failed copy deletes
nothing, and the preview predicts exactly what the run does."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.cli import EXAMPLES, CliResult, actions_of, preview_json, run_json
from tests.helpers.trees import make_tree, tree_contents
from tests.helpers.workers import start_worker

PLAN = """
    version: 1
    storages:
      src: {{remote: local, root: ./src}}
      dst: {{remote: local, root: ./dst}}
    copies:
      - id: mirror
        src: src:t/
        dst: dst:m/
        mirror: true
{extra}
"""
SOURCE = {"a.txt": b"a", "sub/b.txt": b"bb", "sub/c.csv": b"ccc"}
# what the destination holds before the mirror: a stale copy, extraneous files and directories,
# and a file the filters of some tests exclude
EXTRA = {
    "a.txt": b"old a",
    "gone.txt": b"gone!",
    "sub/stale.csv": b"stale",
    "old/deep/x.bin": b"xx",
    "old/y.bin": b"y",
    "notes.tmp": b"private",
    "sub/cache.tmp": b"cached",
}


@pytest.fixture(params=[True, False], ids=["tree-operations", "plain"])
def api(
    tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, ...]]:
    """`--api-url` of a real worker in this process, with tree operations or without (the
    runner's item path)."""
    embedded, handle = start_worker(tmp_path / "worker", tree_operations=request.param)
    monkeypatch.setenv("PLANNER_TOKEN", handle.token)
    try:
        yield ("--api-url", handle.url)
    finally:
        embedded.stop()


def setup(tmp_path: Path, write_plan: Callable[..., Path], *extra: str) -> Path:
    make_tree(tmp_path / "src" / "t", SOURCE)
    make_tree(tmp_path / "dst" / "m", EXTRA)
    return write_plan(PLAN.format(extra="\n".join(f"        {line}" for line in extra)))


def deletions(document: Any, action_id: str = "mirror") -> dict[str, str]:
    """The deletion items of an action: key -> kind (remove, rmdir)."""
    items = actions_of(document)[action_id]["items"]
    return topmost({i["key"]: i["kind"] for i in items if i["kind"] in ("remove", "rmdir")})


def topmost(deleted: dict[str, str]) -> dict[str, str]:
    """Deletions without those below a deleted directory: a tree operation rows every path it
    deletes, the item path removes a directory with one rmdir."""
    dirs = [k for k, kind in deleted.items() if kind == "rmdir"]
    return {k: kind for k, kind in deleted.items() if not any(k.startswith(f"{d}/") for d in dirs)}


def succeeded(document: Any, action_id: str = "mirror") -> dict[str, str]:
    """The deletions an action made (topmost)."""
    items = actions_of(document)[action_id]["items"]
    return topmost(
        {
            i["key"]: i["kind"]
            for i in items
            if i["kind"] in ("remove", "rmdir") and i["state"] == "succeeded"
        }
    )


def test_a_mirror_deletes_what_the_source_lacks_directories_whole(
    tmp_path: Path,
    write_plan: Callable[..., Path],
    run_cli: Callable[..., CliResult],
    api: tuple[str, ...],
    request: pytest.FixtureRequest,
) -> None:
    plan = setup(tmp_path, write_plan)

    code, preview = preview_json(run_cli, plan, *api)
    assert code == 0, preview
    code, run = run_json(run_cli, plan, *api)

    assert code == 0, run
    assert tree_contents(tmp_path / "dst" / "m") == tree_contents(tmp_path / "src" / "t")
    expected = {
        "gone.txt": "remove",
        "notes.tmp": "remove",
        "old": "rmdir",
        "sub/cache.tmp": "remove",
        "sub/stale.csv": "remove",
    }
    assert succeeded(run) == expected
    assert deletions(preview) == expected
    items = {i["key"]: i["kind"] for i in actions_of(run)["mirror"]["items"]}
    if request.node.callspec.params["api"]:  # the worker rows every path it deletes
        below = {"old/deep/x.bin": "remove", "old/deep": "rmdir", "old/y.bin": "remove"}
        assert below.items() <= items.items()
    else:  # one rmdir item for the whole directory
        assert not [k for k in items if k.startswith("old/")]
    mirror = actions_of(run)["mirror"]
    # old/ counts as itself, old/deep/, old/deep/x.bin and old/y.bin
    assert (mirror["files_deleted"], mirror["bytes_deleted"]) == (8, 5 + 7 + 5 + 6 + 3)
    assert actions_of(preview)["mirror"]["files_deleted"] == 8
    assert preview["totals"]["to_delete"] == 8
    assert preview["totals"]["bytes_to_delete"] == 26
    assert run["totals"]["deleted"] == 8
    text = run_cli("plan", plan, *api)
    assert "= mirror  copy  unchanged (3 files)" in text.stdout
    again = run_cli("run", plan, *api)
    assert again.code == 0
    assert "mirror (copy): succeeded: 3 unchanged in" in again.stdout


def test_the_preview_line_and_the_run_summary_count_deletions(
    tmp_path: Path,
    write_plan: Callable[..., Path],
    run_cli: Callable[..., CliResult],
    api: tuple[str, ...],
) -> None:
    plan = setup(tmp_path, write_plan)

    preview = run_cli("plan", plan, *api)
    run = run_cli("run", plan, *api)

    assert "~ mirror  copy  2 files (5 B) to copy, 1 (1 B) to overwrite, 8 paths (26 B) to " in (
        preview.stdout
    )
    assert "Plan: 2 files (5 B) to copy, 1 (1 B) to overwrite, 8 (26 B) to delete;" in (
        preview.stdout
    )
    assert "3 files copied, 8 paths deleted," in run.stdout


def test_excluded_files_are_protected_unless_delete_excluded(
    tmp_path: Path,
    write_plan: Callable[..., Path],
    run_cli: Callable[..., CliResult],
    api: tuple[str, ...],
) -> None:
    plan = setup(tmp_path, write_plan, 'exclude: ["*.tmp"]')

    code, run = run_json(run_cli, plan, *api)

    assert code == 0, run
    assert set(succeeded(run)) == {"gone.txt", "old", "sub/stale.csv"}
    assert (tmp_path / "dst" / "m" / "notes.tmp").read_bytes() == b"private"
    assert (tmp_path / "dst" / "m" / "sub" / "cache.tmp").read_bytes() == b"cached"

    plan = write_plan(
        PLAN.format(extra='        exclude: ["*.tmp"]\n        delete_excluded: true')
    )
    code, run = run_json(run_cli, plan, *api)
    assert code == 0, run
    assert set(succeeded(run)) == {"notes.tmp", "sub/cache.tmp"}
    assert tree_contents(tmp_path / "dst" / "m") == tree_contents(tmp_path / "src" / "t")


def test_a_directory_holding_a_protected_file_stays_with_it(
    tmp_path: Path,
    write_plan: Callable[..., Path],
    run_cli: Callable[..., CliResult],
    api: tuple[str, ...],
) -> None:
    plan = setup(tmp_path, write_plan, 'include: ["*.txt", "*.csv", "*.log"]')
    make_tree(tmp_path / "dst" / "m", {"logs/keep.bin": b"k", "logs/drop.log": b"d"})

    code, run = run_json(run_cli, plan, *api)

    assert code == 0, run
    assert set(succeeded(run)) == {"gone.txt", "sub/stale.csv", "logs/drop.log"}
    kept = tree_contents(tmp_path / "dst" / "m")
    assert kept["logs/keep.bin"] == b"k"
    assert kept["old/y.bin"] == b"y"  # not included, so protected, and old/ with it


def test_max_delete_refuses_before_deleting_anything(
    tmp_path: Path,
    write_plan: Callable[..., Path],
    run_cli: Callable[..., CliResult],
    api: tuple[str, ...],
) -> None:
    plan = setup(tmp_path, write_plan, "max_delete: 7")
    before = tree_contents(tmp_path / "dst" / "m")

    code, preview = preview_json(run_cli, plan, *api)
    assert code == 1
    code, run = run_json(run_cli, plan, *api)

    assert code == 1
    message = "mirror: 8 deletions needed, more than max_delete 7: nothing deleted"
    assert actions_of(run)["mirror"]["error"] == message
    assert actions_of(preview)["mirror"]["error"] == message
    after = tree_contents(tmp_path / "dst" / "m")
    assert {k: v for k, v in after.items() if k in before and k != "a.txt"} == {
        k: v for k, v in before.items() if k != "a.txt"
    }
    assert succeeded(run) == {}
    # the copies were made
    assert after["a.txt"] == b"a"
    assert after["sub/b.txt"] == b"bb"
    # the run's cap: the smaller of both wins
    code, run = run_json(run_cli, plan, *api, "--max-delete", "100")
    assert code == 1
    assert actions_of(run)["mirror"]["error"] == message


def test_the_run_option_caps_every_mirror(
    tmp_path: Path,
    write_plan: Callable[..., Path],
    run_cli: Callable[..., CliResult],
    api: tuple[str, ...],
) -> None:
    plan = setup(tmp_path, write_plan, "max_delete: 100")

    refused = run_cli("run", plan, *api, "--max-delete", "3")

    assert refused.code == 1
    assert "mirror: 8 deletions needed, more than max_delete 3: nothing deleted" in refused.stdout
    assert (tmp_path / "dst" / "m" / "gone.txt").exists()
    code, run = run_json(run_cli, plan, *api, "--max-delete", "8")
    assert code == 0, run
    assert not (tmp_path / "dst" / "m" / "gone.txt").exists()


def test_a_symlink_at_the_destination_is_deleted_not_followed(
    tmp_path: Path,
    write_plan: Callable[..., Path],
    run_cli: Callable[..., CliResult],
    api: tuple[str, ...],
) -> None:
    plan = setup(tmp_path, write_plan)
    target = make_tree(tmp_path / "dst" / "elsewhere", {"keep/me.txt": b"me", "file.txt": b"f"})
    (tmp_path / "dst" / "m" / "dirlink").symlink_to("../elsewhere/keep")
    (tmp_path / "dst" / "m" / "sub" / "filelink").symlink_to("../../elsewhere/file.txt")

    code, run = run_json(run_cli, plan, *api)

    assert code == 0, run
    assert succeeded(run)["dirlink"] == "remove"
    assert succeeded(run)["sub/filelink"] == "remove"
    assert not os.path.lexists(tmp_path / "dst" / "m" / "dirlink")
    assert not os.path.lexists(tmp_path / "dst" / "m" / "sub" / "filelink")
    assert tree_contents(tmp_path / "dst" / "elsewhere") == {
        k: target[k] for k in ("file.txt", "keep/me.txt")
    } | {"keep": None}


def test_a_failed_copy_deletes_nothing(
    tmp_path: Path,
    write_plan: Callable[..., Path],
    run_cli: Callable[..., CliResult],
    api: tuple[str, ...],
) -> None:
    plan = setup(tmp_path, write_plan)
    (tmp_path / "dst" / "m" / "sub" / "b.txt").mkdir()  # a directory where a file must go

    code, run = run_json(run_cli, plan, *api)

    assert code == 1
    assert "b.txt" in actions_of(run)["mirror"]["error"]
    assert succeeded(run) == {}
    assert (tmp_path / "dst" / "m" / "gone.txt").exists()
    assert (tmp_path / "dst" / "m" / "old" / "y.bin").exists()


@pytest.mark.parametrize("overwrite", ["always", "never", "if-newer", "if-different"])
@pytest.mark.parametrize(
    "extra",
    [(), ('exclude: ["*.tmp"]',), ('exclude: ["*.tmp"]', "delete_excluded: true")],
    ids=["no-filters", "filters", "delete-excluded"],
)
def test_the_preview_predicts_the_mirror_exactly(
    tmp_path: Path,
    write_plan: Callable[..., Path],
    run_cli: Callable[..., CliResult],
    api: tuple[str, ...],
    overwrite: str,
    extra: tuple[str, ...],
) -> None:
    plan = setup(tmp_path, write_plan, f"overwrite: {overwrite}", *extra)

    code, preview = preview_json(run_cli, plan, *api)
    assert code == 0, preview
    code, run = run_json(run_cli, plan, *api)
    assert code == 0, run

    planned = actions_of(preview)["mirror"]
    done = actions_of(run)["mirror"]
    assert {(i["key"], i["kind"]) for i in planned["items"]} == {
        (i["key"], i["kind"]) for i in done["items"] if i["state"] == "succeeded"
    }
    assert (planned["files_deleted"], planned["bytes_deleted"]) == (
        done["files_deleted"],
        done["bytes_deleted"],
    )
    assert (planned["files"], planned["bytes"]) == (done["files_done"], done["bytes"])
    code, again = preview_json(run_cli, plan, *api)
    assert code == 0, again
    assert again["totals"]["to_delete"] == 0  # the mirror left nothing to delete
    # and nothing to copy, but with `overwrite: always`
    assert again["changes_pending"] is (overwrite == "always")


def test_mirror_keys_are_validated_where_they_are(
    tmp_path: Path, write_plan: Callable[..., Path], run_cli: Callable[..., CliResult]
) -> None:
    plan = write_plan(
        """
        version: 1
        storages:
          data: {remote: local, root: ./data}
        copies:
          - {id: a, src: "data:s/", dst: "data:d/", delete_excluded: true}
          - {id: b, src: "data:s/", dst: "data:d/", max_delete: 3}
          - {id: c, src: "data:top/s/", dst: "data:top/", mirror: true}
          - {id: d, src: "data:s/", dst: "data:e/", mirror: true, max_delete: -1}
        """
    )

    result = run_cli("validate", plan)

    assert result.code == 2
    lines = (result.stdout + result.stderr).splitlines()
    assert lines[:4] == [
        f"{plan}:5:62: error: copies[0].delete_excluded: delete_excluded needs mirror: true on "
        "this copy",
        f"{plan}:6:57: error: copies[1].max_delete: max_delete needs mirror: true on this copy",
        f"{plan}:7:59: error: copies[2].mirror: 'data:top/s/' is inside the mirror's destination "
        "'data:top/': the mirror would delete its own source; mirror into a directory beside it",
        f"{plan}:8:71: error: copies[3].max_delete: must be at least 0, got -1",
    ]


def test_mirror_of_a_file_fails(
    tmp_path: Path, write_plan: Callable[..., Path], run_cli: Callable[..., CliResult]
) -> None:
    make_tree(tmp_path / "data", {"f.txt": b"f"})
    plan = write_plan(
        """
        version: 1
        storages:
          data: {remote: local, root: ./data}
        copies:
          - {id: f, src: "data:f.txt", dst: "data:g.txt", mirror: true}
        """
    )

    code, run = run_json(run_cli, plan)

    assert code == 1
    assert actions_of(run)["f"]["error"] == (
        "data:f.txt: is a file; mirror: true mirrors a directory into another"
    )


def test_the_mirror_example_deletes_extraneous_paths_and_protects_drafts(
    tmp_path: Path, run_cli: Callable[..., CliResult]
) -> None:
    example = tmp_path / "mirror"
    shutil.copytree(EXAMPLES / "mirror", example, ignore=shutil.ignore_patterns(".planner", "out"))
    plan, out = example / "plan.yaml", example / "out" / "site"
    first = run_cli("run", plan)
    assert first.code == 0, first.stdout + first.stderr
    assert "publish (copy): succeeded: 2 files copied, 1 filtered out," in first.stdout
    make_tree(out, {"old.html": b"removed from the site", "notes.draft": b"mine"})
    (out / "stale" / "deep").mkdir(parents=True)

    preview = run_cli("plan", plan)
    assert "- publish  copy  2 unchanged, 3 paths (21 B) to delete, 1 filtered out" in (
        preview.stdout
    )
    code, run = run_json(run_cli, plan)

    assert code == 0, run
    assert succeeded(run, "publish") == {"old.html": "remove", "stale": "rmdir"}
    assert tree_contents(out) == {
        "index.html": b"<h1>home</h1>\n",
        "notes.draft": b"mine",
        "pages": None,
        "pages/about.html": b"<h1>about</h1>\n",
    }
