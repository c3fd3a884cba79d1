"""Races against moves and deletions (issue 9 review of items 4, 11 and 13): what another client
or a process of another host user can do to a source or a tree while the worker moves or deletes
it. Whatever the timing, a move deletes only what it copied, never copies a tree into itself,
makes durable every directory it creates, and a deletion never opens what a link leads to.

The races are made deterministic by hooks that act at the worst moment; moves go through the
real worker over HTTP where the race is reachable by the API (tests/worker/test_durability.py
sets up the two filesystems).
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from planner.worker import confine, fileops, moves, treecopy
from planner.worker.confine import Place, Root
from planner.worker.storage import MemoryTempRegistry, StorageError, Storages
from tests.helpers.trees import temp_files, tree_contents
from tests.helpers.two_filesystems import (
    Event,
    TwoFs,
    before_first_delete,
    code_of,
    make_dated_tree,
    move,
    rewrite_in_place,
)


def exdev(src: object, dst: object) -> None:
    raise OSError(errno.EXDEV, "Invalid cross-device link")


# -- a move deletes only what it copied ----------------------------------------------------------
def test_entries_added_or_rewritten_in_a_tree_while_it_moves_across_filesystems_are_kept(
    two_fs: TwoFs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another client writes into the tree while the worker copies it: a new file in a directory
    already listed, and a rewrite of a file already copied. Neither reached the destination, so
    neither may be deleted with the source."""
    make_dated_tree(two_fs.data / "tree")
    tree = two_fs.data / "tree"
    copied: list[Path] = []
    member = treecopy._copy_member

    def copy_member(sfd: int, dfd: int, name: str) -> Any:
        if len(copied) == 1:  # the first file is copied and the top directory listed
            (tree / "late.txt").write_bytes(b"written during the move")
            rewrite_in_place(copied[0])
        result = member(sfd, dfd, name)
        copied.append(Path(confine.fd_path(sfd), name))
        return result

    monkeypatch.setattr(treecopy, "_copy_member", copy_member)

    op = move(two_fs, "tree", "moved")

    rewritten = copied[0]
    assert code_of(op) == 409, op
    assert "changed during the move" in op["error"], op
    assert (tree / "late.txt").read_bytes() == b"written during the move"
    assert (
        rewritten.read_bytes() != (two_fs.fast / "moved" / rewritten.relative_to(tree)).read_bytes()
    )
    assert sorted(p.relative_to(tree).as_posix() for p in tree.rglob("*") if p.is_file()) == sorted(
        ["late.txt", rewritten.relative_to(tree).as_posix()]
    )
    assert (two_fs.fast / "moved").is_dir()
    assert temp_files(two_fs.data, two_fs.fast) == []


def test_a_file_replaced_after_its_copy_and_before_its_deletion_is_kept(
    two_fs: TwoFs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The source's name gets another file (a client's copy lands) between the copy and the
    deletion: the move fails as transient and changes nothing."""
    (two_fs.data / "f.bin").write_bytes(b"old content")
    replaced: list[bool] = []
    sync_dir = confine.sync_dir  # what moves.sync_dir is

    def synced(fd: int) -> None:
        sync_dir(fd)
        if not replaced:
            newer = two_fs.data / "newer"
            newer.write_bytes(b"the only copy of the new content")
            newer.replace(two_fs.data / "f.bin")
            replaced.append(True)

    monkeypatch.setattr(moves, "sync_dir", synced)

    op = move(two_fs, "f.bin", "out/f.bin")

    assert replaced == [True]
    assert code_of(op) == 503, op
    assert op["error"].endswith("source changed during the move"), op
    assert (two_fs.data / "f.bin").read_bytes() == b"the only copy of the new content"
    assert not (two_fs.fast / "out" / "f.bin").exists()
    assert temp_files(two_fs.data, two_fs.fast) == []


# -- a tree is never copied into itself; created parents are durable -------------------------------
def test_a_directory_moved_across_filesystems_into_itself_is_400_and_copies_nothing_twice(
    two_fs: TwoFs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mount point inside the moved tree makes rename(2) answer EXDEV instead of EINVAL (here
    forced): the copy must not walk into the copy it is making."""
    expected = make_dated_tree(two_fs.data / "tree", files=6)
    (two_fs.data / "tree" / "mnt").mkdir()
    expected["mnt"] = None
    monkeypatch.setattr(moves, "rename", exdev)
    copies: list[str] = []
    member = treecopy._copy_member

    def copy_member(sfd: int, dfd: int, name: str) -> Any:
        copies.append(name)
        return member(sfd, dfd, name)

    monkeypatch.setattr(treecopy, "_copy_member", copy_member)

    op = move(two_fs, "tree", "tree/mnt/inside", "data", "data")

    assert code_of(op) == 400, op
    assert "into itself" in op["error"], op
    assert len(copies) <= 6, len(copies)
    assert tree_contents(two_fs.data / "tree") == expected
    assert temp_files(two_fs.data) == []


def test_a_move_across_filesystems_syncs_the_parents_it_makes_before_the_source_goes(
    two_fs: TwoFs, events: list[Event]
) -> None:
    (two_fs.data / "f.bin").write_bytes(b"payload")

    op = move(two_fs, "f.bin", "new/deeper/f.bin")

    assert code_of(op) is None, op
    synced = before_first_delete(events)
    assert {str(two_fs.fast), str(two_fs.fast / "new"), str(two_fs.fast / "new/deeper")} <= set(
        synced
    ), synced


# -- the same directory seen twice ---------------------------------------------------------------
@pytest.fixture
def registry() -> MemoryTempRegistry:
    return MemoryTempRegistry()


def place(root: Root, parent: Path, name: str) -> Place:
    fd, real = root.open_dir([p for p in parent.relative_to(root.path).parts], name)
    return Place(root, fd, real, name, name)


def test_a_directory_moved_onto_itself_seen_through_another_mount_deletes_nothing(
    tmp_path: Path, registry: MemoryTempRegistry
) -> None:
    """`mount --bind data/tree other/tree` shows one directory under two names on two mounts:
    rename(2) answers EXDEV and the destination "already holds" every source file, because it
    is the source. Finishing that move would delete the only copy (here the same name stands
    for the second mount)."""
    expected = make_dated_tree(tmp_path / "tree")
    root = Root("data", str(tmp_path))

    with (
        place(root, tmp_path, "tree") as src,
        place(root, tmp_path, "tree") as dst,
        pytest.raises(StorageError) as caught,
    ):
        moves.move_across(src, dst, registry=registry)

    assert caught.value.code == 409, caught.value.message
    assert "is the source itself" in caught.value.message
    assert tree_contents(tmp_path / "tree") == expected


# -- deletions never open what a link leads to -----------------------------------------------------
@pytest.fixture
def fifo_outside(tmp_path: Path) -> Iterator[Path]:
    """A FIFO outside the root, held open for writing so that an open for reading (what the
    bug does) returns instead of hanging the test."""
    fifo = tmp_path / "outside" / "fifo"
    fifo.parent.mkdir()
    os.mkfifo(fifo)
    holder = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
    try:
        yield fifo
    finally:
        os.close(holder)


def test_rmdir_never_opens_a_fifo_swapped_in_for_a_subdirectory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fifo_outside: Path
) -> None:
    """A host user swaps a subdirectory for a link to a FIFO between the moment the deletion
    sees a directory and the moment it opens it: opening the FIFO would block the worker's
    thread (and a link to a device would open the device)."""
    data = tmp_path / "data"
    (data / "tree" / "sub").mkdir(parents=True)
    (data / "tree" / "sub" / "f.txt").write_text("f")
    storages = Storages({"data": data})
    real_open = os.open
    opened_outside: list[str] = []
    swapped: list[bool] = []

    def spying_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if path == "sub" and kwargs.get("dir_fd") is not None and not swapped:
            moved = data / "tree" / "sub-gone"
            (data / "tree" / "sub").rename(moved)
            (data / "tree" / "sub").symlink_to(fifo_outside)
            swapped.append(True)
        fd = real_open(path, flags, *args, **kwargs)
        where = confine.fd_path(fd)
        if not confine.is_inside(str(data), where):
            opened_outside.append(where)
        return fd

    monkeypatch.setattr(os, "open", spying_open)
    with contextlib.suppress(StorageError):  # `sub-gone` came after the listing: not empty
        storages.rmdir("data", "tree")
    monkeypatch.undo()

    assert swapped == [True]
    assert opened_outside == []
    assert fifo_outside.exists()
    assert not (data / "tree" / "sub").is_symlink()  # the link deleted as a link


def test_leftover_temp_directories_are_deleted_without_following_links(
    tmp_path: Path, registry: MemoryTempRegistry
) -> None:
    """A temporary directory left by a killed move holds a link to outside: the start-up
    cleanup deletes the link, never what it leads to."""
    data = tmp_path / "data"
    outside = tmp_path / "outside"
    (outside / "keep").mkdir(parents=True)
    (outside / "keep" / "f.txt").write_text("outside")
    leftover = data / fileops.temp_name_for("tree")
    (leftover / "sub").mkdir(parents=True)
    (leftover / "sub" / "link").symlink_to(outside / "keep")
    registry.add(str(leftover))
    storages = Storages({"data": data}, registry)

    assert storages.cleanup_temp() == 1

    assert not leftover.exists()
    assert (outside / "keep" / "f.txt").read_text() == "outside"
