"""The confined directory walk behind `list` (recursive or not): symlinks followed only to
targets inside the storage root, loops cut, special and temporary files left out (special files
and symlink loops are reported as skipped; a subdirectory that cannot be read is reported and
fails only itself). Each directory is listed through a descriptor checked inside the root
(confine.Root.reopen_dir); entries are examined relative to it, so a symlink swapped in meanwhile
never leads outside. Names are reported escaped (planner/api/names.py)."""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass, field

from planner.api.names import escape_name
from planner.worker.confine import Place, Root, fd_path, join, reopen
from planner.worker.file_info import Listed, file_info
from planner.worker.fileops import is_temp_name
from planner.worker.storage_errors import StorageError

Found = tuple[str, os.stat_result, bool]
# a directory still to list: real path, identity, name prefix, ancestors' identities, via a link
Pending = tuple[str, tuple[int, int], str, frozenset[tuple[int, int]], bool]
_Pending = Pending
_GONE = frozenset({errno.ENOENT, errno.ENOTDIR, errno.ELOOP})
_DENIED = frozenset({errno.EACCES, errno.EPERM})
_LOOP = "symlink loop"


@dataclass
class Walk:
    """What a walk found: `entries` (see `walk`), `skipped` (path, why: "fifo", "socket",
    "device", "symlink loop") and `unreadable` (directory path, error); from `list_level`, also
    `names`: every name the directory held (as they are, not escaped), those left out too."""

    entries: list[Found] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    names: frozenset[str] = frozenset()


def special_kind(mode: int) -> str:
    """What a file that is neither regular, a directory nor a symlink is."""
    if stat.S_ISFIFO(mode):
        return "fifo"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "special file"


def walk(root: Root, fd: int, *, recursive: bool) -> Walk:
    """The files and directories in the directory open as `fd` (O_RDONLY, checked inside
    `root`; all below it if `recursive`) as (path relative to it, followed stat, reached through
    a symlink). Symlinks are followed only to targets inside `root`, never into a directory
    already on the current path (so loops end); links that escape, dangle or loop, special
    files and our temporary files are left out; what lies below a linked directory counts as
    reached through a link. Iterative, and only two directories are open at a time: depth and
    width are unbounded. A subdirectory that cannot be read (EACCES, EPERM) goes to
    `unreadable` and the walk goes on; special files and symlink loops go to `skipped`."""
    top = os.fstat(fd)
    key = (top.st_dev, top.st_ino)
    found = Walk()
    pending: list[_Pending] = []
    _list_one(root, fd, (fd_path(fd), key, "", frozenset({key}), False), recursive, found, pending)
    while pending:
        current = pending.pop()
        try:
            opened = root.reopen_dir(current[0], current[1])
            if opened is None:
                continue  # gone or replaced since it was seen
            try:
                _list_one(root, opened, current, recursive, found, pending)
            finally:
                os.close(opened)
        except OSError as exc:
            if exc.errno not in _DENIED:
                raise
            found.unreadable.append((current[2].rstrip("/"), exc.strerror or str(exc)))
    return found


def top_level(fd: int) -> Pending:
    """The pending entry of the directory open as `fd`, the top of a walk (prefix "")."""
    top = os.fstat(fd)
    key = (top.st_dev, top.st_ino)
    return fd_path(fd), key, "", frozenset({key}), False


def list_level(root: Root, fd: int, current: Pending) -> tuple[Walk, list[Pending]]:
    """One directory of a walk, for callers that walk level by level (tree operations): what
    `walk` finds in the directory `fd` (the `current` pending entry) and its subdirectories,
    each as the pending entry to list it with (after `root.reopen_dir`)."""
    found = Walk()
    below: list[Pending] = []
    found.names = _list_one(root, fd, current, True, found, below)
    return found, below


def _list_one(
    root: Root,
    fd: int,
    current: _Pending,
    recursive: bool,
    found: Walk,
    pending: list[_Pending],
) -> frozenset[str]:
    """List the directory `fd` (the `current` pending entry) into `found`; its
    subdirectories go to `pending` when `recursive`. Returns every name it held."""
    path, _, prefix, ancestors, under_link = current
    with os.scandir(fd) as scan:
        children = list(scan)
    entries = found.entries
    for child in children:
        name = child.name
        if name[0] == "." and is_temp_name(name):  # ours all start with a dot
            continue
        shown = prefix + escape_name(name)
        try:
            st = child.stat(follow_symlinks=False)
        except OSError as exc:
            if exc.errno in _GONE:
                continue
            if exc.errno in _DENIED:
                found.unreadable.append((shown, exc.strerror or str(exc)))
                continue
            raise
        if stat.S_ISREG(st.st_mode):  # most entries: nothing more to learn
            entries.append((shown, st, under_link))
            continue
        linked = under_link
        real = ""  # a directory's real path, below: known once followed, else `path/name`
        if stat.S_ISLNK(st.st_mode):
            followed = _follow(root, fd, path, name)
            if isinstance(followed, str):
                if followed == _LOOP:
                    found.skipped.append((shown, _LOOP))
                continue
            real, st = followed
            linked = True
        is_dir = stat.S_ISDIR(st.st_mode)
        key = (st.st_dev, st.st_ino)
        if is_dir and key in ancestors:
            found.skipped.append((shown, _LOOP))
            continue
        if not (is_dir or stat.S_ISREG(st.st_mode)):
            found.skipped.append((shown, special_kind(st.st_mode)))
            continue
        entries.append((shown, st, linked))
        if recursive and is_dir:
            real = real or join(path, name)
            pending.append((real, key, f"{shown}/", ancestors | {key}, linked))
    return frozenset(child.name for child in children)


def _follow(root: Root, fd: int, path: str, name: str) -> tuple[str, os.stat_result] | str:
    """The real path and stat of what the symlink `name` in `fd` leads to; else why not:
    "symlink loop", or "" when it escapes the root, dangles or vanished meanwhile."""
    try:
        target = root.follow(fd, path, name, name)
    except StorageError:
        return ""
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return _LOOP
        if exc.errno in _GONE:
            return ""
        raise
    try:
        return fd_path(target), os.fstat(target)
    finally:
        os.close(target)


_OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY


def listed_place(place: Place, name: str, *, recursive: bool) -> Listed:
    """The listing of the opened `place` (`Storages.listed`): the entries of a directory sorted
    by name, or just the file (named `name`).

    Raises:
        OSError: missing, unreadable.
        StorageError: 403 a symlink leading outside the root.
    """
    target = place.target()
    try:
        st = os.fstat(target)
        if not stat.S_ISDIR(st.st_mode):
            info = file_info(name, st)
            return Listed([info] if info is not None else [], [], [])
        listed = reopen(target, _OPEN_DIR)
    finally:
        os.close(target)
    try:
        found: Walk = walk(place.root, listed, recursive=recursive)
    finally:
        os.close(listed)
    entries = [file_info(name, entry, linked) for name, entry, linked in found.entries]
    return Listed(
        sorted((e for e in entries if e is not None), key=lambda e: e.name),
        sorted(found.skipped),
        sorted(found.unreadable),
    )
