"""The tree operations (`storage:copy_tree`, `storage:compare_tree`, mirrors; docs/api.md, "Tree
operations") with an object remote at one end or both: local → object, object → local,
object → object. Where the local tree run (treeops.py) walks two directories together, this one
lists both ends (tree_sides.py), decides with the same pure functions as the runner's item path
(planner/tree: filters, overwrite policies, checksums, empty directories, mirror deletions) and
copies what they choose through the cross-kind copies (crosskind.py: uploads, downloads,
server-side copies), COPIERS at a time, as rclone's --transfers. It writes the same rows and
the same result as the local run, in path order; a mirror deletes only once every copy
succeeded. An object's mtime is asked (HEAD) only when a decision needs it and neither the
listing nor the worker's cache tells it."""

from __future__ import annotations

import collections
import contextlib
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor

from planner.api.codes import ItemCode
from planner.tree.decide import Decision, Expansion, directories_to_make, expand_directory
from planner.tree.mirror import SourceSide, mirror_deletions
from planner.worker.fileops import CHUNK_SIZE, CopyResult
from planner.worker.metadata import Content
from planner.worker.service import ItemContext, ItemResult, WorkerService
from planner.worker.storage_errors import CopyCancelledError, StorageError, as_storage_errors
from planner.worker.tree_checksums import tree_key
from planner.worker.tree_early import EarlyCopies
from planner.worker.tree_model import Counts, TreeSpec
from planner.worker.tree_object_mirror import note_deletions, open_top
from planner.worker.tree_rows import RowWriter
from planner.worker.tree_sides import SideListing, TreeSide

COPIERS = 16  # files copied at once (rclone: --transfers 4, --checkers 8)
AHEAD = 2 * COPIERS  # copies handed to the pool and not finished yet, at most


class ObjectTreeRun:
    """One tree with an object remote at one end or both: copied, or with `compare` only
    decided (nothing written)."""

    def __init__(
        self, service: WorkerService, spec: TreeSpec, ctx: ItemContext, compare: bool
    ) -> None:
        self.service = service
        self.spec = spec
        self.ctx = ctx
        self.compare = compare
        self.src = TreeSide(service.storages, spec.src)
        self.dst = TreeSide(service.storages, spec.dst)
        self.counts = Counts()
        item = ctx.item
        self.rows = RowWriter(service.db, item.group.id, item.index)
        self.first_code: int | None = None
        self.files_done = self.files_total = self.bytes_done = self.bytes_total = 0
        # the bytes of the large files being copied, reported from the copiers' threads
        self.lock = threading.Lock()
        self.moving: dict[str, int] = {}
        self.pool: ThreadPoolExecutor  # for the run's length (`run`)
        self.early: EarlyCopies | None = None

    def run(self) -> ItemResult:
        """Decide, copy, make the empty directories, then delete what a mirror deletes."""
        with ThreadPoolExecutor(COPIERS, thread_name_prefix="planner-tree-copy") as pool:
            self.pool = pool
            self._list_then_run()
        failures = self.counts.failures()
        if failures is not None:
            code = ItemCode(self.first_code or ItemCode.INTERNAL)
            raise StorageError(code, failures, self._result())
        return ItemResult(self._result(), [] if self.compare else [self.spec.dst.remote])

    def _list_then_run(self) -> None:
        """List both ends (an object source after the destination, copying what is certain
        while its pages arrive: tree_early.py), then `_run`."""
        src, dst = self.src, self.dst
        existing: SideListing | None = None
        try:
            if not self.compare and src.backend is not None:
                try:
                    with as_storage_errors(dst.label):
                        existing = dst.listing() or SideListing([])
                except StorageError as exc:
                    raise StorageError(exc.code, exc.message, self._result()) from exc
                self.early = EarlyCopies(
                    self.spec, existing.entries, self.pool, self._copy_one, self._before_file
                )
            try:
                with as_storage_errors(src.label):
                    source = src.listing(self.early.page if self.early else None)
            except StorageError as exc:  # cancelled, or a later page failed
                self._settle_early()
                if self.rows.count:  # what was copied early stays, with its rows
                    raise StorageError(exc.code, exc.message, self._result()) from exc
                raise
            if source is None:
                raise StorageError(ItemCode.NOT_FOUND, f"{src.label}: no such directory")
            try:
                with as_storage_errors(dst.label):
                    if existing is None:
                        existing = dst.listing() or SideListing([])
                    self._run(source, existing)
            except StorageError as exc:  # cancelled, or a listing failed: what it did stays
                raise StorageError(exc.code, exc.message, self._result()) from exc
        finally:
            try:
                self._settle_early()
            finally:
                self.rows.close()

    def _settle_early(self) -> None:
        """The copies started early that no decision took (the run stopped before them): not
        started ones withdrawn, the others waited for and rowed."""
        if self.early is None:
            return
        left = self.early.left()
        for _, future in left:
            future.cancel()
        for d, future in left:
            if future.cancelled():
                continue
            with contextlib.suppress(Exception):  # the run already fails: a copy's rows are kept
                self._finish(d, future, set())

    def _result(self) -> dict[str, int]:
        self.counts.rows = self.rows.count
        return self.counts.wire()

    def _run(self, source: SideListing, existing: SideListing) -> None:
        spec, counts = self.spec, self.counts
        for shown, why in source.skipped:
            counts.skipped += 1
            self.rows.add((shown, "skipped", 0, why, "done", None, None, None))
        for shown, error in source.unreadable:
            self._note_failure(ItemCode.FORBIDDEN)
            counts.unreadable += 1
            self.rows.add((shown, "unreadable", 0, None, "failed", None, 403, error))
        plan = self._decide(source, existing)
        counts.unchanged = len(plan.unchanged)
        counts.filtered = plan.filtered
        counts.compared = plan.compared
        present = {e.path for e in existing.entries}
        checksums = {e.path: e.checksum for e in source.entries if e.checksum}
        self.files_total = len(plan.to_copy)
        self.bytes_total = plan.bytes_to_copy
        if self.compare:
            self._plan(plan.to_copy, present, checksums)
        else:
            self._copy(plan.to_copy, present)
        if spec.empty_dirs and self.dst.keeps_directories:
            made = directories_to_make(
                source.entries,
                existing.entries,
                filters=spec.filters,
                symlinks=spec.symlinks,
                holding=plan.directories,
            )
            unread = {path for path, _ in source.unreadable}
            for path in made:
                if path not in unread and not any(path.startswith(f"{u}/") for u in unread):
                    self._make_directory(path)
        if spec.mirror:
            self._mirror(source, existing)

    # -- deciding ---------------------------------------------------------------------------------
    def _decide(self, source: SideListing, existing: SideListing) -> Expansion:
        """The files to copy, after learning what the decisions need of each end (an object's
        mtime or stored checksum, a file's checksum with `checksum: true`)."""
        spec = self.spec
        if spec.overwrite in ("if-newer", "if-different"):
            there = {e.path: e for e in existing.entries if e.type == "file"}
            both = [
                e.path
                for e in source.entries
                if e.type == "file"
                and (theirs := there.get(e.path)) is not None
                and (spec.overwrite == "if-newer" or theirs.size == e.size)
            ]
            source.fill(self.src, both)
            existing.fill(self.dst, both)

        def expand() -> Expansion:
            return expand_directory(
                source.entries,
                existing.entries,
                filters=spec.filters,
                overwrite=spec.overwrite,
                checksum=spec.checksum,
                symlinks=spec.symlinks,
            )

        plan = expand()
        if plan.unhashed:  # `checksum: true`: hash what neither the listing nor a HEAD told
            for listing, side in ((source, self.src), (existing, self.dst)):
                self._hash(listing, side, set(plan.unhashed))
            plan = expand()
        return plan

    def _hash(self, listing: SideListing, side: TreeSide, paths: set[str]) -> None:
        from planner.tree.entry import Entry

        for index, e in enumerate(listing.entries):
            if e.path in paths and e.type == "file" and e.checksum is None:
                self._check_cancel()
                checksum = side.checksum(e.path)
                listing.entries[index] = Entry(
                    e.path, e.type, e.size, e.mtime_ns, checksum, e.is_link
                )

    def _plan(self, todo: list[Decision], present: set[str], checksums: dict[str, str]) -> None:
        """Compare: rows of what a copy would do."""
        counts = self.counts
        for d in todo:
            self.files_done += 1
            existed = d.path in present
            counts.overwritten += existed
            counts.copied += not existed
            counts.bytes += d.size
            row = (d.path, "file", d.size, d.reason, "planned", checksums.get(d.path), None, None)
            self.rows.add(row)
        self.ctx.count_progress(self.files_done, self.files_total, 0, self.bytes_total)

    # -- copying ----------------------------------------------------------------------------------
    def _copy(self, todo: list[Decision], present: set[str]) -> None:
        """Copy the files of `todo`, COPIERS at a time (taking over those started early); their
        rows in path order."""
        window: collections.deque[tuple[Decision, Future[CopyResult] | None]] = collections.deque()
        pool, early = self.pool, self.early
        try:
            for d in todo:
                future = early.take(d.path) if early is not None else None
                if future is None:
                    self._before_file()
                    if d.reason != "conflict":
                        future = pool.submit(self._copy_one, d)
                window.append((d, future))
                while len(window) > AHEAD or (window and _ready(window[0][1])):
                    self._finish(*window.popleft(), present)
            while window:
                self._finish(*window.popleft(), present)
        except BaseException:
            # stopped (cancelled, say): the copies that ended still get their rows
            for _, future in window:
                if future is not None:
                    future.cancel()
            pool.shutdown(wait=True)
            for d, future in window:
                if future is not None and not future.cancelled() and not future.exception():
                    self._finish(d, future, present)
            raise

    def _copy_one(self, d: Decision) -> CopyResult:
        """Copy one file (on a pool thread); a large one reports its bytes as they go."""
        src, dst = self.src, self.dst
        progress = None
        if d.size >= CHUNK_SIZE:  # smaller files are one request each

            def progress(done: int) -> None:
                with self.lock:
                    self.moving[d.path] = done
                    self._progress()

        try:
            return self.service.storages.copy(
                src.place.remote,
                src.path_of(d.path),
                dst.place.remote,
                dst.path_of(d.path),
                progress=progress,
                cancel=self.ctx.cancel,
            )
        finally:
            if progress is not None:
                with self.lock:
                    self.moving.pop(d.path, None)

    def _progress(self) -> None:
        """Report the files and bytes copied so far (under `lock`)."""
        moving = sum(self.moving.values()) if self.moving else 0
        done = self.bytes_done + moving
        self.ctx.count_progress(self.files_done, self.files_total, done, self.bytes_total)

    def _finish(self, d: Decision, future: Future[CopyResult] | None, present: set[str]) -> None:
        """The row of one copy, once it ended."""
        if future is None:
            error = f"{self.dst.label}/{d.path}: a directory is in the way (or a file above it)"
            self._failed(d, ItemCode.CONFLICT, error)
            return
        try:
            result = future.result()
        except StorageError as exc:
            if exc.code == ItemCode.CANCELLED and self.ctx.item.is_cancelled():
                raise
            self._failed(d, exc.code, exc.message)
            return
        except OSError as exc:
            self._failed(d, ItemCode.TRANSIENT, f"{self.src.label}/{d.path}: {exc.strerror or exc}")
            return
        existed = d.path in present
        counts = self.counts
        counts.overwritten += existed
        counts.copied += not existed
        counts.bytes += result.size
        with self.lock:
            self.files_done += 1
            self.bytes_done += d.size
            self._progress()
        self.rows.add((d.path, "file", result.size, d.reason, "done", result.checksum, None, None))
        key = tree_key(self.spec.dst, d.path)
        self.rows.record(
            Content(key, result.size, result.mtime_ns, result.ctime_ns, result.checksum)
        )

    def _make_directory(self, path: str) -> None:
        """An empty source directory made at the (local) destination."""
        if self.compare:
            self.counts.dirs_made += 1
            self.rows.add((path, "dir", 0, "new", "planned", None, None, None))
            return
        dst = self.dst
        try:
            self.service.storages.mkdir(dst.place.remote, dst.path_of(path))
        except StorageError as exc:
            self._note_failure(exc.code)
            self.counts.failed += 1
            self.rows.add((path, "dir", 0, "new", "failed", None, exc.code, exc.message))
            return
        self.counts.dirs_made += 1
        self.rows.add((path, "dir", 0, "new", "done", None, None, None))

    # -- mirror -----------------------------------------------------------------------------------
    def _mirror(self, source: SideListing, existing: SideListing) -> None:
        """What the destination holds beyond the filtered source: noted (children first), then
        deleted once every copy succeeded (tree_mirror.Mirror, or its object form)."""
        spec = self.spec
        side = SourceSide.of(
            source.entries,
            filters=spec.filters,
            symlinks=spec.symlinks,
            skipped=(path for path, _ in source.skipped),
        )
        deletions = mirror_deletions(
            side, existing.entries, filters=spec.filters, delete_excluded=spec.delete_excluded
        )
        mirror = note_deletions(self.spec, self.service, self.dst, deletions, existing.entries)
        try:
            self.rows.flush()  # the copies' rows first
            local = not self.compare and self.dst.backend is None and mirror.count > 0
            top = open_top(self.dst) if local else None
            try:
                first = mirror.finish(
                    self.counts,
                    -1 if top is None else top,
                    compare=self.compare,
                    add=self.rows.add,
                    cancel=self._before_file,
                )
            finally:
                if top is not None:
                    os.close(top)
            self._note_failure(first)
        finally:
            mirror.close()

    # -- failures ---------------------------------------------------------------------------------
    def _failed(self, d: Decision, code: int, error: str) -> None:
        self._note_failure(code)
        self.counts.failed += 1
        self.files_done += 1
        self.rows.add((d.path, "file", d.size, d.reason, "failed", None, code, error))

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


def _ready(future: Future[CopyResult] | None) -> bool:
    return future is None or future.done()
