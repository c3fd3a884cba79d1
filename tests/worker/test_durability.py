"""Durable, consistent copies and moves over HTTP (issue 9, items 11-13): a move across
filesystems syncs its destination (files and directories) before it deletes its source, and
`--fsync` does the same for copies; a copy whose source changes meanwhile fails as transient
(503) and records no checksum, in each of the three copy paths; a directory move interrupted
while deleting its source finishes when retried; a move that cannot delete its source changes
nothing.

Two filesystems: the `data` root under tmp_path and the `fast` root in /dev/shm. Where both are
one filesystem, every rename of a move fails with EXDEV instead (the worker runs on a thread of
this process), so the same paths are taken on any machine.
"""

from __future__ import annotations

import errno
import os
import random
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import xxhash

from planner.worker import confine, fileops, moves
from planner.worker.service import ItemContext
from tests.helpers.trees import temp_files, tree_contents
from tests.helpers.two_filesystems import (
    OLD_NS,
    Event,
    TwoFs,
    before_first_delete,
    code_of,
    make_dated_tree,
    move,
    rewrite_in_place,
    two_filesystems,
)
from tests.helpers.worker_api import run, sp

MIB = 1024 * 1024


def copy(fs: TwoFs, src: str, dst: str, src_remote: str = "data", dst_remote: str = "fast") -> Any:
    body = {"operations": [{"src": sp(src, src_remote), "dst": sp(dst, dst_remote)}]}
    return run(fs.client, "/storage:copy", body)


# -- item 11: durable before the source goes; --fsync for copies ---------------------------------


def test_a_file_moved_across_filesystems_is_synced_with_its_directory_before_the_source_goes(
    two_fs: TwoFs, events: list[Event]
) -> None:
    (two_fs.data / "f.bin").write_bytes(b"payload")

    op = move(two_fs, "f.bin", "out/f.bin")

    assert code_of(op) is None, op
    synced = before_first_delete(events)
    assert any(
        os.path.dirname(p) == str(two_fs.fast / "out") and fileops.is_temp_name(os.path.basename(p))
        for p in synced
    ), events
    assert str(two_fs.fast / "out") in synced, events
    assert events[-1] == ("delete", str(two_fs.data / "f.bin"))
    assert (two_fs.fast / "out" / "f.bin").read_bytes() == b"payload"


def test_a_tree_moved_across_filesystems_is_synced_whole_before_the_source_goes(
    two_fs: TwoFs, events: list[Event]
) -> None:
    expected = make_dated_tree(two_fs.data / "tree")

    op = move(two_fs, "tree", "moved")

    assert code_of(op) is None, op
    assert tree_contents(two_fs.fast / "moved") == expected
    assert not (two_fs.data / "tree").exists()
    synced = before_first_delete(events)
    (temp_top,) = {
        p
        for p in synced
        if os.path.dirname(p) == str(two_fs.fast) and fileops.is_temp_name(os.path.basename(p))
    }
    below = {os.path.relpath(p, temp_top) for p in synced if p.startswith(temp_top + "/")}
    needed = {k for k, v in expected.items() if not isinstance(v, str)}  # files and directories
    assert needed <= below, sorted(needed - below)
    assert str(two_fs.fast) in synced  # the directory the tree was renamed into


def test_copies_are_not_synced_by_default(two_fs: TwoFs, events: list[Event]) -> None:
    (two_fs.data / "f.bin").write_bytes(b"payload")

    assert code_of(copy(two_fs, "f.bin", "c/f.bin")) is None

    assert events == []


def test_with_fsync_a_copy_syncs_its_file_and_directory_before_it_succeeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, events: list[Event]
) -> None:
    with two_filesystems(tmp_path, monkeypatch, fsync=True) as fs:
        (fs.data / "f.bin").write_bytes(b"payload")

        op = copy(fs, "f.bin", "c/f.bin")
        renamed = move(fs, "f.bin", "g.bin", "data", "data")

    assert code_of(op) is None, op
    assert code_of(renamed) is None, renamed
    made_parent, file_sync, dir_sync, *rest = [path for _, path in events]
    assert made_parent == str(fs.fast)  # where the missing parent `c` was made
    assert os.path.dirname(file_sync) == str(fs.fast / "c")
    assert os.path.basename(file_sync).startswith(".f.bin.planner-tmp-")
    assert dir_sync == str(fs.fast / "c")
    assert rest == [str(fs.data)] * 2  # a rename within one directory: its directory, synced


def test_serve_offers_the_fsync_option(run_cli: Callable[..., Any]) -> None:
    result = run_cli("worker", "serve", "--help")

    assert result.code == 0
    assert "--fsync" in result.stdout


# -- item 12: a source that changes during the copy ------------------------------------------------


@pytest.mark.parametrize(
    ("size", "path"),
    [(4096, "small"), (9 * MIB + 5, "chunked"), (33 * MIB, "hashed alongside")],
)
def test_a_source_rewritten_during_the_copy_fails_as_transient_and_records_no_checksum(
    two_fs: TwoFs, monkeypatch: pytest.MonkeyPatch, size: int, path: str
) -> None:
    source = two_fs.data / "src.bin"
    source.write_bytes(random.Random(size).randbytes(size))
    os.utime(source, ns=(OLD_NS, OLD_NS))
    done: list[bool] = []

    if path == "small":  # one read and one write: change it right after the read
        small = fileops._copy_small

        def copy_small(*args: Any) -> Any:
            result = small(*args)
            if not done:
                rewrite_in_place(source)
                done.append(True)
            return result

        monkeypatch.setattr(fileops, "_copy_small", copy_small)
    else:  # after the first 8 MiB chunk
        progress = ItemContext.progress

        def progressed(ctx: ItemContext, current: int, total: int) -> None:
            progress(ctx, current, total)
            if current and current < total and not done:
                rewrite_in_place(source)
                done.append(True)

        monkeypatch.setattr(ItemContext, "progress", progressed)

    failed = copy(two_fs, "src.bin", "out/dst.bin")
    monkeypatch.undo()
    retried = copy(two_fs, "src.bin", "out/dst.bin")
    listed = run(two_fs.client, "/storage:list?mode=extended", {"operations": [sp("out", "fast")]})

    assert done == [True]
    assert code_of(failed) == 503, failed
    assert failed["error"].endswith("source changed during copy"), failed
    assert code_of(retried) is None, retried
    now = source.read_bytes()
    assert (two_fs.fast / "out" / "dst.bin").read_bytes() == now
    ((_, entries),) = listed["result"].items()
    assert [(e["name"], e.get("checksum")) for e in entries] == [
        ("dst.bin", xxhash.xxh64(now).hexdigest())
    ]
    assert temp_files(two_fs.fast) == []


# -- item 13: an interrupted move finishes; a move that cannot delete its source undoes itself ----
def test_a_tree_move_killed_while_deleting_its_source_finishes_when_retried(
    two_fs: TwoFs,
) -> None:
    """The state a kill leaves: the destination complete, part of the source deleted."""
    expected = make_dated_tree(two_fs.data / "tree", files=60)
    shutil.copytree(two_fs.data / "tree", two_fs.fast / "tree", symlinks=True)
    for i in range(0, 60, 4):
        for gone in (two_fs.data / "tree").rglob(f"f{i:02d}.bin"):
            gone.unlink()
    # same bytes under another mtime: the checksum decides
    os.utime(_some_file(two_fs), ns=(1, 1))

    op = move(two_fs, "tree", "tree")

    assert code_of(op) is None, op
    assert not (two_fs.data / "tree").exists()
    assert tree_contents(two_fs.fast / "tree") == expected
    assert temp_files(two_fs.data, two_fs.fast) == []


def _some_file(fs: TwoFs) -> Path:
    """A destination file whose source is still there."""
    return next(p for p in sorted((fs.fast / "tree").rglob("f*.bin")) if int(p.stem[1:]) % 4)


def test_a_retried_move_onto_a_tree_that_differs_is_409_and_changes_nothing(
    two_fs: TwoFs,
) -> None:
    make_dated_tree(two_fs.data / "tree")
    shutil.copytree(two_fs.data / "tree", two_fs.fast / "tree", symlinks=True)
    changed = two_fs.fast / "tree" / "d2" / "f02.bin"
    changed.write_bytes(bytes(len(changed.read_bytes())))  # same size, other bytes and mtime
    before = (tree_contents(two_fs.data / "tree"), tree_contents(two_fs.fast / "tree"))

    op = move(two_fs, "tree", "tree")

    assert code_of(op) == 409, op
    assert "d2/f02.bin differs there" in op["error"], op
    assert (tree_contents(two_fs.data / "tree"), tree_contents(two_fs.fast / "tree")) == before


@pytest.mark.parametrize("kind", ["tree", "file", "file over an old one"])
def test_a_move_that_cannot_delete_its_source_undoes_its_copy(
    two_fs: TwoFs, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """A read-only source (root ignores modes, so the deletion is refused by a hook)."""
    if kind == "tree":
        make_dated_tree(two_fs.data / "src")
    else:
        (two_fs.data / "src").write_bytes(b"new content")
    if kind == "file over an old one":
        (two_fs.fast / "dst").write_bytes(b"old")
    before = (tree_contents(two_fs.data), tree_contents(two_fs.fast))

    def read_only(place: confine.Place, *args: Any) -> None:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(moves, "unlink", read_only)
    monkeypatch.setattr(moves, "detach", read_only)
    op = move(two_fs, "src", "dst")

    assert code_of(op) == 403, op
    assert op["error"].endswith("Read-only file system"), op
    assert (tree_contents(two_fs.data), tree_contents(two_fs.fast)) == before
