"""Moves: one rename within a filesystem; across filesystems (EXDEV) a copy made durable before
the source is deleted. A retried move whose destination already holds the source's files
finishes by deleting the source; a move that cannot delete its source undoes its copy, so a
failed move changes nothing (issue 9, items 11 and 13; docs/worker.md, "Durability")."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat
from collections.abc import Callable

from planner.api.codes import ItemCode
from planner.worker.confine import Place, open_regular, sync_dir
from planner.worker.fileops import TempRegistry, copy_into, discard_temp, temp_name_for
from planner.worker.storage_errors import SourceChangedError, StorageError, code_for
from planner.worker.treecopy import Side, copy_tree, difference, key_of
from planner.worker.treedelete import Identity, identity, remove_tree

log = logging.getLogger("planner.worker")

_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def move_places(
    src: Place,
    open_dst: Callable[[], Place],
    *,
    registry: TempRegistry,
    synced: Callable[..., None],
) -> None:
    """`Storages.move` on directory remotes: `src` (opened) renamed onto what `open_dst` opens
    (its parents made), across filesystems copied durably first (`move_across`); `synced`
    syncs the changed directories (--fsync).

    Raises:
        StorageError: 403 the root as the source; 409 the root as the destination.
        OSError: from the filesystem.
    """
    if src.is_root:
        raise StorageError(ItemCode.FORBIDDEN, f"{src.label}: the storage root cannot move")
    src.check_link(src.lstat())
    with open_dst() as dst:
        if dst.is_root:
            raise StorageError(ItemCode.CONFLICT, f"{dst.label}: is the storage root")
        dst.check_link(dst.lstat_or_none())
        if src.name == dst.name and _same(src.dir_fd, dst.dir_fd):
            return
        try:
            rename(src, dst)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            move_across(src, dst, registry=registry)
        else:
            synced(dst, src)


def _same(a: int, b: int) -> bool:
    """Whether two descriptors refer to the same directory."""
    first, second = os.fstat(a), os.fstat(b)
    return (first.st_dev, first.st_ino) == (second.st_dev, second.st_ino)


def rename(src: Place, dst: Place) -> None:
    """Rename `src` onto `dst` (both relative to their checked parents); EXDEV across
    filesystems."""
    os.replace(src.name, dst.name, src_dir_fd=src.dir_fd, dst_dir_fd=dst.dir_fd)


def detach(place: Place, temp: str) -> None:
    """Take a directory away from its name in one step: rename it to `temp` beside it (the first
    and only step of deleting a source that can fail with nothing deleted yet)."""
    os.rename(place.name, temp, src_dir_fd=place.dir_fd, dst_dir_fd=place.dir_fd)


def unlink(place: Place) -> None:
    """Delete a file or symlink."""
    os.unlink(place.name, dir_fd=place.dir_fd)


def move_across(src: Place, dst: Place, *, registry: TempRegistry) -> None:
    """Move `src` onto `dst` on another filesystem: a file is copied, a symlink recreated, a
    directory copied whole, into a temporary name beside `dst`, fsynced (files and directories),
    renamed over `dst` (an existing file, link or empty directory, set aside until the move
    succeeds), the destination directory fsynced; only then is the source deleted, and only
    what was copied: entries added or changed meanwhile stay (409), a file replaced meanwhile
    fails the move as transient. When that fails before anything of the source was deleted, the
    destination is put back as it was.

    A directory onto a non-empty directory that already holds all of it (a move interrupted
    while deleting its source) finishes: the rest of the source is deleted.

    Raises:
        StorageError: 400 a special file; 409 a non-empty destination directory that differs.
        OSError: from the filesystem (EISDIR/ENOTDIR a destination of another kind).
    """
    st = src.lstat()
    before = dst.lstat_or_none()
    is_dir = stat.S_ISDIR(st.st_mode)
    if before is not None and stat.S_ISDIR(before.st_mode):
        if not is_dir:
            raise OSError(errno.EISDIR, "Is a directory")
        if not _is_empty(dst):
            _finish(src, dst, registry)
            return
    elif before is not None and is_dir:
        raise OSError(errno.ENOTDIR, "Not a directory")
    tmp = temp_name_for(dst.name)
    registry.add(os.path.join(dst.dir_path, tmp))
    aside = None
    copied: set[Identity] = set()
    try:
        _copy_whole(src, st, dst, tmp, copied)
        if before is not None:
            aside = temp_name_for(dst.name)
            registry.add(os.path.join(dst.dir_path, aside))
            os.rename(dst.name, aside, src_dir_fd=dst.dir_fd, dst_dir_fd=dst.dir_fd)
        os.rename(tmp, dst.name, src_dir_fd=dst.dir_fd, dst_dir_fd=dst.dir_fd)
    except BaseException:
        discard_temp(dst.dir_fd, dst.dir_path, tmp, registry)
        if aside is not None:
            _put_back(dst, aside, registry)
        raise
    registry.discard(os.path.join(dst.dir_path, tmp))
    sync_dir(dst.dir_fd)
    try:
        _delete_source(src, is_dir, registry, copied)
    except OSError:
        _undo(dst, aside, registry)
        raise
    if aside is not None:
        discard_temp(dst.dir_fd, dst.dir_path, aside, registry)


def _is_empty(place: Place) -> bool:
    fd = os.open(place.name, _OPEN_DIR, dir_fd=place.dir_fd)
    try:
        with os.scandir(fd) as scan:
            return next(scan, None) is None
    finally:
        os.close(fd)


def _copy_whole(
    src: Place, st: os.stat_result, dst: Place, tmp: str, copied: set[Identity]
) -> None:
    """A durable copy of `src` (a file, symlink or directory) under `tmp` beside `dst`; the
    identities of what was copied go to `copied`."""
    if stat.S_ISREG(st.st_mode):
        src_fd, opened = open_regular(src.name, src.dir_fd)
        try:
            dst_fd = os.open(tmp, _CREATE, 0o600, dir_fd=dst.dir_fd)
            try:
                copy_into(src_fd, opened, dst_fd, ["copy_file_range", "sendfile", "write"])
                copied.add(identity(opened))
                os.fchmod(dst_fd, stat.S_IMODE(opened.st_mode))
                os.fsync(dst_fd)
            finally:
                os.close(dst_fd)
        finally:
            os.close(src_fd)
    elif stat.S_ISLNK(st.st_mode):
        copied.add(identity(st))
        os.symlink(os.readlink(src.name, dir_fd=src.dir_fd), tmp, dir_fd=dst.dir_fd)
    elif stat.S_ISDIR(st.st_mode):
        os.mkdir(tmp, 0o700, dir_fd=dst.dir_fd)
        made = os.stat(tmp, dir_fd=dst.dir_fd, follow_symlinks=False)
        copy_tree(
            _side(src),
            st,
            Side(dst.root, os.path.join(dst.dir_path, tmp), key_of(made)),
            copied,
        )
    else:
        raise StorageError(
            ItemCode.INVALID, f"{src.label}: a special file cannot be moved across filesystems"
        )


def _side(place: Place) -> Side:
    """The directory `place` names (not followed if it is a link) as a tree-walk side."""
    fd = os.open(place.name, _OPEN_DIR, dir_fd=place.dir_fd)
    try:
        return Side(place.root, place.path, key_of(os.fstat(fd)))
    finally:
        os.close(fd)


def delete_moved_directory(src: Place, registry: TempRegistry, copied: set[Identity]) -> None:
    """Delete the directory `src` whose entries (`copied`: identities, directories included)
    another store now holds: what is not in `copied` stays, 409 (see `_delete_source`).

    Raises:
        StorageError: 409 entries added or changed meanwhile; the OSError's code.
        OSError: the source cannot be taken away from its name (nothing deleted).
    """
    _delete_source(src, True, registry, copied)


def _delete_source(src: Place, is_dir: bool, registry: TempRegistry, copied: set[Identity]) -> None:
    """Delete what was copied of the source (`copied`: identities). Its first step either fails
    with nothing deleted (OSError: the caller undoes the copy) or takes the whole source away
    from its name. Entries of a directory that were not copied (added or changed meanwhile) or
    cannot be deleted are put back under the source's name: 409 (or the OSError), the
    destination kept (StorageError: never undo a copy once part of the source is gone). A
    file that is no longer the one copied is SourceChangedError."""
    if not is_dir:
        if identity(src.lstat()) not in copied:
            raise SourceChangedError("the move")
        unlink(src)  # a window of one system call remains: POSIX has no unlink-if-same
        return
    temp = temp_name_for(src.name)
    held = os.path.join(src.dir_path, temp)
    registry.add(held)
    detach(src, temp)
    try:
        kept = remove_tree(src.dir_fd, temp, keep=lambda st: identity(st) not in copied)
    except FileNotFoundError:
        kept = 0
    except OSError as exc:
        _put_source_back(src, temp)
        raise StorageError(
            code_for(exc),
            f"{src.label}: moved, but the source could not be deleted: {exc.strerror}",
        ) from exc
    if kept:
        _put_source_back(src, temp)
        raise StorageError(
            ItemCode.CONFLICT,
            f"{src.label}: the source changed during the move; {kept} new or changed entries "
            "were not moved and stay there",
        )
    registry.discard(held)


def _put_source_back(src: Place, temp: str) -> None:
    """Rename what is left of a detached source back to its name (never left under a temporary
    name, which the next start would delete)."""
    try:
        os.rename(temp, src.name, src_dir_fd=src.dir_fd, dst_dir_fd=src.dir_fd)
    except OSError:
        log.exception("%s: what was not moved is kept under %s", src.label, temp)


def _undo(dst: Place, aside: str | None, registry: TempRegistry) -> None:
    """Delete the copy made at `dst` and put back what was there before."""
    try:
        if aside is None:
            temp = temp_name_for(dst.name)
            registry.add(os.path.join(dst.dir_path, temp))
            os.rename(dst.name, temp, src_dir_fd=dst.dir_fd, dst_dir_fd=dst.dir_fd)
            discard_temp(dst.dir_fd, dst.dir_path, temp, registry)
        else:
            _put_back(dst, aside, registry)
        sync_dir(dst.dir_fd)
    except OSError:
        log.exception("%s: a failed move could not remove its copy", dst.label)


def _put_back(dst: Place, aside: str, registry: TempRegistry) -> None:
    """Rename what was set aside back to the destination's name (replacing the copy)."""
    temp = temp_name_for(dst.name)
    registry.add(os.path.join(dst.dir_path, temp))
    with contextlib.suppress(FileNotFoundError):  # the copy never got there
        os.rename(dst.name, temp, src_dir_fd=dst.dir_fd, dst_dir_fd=dst.dir_fd)
    os.rename(aside, dst.name, src_dir_fd=dst.dir_fd, dst_dir_fd=dst.dir_fd)
    registry.discard(os.path.join(dst.dir_path, aside))
    discard_temp(dst.dir_fd, dst.dir_path, temp, registry)


def _finish(src: Place, dst: Place, registry: TempRegistry) -> None:
    """A directory onto a non-empty directory: finish an interrupted move when the destination
    holds every source entry; otherwise 409 (nothing is touched)."""
    there = _side(dst)
    matched: set[Identity] = set()
    why = difference(_side(src), there, matched)
    if why is not None:
        raise StorageError(
            ItemCode.CONFLICT,
            f"{src.label} -> {dst.label}: the destination is a non-empty directory ({why})",
        )
    sync_dir(dst.dir_fd)
    _delete_source(src, True, registry, matched)
