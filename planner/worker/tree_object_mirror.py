"""The deletions of a mirror tree operation with an object remote at one end or both
(tree_objects.py): what planner/tree/mirror.py decides from the two listings, noted children
first in tree_mirror.Mirror's notes (one line per path, so memory holds none of them), then
deleted once every copy succeeded. A local destination is deleted by Mirror itself, relative to
its top descriptor (nothing behind a link, a directory only when empty); an object destination
by ObjectMirror, DeleteObjects a batch at a time (a directory there is only its keys: its row
is done once they are gone)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from planner.api.codes import ItemCode
from planner.tree.entry import Entry
from planner.tree.mirror import Deletion
from planner.worker.confine import reopen
from planner.worker.service import WorkerService
from planner.worker.storage_errors import StorageError
from planner.worker.tree_mirror import Mirror
from planner.worker.tree_model import TreeSpec
from planner.worker.tree_rows import Row
from planner.worker.tree_sides import TreeSide

DELETE_BATCH = 1000  # keys per DeleteObjects request (S3's limit)
_OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY


class ObjectMirror(Mirror):
    """The deletions of a mirror whose destination is an object remote."""

    def __init__(self, spec: TreeSpec, service: WorkerService, dst: TreeSide) -> None:
        super().__init__(spec, service)
        self.dst = dst

    def delete(
        self, top_fd: int, add: Callable[[Row], None], check_cancel: Callable[[], None]
    ) -> int:
        """Delete what was noted, a batch of keys at a time; each path a row, done or failed.
        Returns the failures (`top_fd` is not used: there is no directory to open)."""
        failed = 0
        batch: list[tuple[str, int, str]] = []
        for noted in self.noted():
            batch.append(noted)
            if len(batch) >= DELETE_BATCH:
                check_cancel()
                failed += self._delete_batch(batch, add)
                batch = []
        if batch:
            check_cancel()
            failed += self._delete_batch(batch, add)
        return failed

    def _delete_batch(self, batch: list[tuple[str, int, str]], add: Callable[[Row], None]) -> int:
        import obstore

        backend = self.dst.backend
        assert backend is not None
        keys = [self.dst.key_of(shown) for kind, _, shown in batch if kind == "file"]
        error: StorageError | None = None
        try:
            with backend.errors(self.dst.label):
                if keys:
                    obstore.delete(backend.store, keys)
        except StorageError as exc:
            error = exc
        for kind, size, shown in batch:
            if error is not None and kind == "file":
                add((shown, kind, size, "extraneous", "failed", None, error.code, error.message))
                continue
            self.deleted += 1
            self._forget(shown)
            add((shown, kind, size, "extraneous", "done", None, None, None))
        return len(keys) if error is not None else 0


def note_deletions(
    spec: TreeSpec,
    service: WorkerService,
    dst: TreeSide,
    deletions: Sequence[Deletion],
    existing: Sequence[Entry],
) -> Mirror:
    """A Mirror (or ObjectMirror) with every deletion noted: each path a deleted directory holds
    before the directory, a link as itself (never what lies behind it)."""
    mirror = Mirror(spec, service) if dst.backend is None else ObjectMirror(spec, service, dst)
    dirs = sorted(d.path for d in deletions if d.type == "dir" and not d.link)
    below: dict[str, list[Entry]] = {path: [] for path in dirs}
    if dirs:
        for e in existing:
            top = _deleted_above(e.path, below)
            if top is not None:
                below[top].append(e)
    for d in deletions:
        if d.link or d.type == "file":
            mirror.note("file", 0 if d.link else d.size, d.path)
            continue
        subtree = below[d.path]
        linked = {e.path for e in subtree if e.is_link}
        for e in sorted(subtree, key=lambda e: e.path, reverse=True):
            if e.path.rpartition("/")[0] in linked:
                continue  # behind a link: the link goes, what it leads to stays
            if e.type == "dir" and not e.is_link:
                mirror.note("dir", 0, e.path)
            else:
                mirror.note("file", 0 if e.is_link else e.size, e.path)
        mirror.note("dir", 0, d.path)
    return mirror


def _deleted_above(path: str, dirs: dict[str, list[Entry]]) -> str | None:
    """The deleted directory `path` lies below, if any."""
    end = path.find("/")
    while end >= 0:
        if path[:end] in dirs:
            return path[:end]
        end = path.find("/", end + 1)
    return None


def open_top(dst: TreeSide) -> int:
    """The destination's top directory (a directory remote), opened for the deletions.

    Raises:
        StorageError: from the filesystem.
    """
    root, parts = dst.storages.resolve(dst.place.remote, dst.place.path)
    try:
        fd, _ = root.open_dir(parts, dst.label)
    except OSError as exc:
        raise StorageError(ItemCode.CONFLICT, f"{dst.label}: {exc.strerror or exc}") from exc
    try:
        return reopen(fd, _OPEN_DIR)
    finally:
        os.close(fd)
