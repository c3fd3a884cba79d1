"""The tree operations (`storage:copy_tree`, `storage:compare_tree`; docs/api.md, "Tree
operations"): one item walks a source directory and its destination together, one directory at
a time (walk.list_level: confined, descriptor-relative, symlinks followed only inside the root),
decides each file with planner/tree (the runner's rules, one implementation), and copies through
the same atomic, hashing path as `storage:copy` (placecopy.py). What it did goes to rows
(tree_rows.py) as it goes: memory holds one directory of each side and the directories still to
walk, never the tree."""

from __future__ import annotations

import errno
import os
import stat
from operator import itemgetter

from planner.api.codes import ItemCode
from planner.api.names import unescape_name
from planner.tree.decide import (
    decide_fields,
    decide_file,
    keeps_directory,
    keeps_file,
    needs_checksums,
)
from planner.tree.entry import Entry, EntryType
from planner.worker.confine import Place, Root, open_listed, reopen
from planner.worker.fileops import CHUNK_SIZE
from planner.worker.metadata import Content
from planner.worker.placecopy import copy_opened, open_source
from planner.worker.requests import Place as StoragePlace
from planner.worker.service import ItemContext, ItemFunction, ItemResult, WorkerService
from planner.worker.storage_errors import (
    CopyCancelledError,
    StorageError,
    as_storage_errors,
    code_for,
)
from planner.worker.tree_checksums import KnownChecksums, Side, tree_key
from planner.worker.tree_mirror import Mirror
from planner.worker.tree_model import Counts, DstSide, Node, Todo, TreeSpec
from planner.worker.tree_rows import Row, RowWriter
from planner.worker.walk import Pending, list_level, top_level

_OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY
_DENIED = frozenset({errno.EACCES, errno.EPERM})


def tree_item(service: WorkerService, spec: TreeSpec, *, compare: bool) -> ItemFunction:
    """The item of one tree: copy it, or with `compare` only decide (nothing written, no
    metadata recorded)."""
    storages = service.storages
    on_objects = any(storages.kind(end.remote) != "posix" for end in (spec.src, spec.dst))
    if on_objects and service.config.object_trees:
        from planner.worker.tree_objects import ObjectTreeRun

        return lambda ctx: ObjectTreeRun(service, spec, ctx, compare).run()
    return lambda ctx: _TreeRun(service, spec, ctx, compare).run()


class _TreeRun:
    def __init__(
        self, service: WorkerService, spec: TreeSpec, ctx: ItemContext, compare: bool
    ) -> None:
        self.service = service
        self.spec = spec
        self.ctx = ctx
        self.compare = compare
        self.src_root, self.src_parts = service.storages.resolve(spec.src.remote, spec.src.path)
        self.dst_root, self.dst_parts = service.storages.resolve(spec.dst.remote, spec.dst.path)
        self.src_label = f"{spec.src.remote}:{spec.src.path}"
        self.dst_label = f"{spec.dst.remote}:{spec.dst.path}"
        self.counts = Counts()
        item = ctx.item
        self.rows = RowWriter(service.db, item.group.id, item.index)
        self.first_code: int | None = None
        self.files_done = self.files_total = self.bytes_done = self.bytes_total = 0
        self.mirror = Mirror(spec, service) if spec.mirror else None  # tree_mirror.py

    # -- the walk -------------------------------------------------------------------------------
    def run(self) -> ItemResult:
        with as_storage_errors(self.src_label):
            src_fd = self._open_top(self.src_root, self.src_parts, self.src_label, self.spec.src)
        if src_fd is None:
            raise StorageError(ItemCode.NOT_FOUND, f"{self.src_label}: no such directory")
        try:
            with as_storage_errors(self.src_label):
                dst_fd = self._open_top(
                    self.dst_root, self.dst_parts, self.dst_label, self.spec.dst
                )
                try:
                    dst = DstSide(top_level(dst_fd) if dst_fd is not None else None)
                    self._walk(src_fd, dst, dst_fd)
                    if self.mirror is not None and dst_fd is not None:
                        self._note_failure(self._finish_mirror(self.mirror, dst_fd))
                finally:
                    if dst_fd is not None:
                        os.close(dst_fd)
        except StorageError as exc:  # cancelled, or the walk itself failed: what it did stays
            raise StorageError(exc.code, exc.message, self._result()) from exc
        finally:
            os.close(src_fd)
            self.rows.close()
            if self.mirror is not None:
                self.mirror.close()
        failures = self.counts.failures()
        if failures is not None:
            code = ItemCode(self.first_code or ItemCode.INTERNAL)
            raise StorageError(code, failures, self._result())
        return ItemResult(self._result(), [] if self.compare else [self.spec.dst.remote])

    def _result(self) -> dict[str, int]:
        self.counts.rows = self.rows.count
        return self.counts.wire()

    def _open_top(
        self, root: Root, parts: list[str], label: str, place: StoragePlace
    ) -> int | None:
        """The directory of one end opened for reading, or None when nothing is there.

        Raises:
            StorageError: 409 a file is there; 403 outside the root.
            OSError: from the filesystem.
        """
        try:
            fd, _ = root.open_dir(parts, label)
        except (FileNotFoundError, NotADirectoryError) as exc:
            if self.service.storages.exists(place.remote, place.path):
                raise StorageError(
                    ItemCode.CONFLICT, f"{label}: is a file, not a directory"
                ) from exc
            return None
        try:
            return reopen(fd, _OPEN_DIR)
        finally:
            os.close(fd)

    def _walk(self, src_fd: int, dst: DstSide, dst_fd: int | None) -> None:
        """Depth first, each directory's files before its subdirectories, in name order; a
        directory's node is finished once everything below it is."""
        top = Node(None, "", makeable=False)
        stack: list[tuple[Node, Pending | None, DstSide]] = []
        self._directory(top, src_fd, top_level(src_fd), dst, dst_fd, stack)
        while stack:
            node, pending, side = stack.pop()
            if pending is None:  # everything below `node` is done
                self._leave(node)
                continue
            self._check_cancel()
            try:
                fd = self.src_root.reopen_dir(pending[0], pending[1])
            except OSError as exc:
                if exc.errno not in _DENIED:
                    raise
                node.unread = True
                self._unreadable(node.path, exc)
                self._leave(node)
                continue
            if fd is None:  # gone since it was listed
                self._leave(node)
                continue
            try:
                self._directory(node, fd, pending, side, None, stack)
            finally:
                os.close(fd)

    def _directory(
        self,
        node: Node,
        fd: int,
        current: Pending,
        dst: DstSide,
        dst_fd: int | None,
        stack: list[tuple[Node, Pending | None, DstSide]],
    ) -> None:
        """Decide and copy the files of one source directory; its subdirectories go on the
        stack (after the marker that finishes `node` once they are done)."""
        found, below = list_level(self.src_root, fd, current)
        for shown, why in sorted(found.skipped):
            self.counts.skipped += 1
            self.rows.add((shown, "skipped", 0, why, "done", None, None, None))
        for shown, error in sorted(found.unreadable):
            self._unreadable(shown, OSError(errno.EACCES, error))
        there: dict[str, os.stat_result] = {}
        there_dirs: dict[str, Pending] = {}
        # the names the destination directory held when listed (None: not known)
        names: frozenset[str] | None = frozenset() if dst.pending is None else None
        opened = self._open_dst(dst) if dst_fd is None else dst_fd
        try:
            if opened is not None and dst.pending is not None:
                listed, dst_below = list_level(self.dst_root, opened, dst.pending)
                there = {shown: st for shown, st, _ in listed.entries}
                there_dirs = {p[2][:-1]: p for p in dst_below}
                names = listed.names
            self._files(node, fd, current, found.entries, dst, there, opened, names)
            if self.mirror is not None and opened is not None:
                self.mirror.directory(opened, dst.pending, found)
        finally:
            if opened is not None and opened != dst_fd:
                os.close(opened)
        stack.append((node, None, dst))
        spec = self.spec
        for pending in sorted(below, key=lambda p: p[2], reverse=True):
            path = pending[2][:-1]
            st = there.get(path)
            if dst.blocked or path in there_dirs:
                side = DstSide(there_dirs.get(path), blocked=dst.blocked)
            else:  # a file there stands where this directory must be
                side = DstSide(None, blocked=st is not None and stat.S_ISREG(st.st_mode))
            makeable = (
                spec.empty_dirs
                and not (st is not None and stat.S_ISDIR(st.st_mode))
                and keeps_directory(path, pending[4], filters=spec.filters, symlinks=spec.symlinks)
            )
            stack.append((Node(node, path, makeable), pending, side))

    def _open_dst(self, dst: DstSide) -> int | None:
        """The destination directory matching a source one, opened to list it, if any."""
        if dst.pending is None or dst.blocked:
            return None
        try:
            return self.dst_root.reopen_dir(dst.pending[0], dst.pending[1])
        except OSError as exc:
            if exc.errno in _DENIED:
                return None  # as a listing of it: what it holds is unknown, so copied
            raise

    def _leave(self, node: Node) -> None:
        """Everything below `node` is done: make it if it is an empty directory to make."""
        wanted = node.makeable and not node.kept
        if wanted and not node.wanted_below and not node.unread:
            self._make_directory(node.path)
        parent = node.parent
        if parent is not None:
            parent.kept = parent.kept or node.kept
            parent.wanted_below = parent.wanted_below or node.wanted_below or wanted

    # -- files ------------------------------------------------------------------------------------
    def _files(
        self,
        node: Node,
        fd: int,
        current: Pending,
        entries: list[tuple[str, os.stat_result, bool]],
        dst: DstSide,
        there: dict[str, os.stat_result],
        dst_fd: int | None,
        names: frozenset[str] | None,
    ) -> None:
        spec = self.spec
        counts = self.counts
        prefix = current[2]
        todo: list[Todo] = []
        known: KnownChecksums | None = None
        keep_all = spec.filters.accepts_everything and spec.symlinks != "skip"
        overwrite, checksum = spec.overwrite, spec.checksum
        for shown, st, linked in sorted(entries, key=itemgetter(0)):
            if not stat.S_ISREG(st.st_mode):
                continue
            if not keep_all and not keeps_file(
                shown, linked, filters=spec.filters, symlinks=spec.symlinks
            ):
                counts.filtered += 1
                continue
            node.kept = True
            if dst.blocked:
                name = unescape_name(shown[len(prefix) :])
                todo.append(Todo(name, shown, st.st_size, "conflict", True))
                continue
            theirs = there.get(shown)
            found: str | None = None  # the source's checksum, when compared
            if not checksum:  # the common case: decided on the fields, no Entry built
                fields = None
                if theirs is not None:
                    fields = (not stat.S_ISDIR(theirs.st_mode), theirs.st_size, theirs.st_mtime_ns)
                reason = decide_fields(st.st_size, st.st_mtime_ns, fields, overwrite=overwrite)
            else:
                source = Entry(shown, "file", st.st_size, st.st_mtime_ns, None, linked)
                target = None
                if theirs is not None:
                    kind: EntryType = "dir" if stat.S_ISDIR(theirs.st_mode) else "file"
                    target = Entry(shown, kind, theirs.st_size, theirs.st_mtime_ns, None)
                if needs_checksums(source, target, overwrite=overwrite, checksum=checksum):
                    known = known or self._checksums(entries, dst)
                    try:
                        source, target = known.fill(source, st, fd, current, target, theirs, dst_fd)
                    except (OSError, StorageError) as exc:
                        name = unescape_name(shown[len(prefix) :])
                        todo.append(Todo(name, shown, st.st_size, "changed", True))
                        todo[-1].error = _failure(exc)
                        continue
                    counts.compared += 1
                reason = decide_file(source, target, overwrite=overwrite, checksum=checksum)
                found = source.checksum
            if reason is None:
                counts.unchanged += 1
            else:
                name = unescape_name(shown[len(prefix) :])
                todo.append(Todo(name, shown, st.st_size, reason, theirs is not None, found, st=st))
        if not todo:
            return
        self.files_total += len(todo)
        self.bytes_total += sum(t.size for t in todo)
        if self.compare:
            self._plan(todo, current)
        else:
            self._copy(todo, fd, current, dst, names)

    def _checksums(
        self, entries: list[tuple[str, os.stat_result, bool]], dst: DstSide
    ) -> KnownChecksums:
        """The checksums of one directory's files, for `checksum: true`."""
        spec = self.spec
        shown = [s for s, st, _ in entries if stat.S_ISREG(st.st_mode)]
        return KnownChecksums(
            self.service.metadata,
            Side(self.src_root, spec.src, [tree_key(spec.src, s) for s in shown], ""),
            Side(self.dst_root, spec.dst, [tree_key(spec.dst, s) for s in shown], _real(dst)),
            None if self.compare else self.rows.record,
        )

    def _plan(self, todo: list[Todo], current: Pending) -> None:
        """Compare: rows of what a copy would do, with the source checksums known."""
        records = self.service.metadata.of([tree_key(self.spec.src, t.shown) for t in todo])
        counts = self.counts
        for t in todo:
            self.files_done += 1
            if t.error is not None:
                self._failed(t, *t.error)
                continue
            if t.checksum is None:
                record = records.get(tree_key(self.spec.src, t.shown))
                if record is not None and record.checksum:
                    t.checksum = record.checksum if record.size == t.size else None
            counts.overwritten += t.existed
            counts.copied += not t.existed
            counts.bytes += t.size
            self.rows.add((t.shown, "file", t.size, t.reason, "planned", t.checksum, None, None))
        self.ctx.count_progress(self.files_done, self.files_total, 0, self.bytes_total)

    def _copy(
        self,
        todo: list[Todo],
        fd: int,
        current: Pending,
        dst: DstSide,
        names: frozenset[str] | None,
    ) -> None:
        """Copy the files of one source directory (open as `fd`) into its destination directory
        (made if missing). `names` is what that directory held when it was listed (None: not
        known); a file whose name it did not hold is written without looking first (see
        `_copy_one`)."""
        prefix = current[2]
        rel_parts = [unescape_name(p) for p in prefix.split("/") if p]
        label = f"{self.dst_label}/{prefix}" if prefix else self.dst_label
        storages = self.service.storages
        try:
            dst_fd, dst_path = self.dst_root.make_dirs(
                self.dst_parts + rel_parts, label, sync=storages.fsync
            )
        except (OSError, StorageError) as exc:
            for t in todo:
                self._failed(t, *_failure(exc))
            return
        try:
            if names is not None:
                here = _identity(dst_fd)
                # not the directory listed, or the source directory itself: look at each name
                if here == current[1] or (dst.pending is not None and here != dst.pending[1]):
                    names = None
            delay = self.service.faults.spec.file_delay
            for t in todo:
                self._check_cancel()
                if delay and self.ctx.item.group.cancel.wait(delay):  # an injected fault
                    raise CopyCancelledError
                if t.error is not None:
                    self._failed(t, *t.error)
                    continue
                looked = names is None or t.name in names
                self._copy_one(t, fd, current[0], dst_fd, dst_path, looked)
        finally:
            os.close(dst_fd)

    def _copy_one(
        self, t: Todo, fd: int, src_path: str, dst_fd: int, dst_path: str, look: bool
    ) -> None:
        """Copy one file; `look`: examine the destination name first (copy_opened), which is
        needed only when the directory's listing showed something of that name."""
        storages = self.service.storages
        base = self.bytes_done
        progress = None
        if t.size >= CHUNK_SIZE:  # smaller files are one read and one write
            progress = lambda done: self._progress(base + done)  # noqa: E731
        try:
            try:
                src_fd, st = open_listed(t.name, fd, t.st)
            except OSError:  # a symlink, or gone, or no longer a file: as storage:copy says it
                src = Place(self.src_root, fd, src_path, t.name, f"{self.src_label}/{t.shown}")
                src_fd, st = open_source(src)
            try:
                result = copy_opened(
                    src_fd,
                    st,
                    Place(self.dst_root, dst_fd, dst_path, t.name, f"{self.dst_label}/{t.shown}"),
                    registry=storages.registry,
                    fsync=storages.fsync,
                    progress=progress,
                    cancel=self.ctx.cancel,
                    look=look,
                )
            finally:
                os.close(src_fd)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            self._failed(t, code_for(exc), f"{self.src_label}/{t.shown}: {reason}")
            return
        except StorageError as exc:
            self._failed(t, exc.code, exc.message)
            return
        self.files_done += 1
        self.bytes_done = base + t.size
        self._progress(self.bytes_done)
        counts = self.counts
        counts.overwritten += t.existed
        counts.copied += not t.existed
        size = result.size
        counts.bytes += size
        checksum = result.checksum
        self.rows.add((t.shown, "file", size, t.reason, "done", checksum, None, None))
        key = tree_key(self.spec.dst, t.shown)
        self.rows.record(Content(key, size, result.mtime_ns, result.ctime_ns, checksum))

    def _progress(self, bytes_done: int) -> None:
        self.ctx.count_progress(self.files_done, self.files_total, bytes_done, self.bytes_total)

    def _make_directory(self, path: str) -> None:
        """An empty source directory made at the destination (with its parents)."""
        if self.compare:
            self.counts.dirs_made += 1
            self.rows.add((path, "dir", 0, "new", "planned", None, None, None))
            return
        parts = self.dst_parts + [unescape_name(p) for p in path.split("/")]
        try:
            with as_storage_errors(f"{self.dst_label}/{path}"):
                fd, _ = self.dst_root.make_dirs(
                    parts, f"{self.dst_label}/{path}", sync=self.service.storages.fsync
                )
                os.close(fd)
        except StorageError as exc:
            self._note_failure(exc.code)
            self.counts.failed += 1
            self.rows.add((path, "dir", 0, "new", "failed", None, exc.code, exc.message))
            return
        self.counts.dirs_made += 1
        self.rows.add((path, "dir", 0, "new", "done", None, None, None))

    # -- failures ---------------------------------------------------------------------------------
    def _failed(self, t: Todo, code: int, error: str) -> None:
        self._note_failure(code)
        self.counts.failed += 1
        self.files_done += 1
        self.rows.add((t.shown, "file", t.size, t.reason, "failed", None, code, error))

    def _unreadable(self, path: str, exc: OSError) -> None:
        self._note_failure(ItemCode.FORBIDDEN)
        self.counts.unreadable += 1
        row: Row = (path, "unreadable", 0, None, "failed", None, 403, exc.strerror or str(exc))
        self.rows.add(row)

    def _finish_mirror(self, mirror: Mirror, dst_fd: int) -> int | None:
        self.rows.flush()  # the copies' rows first
        return mirror.finish(
            self.counts, dst_fd, compare=self.compare, add=self.rows.add, cancel=self._before_file
        )

    def _before_file(self) -> None:
        """Between files: stop if cancelled (after an injected delay, if any)."""
        self._check_cancel()
        delay = self.service.faults.spec.file_delay
        if delay and self.ctx.item.group.cancel.wait(delay):  # an injected fault
            raise CopyCancelledError

    def _note_failure(self, code: int | None) -> None:
        if self.first_code is None:
            self.first_code = code

    def _check_cancel(self) -> None:
        if self.ctx.item.is_cancelled():
            raise CopyCancelledError


def _identity(fd: int) -> tuple[int, int]:
    """(st_dev, st_ino) of an open directory."""
    st = os.fstat(fd)
    return st.st_dev, st.st_ino


def _real(dst: DstSide) -> str:
    """The real path of the destination directory matching a source one ("" when none)."""
    return dst.pending[0] if dst.pending is not None else ""


def _failure(exc: OSError | StorageError) -> tuple[int, str]:
    """(code, message) of a per-file failure."""
    if isinstance(exc, StorageError):
        return exc.code, exc.message
    return code_for(exc), exc.strerror or str(exc)
