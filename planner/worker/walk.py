"""The confined directory walk behind `list` (recursive or not): symlinks followed only to
targets inside the storage root, loops cut, special and temporary files left out. Each directory
is listed through a descriptor checked inside the root (confine.Root.reopen_dir); entries are
examined relative to it, so a symlink swapped in meanwhile never leads outside."""

from __future__ import annotations

import errno
import os
import stat

from planner.worker.confine import Root, fd_path, join
from planner.worker.fileops import is_temp_name
from planner.worker.storage_errors import StorageError

Found = tuple[str, os.stat_result, bool]
# a directory still to list: real path, identity, name prefix, ancestors' identities, via a link
_Pending = tuple[str, tuple[int, int], str, frozenset[tuple[int, int]], bool]
_GONE = frozenset({errno.ENOENT, errno.ENOTDIR, errno.ELOOP})


def walk(root: Root, fd: int, *, recursive: bool) -> list[Found]:
    """The files and directories in the directory open as `fd` (O_RDONLY, checked inside
    `root`; all below it if `recursive`) as (path relative to it, followed stat, reached through
    a symlink). Symlinks are followed only to targets inside `root`, never into a directory
    already on the current path (so loops end); links that escape, dangle or loop, special
    files and our temporary files are left out; what lies below a linked directory counts as
    reached through a link. Iterative, and only two directories are open at a time: depth and
    width are unbounded."""
    top = os.fstat(fd)
    key = (top.st_dev, top.st_ino)
    entries: list[Found] = []
    pending: list[_Pending] = []
    _list_one(
        root, fd, (fd_path(fd), key, "", frozenset({key}), False), recursive, entries, pending
    )
    while pending:
        current = pending.pop()
        opened = root.reopen_dir(current[0], current[1])
        if opened is None:
            continue  # gone or replaced since it was seen
        try:
            _list_one(root, opened, current, recursive, entries, pending)
        finally:
            os.close(opened)
    return entries


def _list_one(
    root: Root,
    fd: int,
    current: _Pending,
    recursive: bool,
    entries: list[Found],
    pending: list[_Pending],
) -> None:
    """List the directory `fd` (the `current` pending entry) into `entries`; its
    subdirectories go to `pending` when `recursive`."""
    path, _, prefix, ancestors, under_link = current
    with os.scandir(fd) as scan:
        children = list(scan)
    for child in children:
        name = child.name
        if is_temp_name(name):
            continue
        try:
            st = child.stat(follow_symlinks=False)
        except OSError as exc:
            if exc.errno in _GONE:
                continue
            raise
        linked = under_link
        real = join(path, name)
        if stat.S_ISLNK(st.st_mode):
            followed = _follow(root, fd, path, name)
            if followed is None:
                continue
            real, st = followed
            linked = True
        is_dir = stat.S_ISDIR(st.st_mode)
        key = (st.st_dev, st.st_ino)
        if (is_dir and key in ancestors) or not (is_dir or stat.S_ISREG(st.st_mode)):
            continue
        entries.append((prefix + name, st, linked))
        if recursive and is_dir:
            pending.append((real, key, f"{prefix}{name}/", ancestors | {key}, linked))


def _follow(root: Root, fd: int, path: str, name: str) -> tuple[str, os.stat_result] | None:
    """The real path and stat of what the symlink `name` in `fd` leads to; None if it escapes
    the root, dangles or loops, or vanished meanwhile."""
    try:
        target = root.follow(fd, path, name, name)
    except StorageError:
        return None
    except OSError as exc:
        if exc.errno in _GONE:
            return None
        raise
    try:
        return fd_path(target), os.fstat(target)
    finally:
        os.close(target)
