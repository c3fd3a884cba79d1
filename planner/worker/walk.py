"""The confined directory walk behind `list` (recursive or not): symlinks followed only to
targets inside the storage root, loops cut, special and temporary files left out. Paths here are
already confined by `Storages.resolve`."""

from __future__ import annotations

import errno
import os
import stat

from planner.worker.fileops import is_inside, is_temp_name


def walk(root: str, directory: str, *, recursive: bool) -> list[tuple[str, os.stat_result, bool]]:
    """The files and directories in `directory` (all below it if `recursive`) as (path relative
    to `directory`, followed stat, reached through a symlink). Symlinks are followed only to
    targets inside `root`, never into a directory already on the current path (so loops end);
    links that escape, dangle or loop, special files and our temporary files are left out; what
    lies below a linked directory counts as reached through a link. Iterative: depth is
    unbounded."""
    top = os.stat(directory)
    entries: list[tuple[str, os.stat_result, bool]] = []
    pending = [(directory, "", frozenset({(top.st_dev, top.st_ino)}), False)]
    while pending:
        current, prefix, ancestors, under_link = pending.pop()
        with os.scandir(current) as scan:
            children = list(scan)
        for child in children:
            found = None if is_temp_name(child.name) else _follow(root, child)
            if found is None:
                continue
            real, st = found
            is_dir = stat.S_ISDIR(st.st_mode)
            key = (st.st_dev, st.st_ino)
            if (is_dir and key in ancestors) or not (is_dir or stat.S_ISREG(st.st_mode)):
                continue
            linked = under_link or child.is_symlink()
            entries.append((prefix + child.name, st, linked))
            if recursive and is_dir:
                pending.append((real, f"{prefix}{child.name}/", ancestors | {key}, linked))
    return entries


def _follow(root: str, child: os.DirEntry[str]) -> tuple[str, os.stat_result] | None:
    """The real path and followed stat of a directory entry; None if it is a link that escapes
    `root`, dangles or loops, or if it vanished meanwhile."""
    real = child.path
    try:
        if child.is_symlink():
            real = os.path.realpath(child.path)
            if not is_inside(root, real):
                return None
        return real, os.stat(real)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
            return None
        raise
