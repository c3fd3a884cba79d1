"""The deletions of a mirror tree operation (`mirror: true` in a copy_tree or compare_tree body;
docs/api.md, "Tree operations"): while the walk goes, each destination directory is compared
with its source directory and what the filtered source lacks is noted (planner/tree/mirror.py's
rules: excluded files protected unless `delete_excluded`, a directory the source lacks noted
with everything below it, children first, symlinks as themselves). The notes go to a temporary
file, so memory holds one directory; once every copy succeeded (and `max_delete` allows) they
are read back and deleted, each one a row (reason "extraneous"): relative to the destination's
top descriptor, every directory opened O_NOFOLLOW, a file or link unlinked, a directory removed
only when empty, so nothing outside the destination, nor behind a link, is ever touched."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from typing import IO

from planner.api.codes import ItemCode
from planner.api.names import escape_name, unescape_name
from planner.tree.decide import keeps_file
from planner.tree.mirror import too_many_deletions
from planner.worker.fileops import is_temp_name
from planner.worker.service import WorkerService
from planner.worker.storage_errors import StorageError, code_for
from planner.worker.tree_checksums import tree_key
from planner.worker.tree_model import Counts, TreeSpec
from planner.worker.tree_rows import Row
from planner.worker.walk import Pending, Walk

_OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class Mirror:
    """The deletions of one tree: noted during the walk, done (or, comparing, listed) after."""

    def __init__(self, spec: TreeSpec, service: WorkerService) -> None:
        self.spec = spec
        self.service = service
        scratch = str(service.config.state_dir)
        # open for the walk and the deletions after it: closed (and gone) by close()
        self.notes: IO[str] = tempfile.TemporaryFile(  # noqa: SIM115
            "w+", encoding="utf-8", dir=scratch
        )
        self.count = 0  # deletions noted
        self.deleted = 0

    def close(self) -> None:
        self.notes.close()

    # -- the walk -------------------------------------------------------------------------------
    def directory(self, dst_fd: int, dst: Pending | None, source: Walk) -> None:
        """Note what the destination directory `dst_fd` (the walk's `dst`) holds that its source
        directory (`source`, one level of the walk) lacks. A destination directory reached
        through a symlink is left alone: the link is the destination's, what it leads to not."""
        if dst is None or dst[4]:
            return
        prefix = dst[2]
        spec = self.spec
        kept, present = set(), set()
        for shown, st, linked in source.entries:
            present.add(shown)
            if stat.S_ISDIR(st.st_mode):
                if not (spec.symlinks == "skip" and linked):
                    kept.add(shown)
            elif keeps_file(shown, linked, filters=spec.filters, symlinks=spec.symlinks):
                kept.add(shown)
        present.update(shown for shown, _ in source.skipped)
        present.update(shown for shown, _ in source.unreadable)
        for name, st in _children(dst_fd):
            shown = prefix + escape_name(name)
            if shown in kept:
                continue
            if stat.S_ISDIR(st.st_mode):
                if spec.delete_excluded or shown not in present:
                    self._subtree(dst_fd, name, shown)
            elif stat.S_ISLNK(st.st_mode) or not self._protected(shown, present):
                self._note("file", 0 if stat.S_ISLNK(st.st_mode) else st.st_size, shown)

    def _protected(self, shown: str, present: set[str]) -> bool:
        spec = self.spec
        if spec.delete_excluded:
            return False
        filters = spec.filters
        return shown in present or not (filters.accepts_everything or filters.accepts(shown))

    def _subtree(self, parent_fd: int, name: str, shown: str) -> None:
        """Note the directory `name` (a source lacks it) and everything below it, children
        first; what holds a protected file stays, with the file."""
        try:
            top = os.open(name, _OPEN_DIR, dir_fd=parent_fd)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ELOOP, errno.ENOTDIR):
                return  # gone, or swapped for a link, since it was listed
            raise
        # (fd, shown path, children left, holds a protected file)
        stack: list[tuple[int, str, Iterator[tuple[str, os.stat_result]], list[bool]]] = []
        stack.append((top, shown, iter(_children(top)), [False]))
        try:
            while stack:
                fd, path, children, held = stack[-1]
                child = next(children, None)
                if child is None:
                    stack.pop()
                    os.close(fd)
                    if held[0] and stack:
                        stack[-1][3][0] = True
                    elif not held[0]:
                        self._note("dir", 0, path)
                    continue
                child_name, st = child
                below = f"{path}/{escape_name(child_name)}"
                if stat.S_ISDIR(st.st_mode):
                    try:
                        opened = os.open(child_name, _OPEN_DIR, dir_fd=fd)
                    except OSError as exc:
                        if exc.errno in (errno.ENOENT, errno.ELOOP, errno.ENOTDIR):
                            continue
                        raise
                    stack.append((opened, below, iter(_children(opened)), [False]))
                elif stat.S_ISLNK(st.st_mode):
                    self._note("file", 0, below)
                elif self._protected(below, set()):
                    held[0] = True
                else:
                    self._note("file", st.st_size, below)
        finally:
            for fd, *_ in stack:
                os.close(fd)

    def note(self, kind: str, size: int, shown: str) -> None:
        """Note one deletion: a file (or link) or a directory, after what it holds."""
        self._note(kind, size, shown)

    def _note(self, kind: str, size: int, shown: str) -> None:
        self.count += 1
        # one line each: names are escaped (no newline), so a line is one path
        self.notes.write(f"{kind}\t{size}\t{shown}\n")

    def noted(self) -> Iterator[tuple[str, int, str]]:
        """The deletions noted, in the order noted (below a directory before it)."""
        self.notes.flush()
        self.notes.seek(0)
        for line in self.notes:
            kind, size, shown = line.rstrip("\n").split("\t", 2)
            yield kind, int(size), shown

    # -- after the copies -------------------------------------------------------------------------
    def finish(
        self,
        counts: Counts,
        top_fd: int,
        *,
        compare: bool,
        add: Callable[[Row], None],
        cancel: Callable[[], None],
    ) -> int | None:
        """Once the walk ended: nothing when a copy failed or a directory was not read; a
        refusal when more than `max_delete` are needed; else the deletions, done (or planned,
        comparing). The code of the first deletion that failed, if any.

        Raises:
            StorageError: 409 more deletions than `max_delete` (nothing deleted).
        """
        counts.to_delete, counts.deleted = self.count, 0
        if counts.failed or counts.unreadable:
            return None  # as rclone sync: a failed copy stops the deletions
        refusal = too_many_deletions(self.count, self.spec.max_delete)
        if refusal is not None:
            raise StorageError(ItemCode.CONFLICT, refusal)
        if compare:
            self.plan(add)
            return None
        first: int | None = None

        def noted(row: Row) -> None:
            nonlocal first
            if row[4] == "failed" and first is None:
                first = row[6]
            add(row)

        counts.failed += self.delete(top_fd, noted, cancel)
        counts.deleted = self.deleted
        return first

    def plan(self, add: Callable[[Row], None]) -> None:
        """Comparing: each deletion as a planned row."""
        for kind, size, shown in self.noted():
            add((shown, kind, size, "extraneous", "planned", None, None, None))

    def delete(
        self, top_fd: int, add: Callable[[Row], None], check_cancel: Callable[[], None]
    ) -> int:
        """Delete what was noted, below the destination's top directory `top_fd`; each one a
        row, done or failed. Returns the failures."""
        failed = 0
        parent: tuple[str, int] | None = None  # the directory open last: (shown path, fd)
        try:
            for kind, size, shown in self.noted():
                check_cancel()
                folder, _, name = shown.rpartition("/")
                try:
                    if parent is None or parent[0] != folder:
                        if parent is not None and parent[1] != top_fd:
                            os.close(parent[1])
                        parent = None
                        parent = (folder, _open_below(top_fd, folder))
                    real = unescape_name(name)
                    if kind == "dir":
                        os.rmdir(real, dir_fd=parent[1])
                    else:
                        os.unlink(real, dir_fd=parent[1])
                except OSError as exc:
                    if exc.errno == errno.ENOENT:  # gone already: what a mirror wants
                        add((shown, kind, size, "extraneous", "done", None, None, None))
                        continue
                    failed += 1
                    code = code_for(exc) or ItemCode.INTERNAL
                    error = exc.strerror or str(exc)
                    add((shown, kind, size, "extraneous", "failed", None, code, error))
                    continue
                self.deleted += 1
                self._forget(shown)
                add((shown, kind, size, "extraneous", "done", None, None, None))
        finally:
            if parent is not None and parent[1] != top_fd:
                os.close(parent[1])
        return failed

    def _forget(self, shown: str) -> None:
        """A deleted path's metadata and grants go with it, as with remove and rmdir."""
        key = tree_key(self.spec.dst, shown)
        self.service.metadata.forget(key)
        self.service.permissions.forget(key)


def _children(fd: int) -> list[tuple[str, os.stat_result]]:
    """The entries of the directory `fd` (not followed), our temporary files left out."""
    found = []
    with os.scandir(fd) as scan:
        for entry in scan:
            if is_temp_name(entry.name):
                continue
            with contextlib.suppress(FileNotFoundError):
                found.append((entry.name, entry.stat(follow_symlinks=False)))
    return found


def _open_below(top_fd: int, folder: str) -> int:
    """The directory `folder` (escaped, "/"-separated, "" for the top) below `top_fd`, each
    level opened without following a symlink."""
    fd = top_fd
    try:
        for part in folder.split("/") if folder else []:
            opened = os.open(unescape_name(part), _OPEN_DIR, dir_fd=fd)
            if fd != top_fd:
                os.close(fd)
            fd = opened
    except BaseException:
        if fd != top_fd:
            os.close(fd)
        raise
    return fd
