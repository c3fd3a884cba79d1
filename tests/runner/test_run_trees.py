"""Directory copies of awkward trees through the real CLI and the real embedded worker (issue 10):
names that are not valid UTF-8 copied byte for byte (item 22); permission bits and empty
directories kept, special files and symlink loops reported as skipped (item 24, the `trees`
example); an unreadable subdirectory failing only itself, the rest copied and a re-run or
--resume after the fix copying only what was missing (item 5)."""

from __future__ import annotations

import os
import shutil
import socket
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers.cli import EXAMPLES, CliResult, actions_of, copied_keys, run_json
from tests.helpers.unreadable import (
    SIM_PLAN,
    planner_unprivileged,
    raw_tree,
    refuse_to_open,
    unreadable_sim,
)
from tests.helpers.workers import WorkerHandle, start_worker

Q = "\u201b"  # the escaping quote of names that are not valid UTF-8 (docs/api.md)
TREE_PLAN = """
    version: 1
    storages:
      src: {remote: local, root: ./src}
      dst: {remote: local, root: ./dst}
    copies:
      - id: tree
        src: src:t/
        dst: dst:copy/
"""


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- item 22: names that are not valid UTF-8 ------------------------------------------------
def test_a_tree_with_undecodable_names_copies_byte_for_byte(
    tmp_path: Path, write_plan: Callable[..., Path], run_cli: Callable[..., CliResult]
) -> None:
    top = bytes(tmp_path / "src" / "t")
    os.makedirs(top + b"/l\xe4ufe/\xff")
    files = {
        b"caf\xe9.txt": b"latin-1 name",
        b"l\xe4ufe/\xff/deep.bin": bytes(range(256)),
        "new\nline ünï.txt".encode(): b"valid UTF-8, a newline included",
        "quote \u201bE9.txt".encode(): b"a name holding the escaping quote",
    }
    for rel, content in files.items():
        with open(top + b"/" + rel, "wb") as handle:
            handle.write(content)
    plan = write_plan(TREE_PLAN)

    code, document = run_json(run_cli, plan)

    assert code == 0, document
    assert raw_tree(tmp_path / "dst" / "copy") == raw_tree(tmp_path / "src" / "t")
    assert copied_keys(document, "tree") == {
        f"caf{Q}E9.txt",
        f"l{Q}E4ufe/{Q}FF/deep.bin",
        "new\nline ünï.txt",
        f"quote {Q}{Q}E9.txt",
    }
    again = run_cli("run", plan)
    assert again.code == 0, again.stdout + again.stderr
    assert "tree (copy): succeeded: 4 unchanged in" in again.stdout
    preview = run_cli("plan", plan)
    assert preview.code == 0, preview.stdout + preview.stderr
    assert "= tree  copy  unchanged (4 files)" in preview.stdout


# -- item 24: what cp -r / rsync -a keep -------------------------------------------------------
@pytest.fixture
def trees(tmp_path: Path) -> Path:
    """The `trees` example in tmp_path, with what git cannot hold added: an empty directory
    (with an empty one inside), a FIFO, a socket and a symlink loop."""
    example = tmp_path / "trees"
    shutil.copytree(EXAMPLES / "trees", example, ignore=shutil.ignore_patterns(".planner", "out"))
    site = example / "data" / "site"
    (site / "cache" / "thumbs").mkdir(parents=True)
    (site / "drafts").mkdir()
    os.mkfifo(site / "events")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(site / "pages" / "control.sock"))
    (site / "pages" / "again").symlink_to("..")
    (site / "data.lock").write_text("kept private")
    (site / "data.lock").chmod(0o600)
    return example


def test_the_trees_example_keeps_modes_and_empty_directories_and_reports_skips(
    trees: Path, run_cli: Callable[..., CliResult]
) -> None:
    plan, site, out = trees / "plan.yaml", trees / "data" / "site", trees / "out"

    first = run_cli("run", plan)

    assert first.code == 0, first.stdout + first.stderr
    assert "publish (copy): succeeded: 4 files copied, 2 empty directories created, " in (
        first.stdout
    )
    assert "snapshot (copy): succeeded: 4 files copied, 3 special files skipped, " in (first.stdout)
    for copy in ("site", "snapshot"):
        assert mode_of(out / copy / "bin" / "build.sh") == 0o755
        assert mode_of(out / copy / "data.lock") == 0o600
        assert (out / copy / "index.html").read_bytes() == (site / "index.html").read_bytes()
        assert not (out / copy / "events").exists()
        assert not (out / copy / "pages" / "again").exists()
    assert (out / "site" / "cache" / "thumbs").is_dir()
    assert (out / "site" / "drafts").is_dir()
    assert not (out / "snapshot" / "cache").exists()
    assert not (out / "snapshot" / "drafts").exists()

    code, again = run_json(run_cli, plan)
    assert code == 0
    publish = actions_of(again)["publish"]
    assert publish["change"] == "unchanged"
    assert publish["skipped"] == [
        {"path": "events", "reason": "fifo"},
        {"path": "pages/again", "reason": "symlink loop"},
        {"path": "pages/control.sock", "reason": "socket"},
    ]
    assert publish["detail"] == [
        "4 files unchanged",
        "3 special files skipped (fifo, socket, symlink loop)",
    ]


def test_an_excluded_empty_directory_is_not_made(
    tmp_path: Path, write_plan: Callable[..., Path], run_cli: Callable[..., CliResult]
) -> None:
    for rel in ("t/keep/empty", "t/cache/empty"):
        (tmp_path / "src" / rel).mkdir(parents=True)
    plan = write_plan(TREE_PLAN + '        exclude: ["cache/"]\n')

    result = run_cli("run", plan)

    assert result.code == 0, result.stdout + result.stderr
    assert "tree (copy): succeeded: 1 empty directory created in" in result.stdout
    assert raw_tree(tmp_path / "dst" / "copy") == {b"keep": None, b"keep/empty": None}


# -- item 5: an unreadable subdirectory fails only itself ----------------------------------------
@pytest.fixture
def sim(tmp_path: Path, write_plan: Callable[..., Path]) -> Path:
    """The plan copying an `unreadable_sim` tree (src:sim/ to dst:copy/)."""
    unreadable_sim(tmp_path)
    return write_plan(SIM_PLAN)


@pytest.mark.parametrize("after_the_fix", ["run", "run --resume"])
def test_an_unreadable_subdirectory_fails_only_itself(
    tmp_path: Path, sim: Path, run_cli: Callable[..., CliResult], after_the_fix: str
) -> None:
    private = tmp_path / "src" / "sim" / "out" / "private"

    first = planner_unprivileged("run", sim)

    assert first.returncode == 1, first.stdout + first.stderr
    assert (
        "results (copy): failed: 1 directory not read, everything else copied: "
        f"local:{private}: Permission denied\n"
    ) in first.stdout
    assert raw_tree(tmp_path / "dst" / "copy") == {
        b"out": None,
        b"out/a.txt": b"out/a.txt",
        b"out/pub": None,
        b"out/pub/b.txt": b"out/pub/b.txt",
    }

    private.chmod(0o755)
    code, document = run_json(run_cli, sim, *after_the_fix.split()[1:])

    assert code == 0, document
    assert copied_keys(document, "results") == {
        "out/private/secret.txt",
        "out/private/deep/more.txt",
    }
    assert raw_tree(tmp_path / "dst" / "copy") == raw_tree(tmp_path / "src" / "sim")


@pytest.fixture
def plain_worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[WorkerHandle]:
    """A worker in this process without planner's recursive `list` (runs list level by level)."""
    embedded, handle = start_worker(
        tmp_path / "worker", recursive_listing=False, tree_operations=False
    )
    monkeypatch.setenv("PLANNER_TOKEN", handle.token)
    try:
        yield handle
    finally:
        embedded.stop()


def test_listing_level_by_level_an_unreadable_subdirectory_fails_only_itself(
    tmp_path: Path,
    sim: Path,
    plain_worker: WorkerHandle,
    run_cli: Callable[..., CliResult],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    private = tmp_path / "src" / "sim" / "out" / "private"
    refuse_to_open(private, monkeypatch)

    result = run_cli("run", sim, "--api-url", plain_worker.url)

    assert result.code == 1, result.stdout + result.stderr
    assert (
        "results (copy): failed: 1 directory not read, everything else copied: "
        f"local:{private}: Permission denied\n"
    ) in result.stdout
    assert set(raw_tree(tmp_path / "dst" / "copy")) == {
        b"out",
        b"out/a.txt",
        b"out/pub",
        b"out/pub/b.txt",
    }


def test_a_previewed_move_of_a_tree_holding_a_fifo_predicts_the_copy_of_its_files(
    tmp_path: Path, write_plan: Callable[..., Path], run_cli: Callable[..., CliResult]
) -> None:
    (tmp_path / "src" / "t" / "sub").mkdir(parents=True)
    (tmp_path / "src" / "t" / "sub" / "f.txt").write_text("f")
    os.mkfifo(tmp_path / "src" / "t" / "pipe")
    plan = write_plan(
        """
        version: 1
        storages:
          src: {remote: local, root: ./src}
          dst: {remote: local, root: ./dst}
        moves:
          - {id: park, src: "src:t", dst: "src:parked"}
        copies:
          - {id: tree, src: "src:parked/", dst: "dst:copy/"}
        """
    )

    preview = run_cli("plan", plan)

    assert preview.code == 0, preview.stdout + preview.stderr
    assert "+ tree  copy  1 file (1 B) to copy" in preview.stdout, preview.stdout


def test_the_preview_of_the_trees_example_counts_empty_directories_and_skipped_files(
    trees: Path, run_cli: Callable[..., CliResult]
) -> None:
    preview = run_cli("plan", trees / "plan.yaml")

    assert preview.code == 0, preview.stdout + preview.stderr
    assert (
        "  + publish   copy  4 files (65 B) to copy, 2 empty directories to create, "
        "3 special files skipped\n"
        "  + snapshot  copy  4 files (65 B) to copy, 3 special files skipped\n"
    ) in preview.stdout


def test_an_unreadable_file_and_an_unreadable_directory_are_both_named(
    tmp_path: Path, sim: Path, run_cli: Callable[..., CliResult]
) -> None:
    out = tmp_path / "src" / "sim" / "out"
    (out / "locked.txt").write_text("locked")
    (out / "locked.txt").chmod(0)

    first = planner_unprivileged("run", sim)

    assert first.returncode == 1, first.stdout + first.stderr
    assert (
        f"results (copy): failed: local:{out}/locked.txt -> "
        f"local:{tmp_path}/dst/copy/out/locked.txt: Permission denied (code 403); "
        f"1 directory not read: local:{out}/private: Permission denied\n"
    ) in first.stdout
    assert set(raw_tree(tmp_path / "dst" / "copy")) == {
        b"out",
        b"out/a.txt",
        b"out/pub",
        b"out/pub/b.txt",
    }

    (out / "locked.txt").chmod(0o644)
    (out / "private").chmod(0o755)
    code, document = run_json(run_cli, sim)

    assert code == 0, document
    assert copied_keys(document, "results") == {
        "out/locked.txt",
        "out/private/secret.txt",
        "out/private/deep/more.txt",
    }
    assert raw_tree(tmp_path / "dst" / "copy") == raw_tree(tmp_path / "src" / "sim")
