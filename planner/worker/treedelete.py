"""Deleting a directory tree relative to a checked descriptor (rmdir, temporary files, the source
of a move across filesystems). Each directory is opened with O_NOFOLLOW and O_NONBLOCK, so a
symlink or a FIFO swapped in for a subdirectory is never followed nor opened (shutil.rmtree
opens it, which blocks on a FIFO and opens a device); a move deletes only the entries it
copied (`keep`)."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterator

_OPEN = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
# what opening a name that is no longer a directory fails with
_SWAPPED = frozenset({errno.ELOOP, errno.ENOTDIR})

Identity = tuple[int, ...]


def identity(st: os.stat_result) -> Identity:
    """What tells an entry seen earlier from one put in its place or changed since: (st_dev,
    st_ino) of a directory (its ctime changes as entries go), with the ctime for anything else
    (a write, chmod, rename or new link changes it)."""
    if stat.S_ISDIR(st.st_mode):
        return st.st_dev, st.st_ino
    return st.st_dev, st.st_ino, st.st_ctime_ns


def remove_tree(
    dir_fd: int, name: str, keep: Callable[[os.stat_result], bool] | None = None
) -> int:
    """Delete the directory `name` in `dir_fd` with everything below it, symlinks as links;
    with `keep`, the entries for which `keep(lstat)` is true stay (a directory whole), and so do
    the directories holding them. Returns how many entries stayed. Iterative: one descriptor per
    level of depth.

    Raises:
        OSError: from the filesystem (ELOOP/ENOTDIR: `name` is not a directory).
    """
    kept = 0
    top = os.open(name, _OPEN, dir_fd=dir_fd)
    stack: list[tuple[int, str, Iterator[os.DirEntry[str]]]] = []
    try:
        stack.append((top, name, _listing(top)))
        while stack:
            fd, _, entries = stack[-1]
            entry = next(entries, None)
            if entry is None:
                _, done, _ = stack.pop()
                os.close(fd)
                try:
                    os.rmdir(done, dir_fd=stack[-1][0] if stack else dir_fd)
                except OSError as exc:
                    if exc.errno != errno.ENOTEMPTY or keep is None:
                        raise
                    kept += 1  # an entry added since it was listed
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            if keep is not None and keep(st):
                kept += 1
            elif not stat.S_ISDIR(st.st_mode):
                os.unlink(entry.name, dir_fd=fd)
            else:
                child = _enter(fd, entry.name, st, keep is not None)
                if child is not None:
                    stack.append((child, entry.name, _listing(child)))
                elif keep is not None:
                    kept += 1
    finally:
        for fd, _, _ in stack:
            os.close(fd)
    return kept


def _enter(fd: int, name: str, st: os.stat_result, is_selective: bool) -> int | None:
    """The directory `name` (lstat `st`) opened; None (keep it) when a selective deletion
    finds something else there now. Otherwise, a link swapped in is deleted as a link."""
    try:
        child = os.open(name, _OPEN, dir_fd=fd)
    except OSError as exc:
        if exc.errno not in _SWAPPED:
            raise
        if is_selective:
            return None
        os.unlink(name, dir_fd=fd)
        return None
    now = os.fstat(child)
    if is_selective and (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
        os.close(child)
        return None
    return child


def _listing(fd: int) -> Iterator[os.DirEntry[str]]:
    """The entries of the directory `fd`, listed before any is deleted; `fd` is closed when
    that fails (it is not on the stack yet)."""
    try:
        with os.scandir(fd) as scan:
            return iter(list(scan))
    except BaseException:
        os.close(fd)
        raise
