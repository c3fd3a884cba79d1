"""One end of a tree operation that involves an object remote (tree_objects.py): a directory
remote listed by the confined walk (walk.py, through Storages.listed) or an object remote listed
by its keys (objects/tree_listing.py), both as planner/tree entries, so that the local and the
object trees are decided by the same pure functions as the runner's item path."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from planner.api.codes import ItemCode
from planner.api.names import unescape_name
from planner.tree.entry import Entry
from planner.worker.requests import Place as StoragePlace
from planner.worker.storage_errors import StorageError

if TYPE_CHECKING:
    from planner.worker.objects.backend import ObjectBackend
    from planner.worker.objects.tree_listing import ObjectTree, PageHook
    from planner.worker.storage import Storages


@dataclass
class SideListing:
    """What one end holds below the tree's path: entries sorted by path, what the walk skipped
    and could not read, and (object remote) what the listing did not tell yet."""

    entries: list[Entry]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    lazy: ObjectTree | None = None

    def fill(self, side: TreeSide, paths: list[str]) -> None:
        """Learn the mtime (and stored checksum) of the files of `paths` the listing did not
        tell (object remote: one HEAD each, a few at a time); a directory's listing tells all."""
        if self.lazy is not None and side.backend is not None and paths:
            self.lazy.fill(side.backend, paths)
            self.entries = self.lazy.entries


class TreeSide:
    """One end of the tree: its remote, its path, and the backend when it is an object remote."""

    def __init__(self, storages: Storages, place: StoragePlace) -> None:
        """Raises:
        StorageError: 400 unknown remote or invalid path."""
        self.storages = storages
        self.place = place
        self.label = f"{place.remote}:{place.path}"
        on = storages.object_at(place.remote, place.path)
        self.backend: ObjectBackend | None = None
        self.parts: list[str] = []
        if on is not None:
            self.backend, self.parts = on
        else:
            storages.resolve(place.remote, place.path)  # an unknown remote or a bad path: 400

    @property
    def keeps_directories(self) -> bool:
        """Whether a directory can be made there (object storage keeps none)."""
        return self.backend is None

    def path_of(self, rel: str) -> str:
        """The request path of `rel` (escaped, relative to the tree's path)."""
        base = self.place.path
        return base + rel if base in ("", "/") else f"{base}/{rel}"

    def key_of(self, rel: str) -> str:
        """The object key of `rel` (object remote)."""
        assert self.backend is not None
        parts = self.parts + [unescape_name(p) for p in rel.split("/")]
        return self.backend.key(parts, f"{self.place.remote}:{self.path_of(rel)}")

    def listing(self, on_page: PageHook | None = None) -> SideListing | None:
        """Everything below the tree's path, or None when nothing is there (`on_page`: told of
        each page of an object remote's keys as it arrives).

        Raises:
            StorageError: 409 a file is there; 404 a missing bucket; 403/503 from the store.
        """
        if self.backend is None:
            return self._local_listing()
        from planner.worker.objects.tree_listing import list_tree

        backend = self.backend
        key = backend.key(self.parts, self.label)
        with backend.errors(self.label):
            found = list_tree(backend, key, on_page)
            if found is None:
                if not self.parts:
                    backend.has_below("")  # a missing bucket or a wrong credential says so here
                    return SideListing([])
                if backend.head(key) is not None:
                    raise StorageError(
                        ItemCode.CONFLICT, f"{self.label}: is a file, not a directory"
                    )
                return None
        return SideListing(found.entries, found.skipped, [], found)

    def _local_listing(self) -> SideListing | None:
        storages, place = self.storages, self.place
        try:
            info = storages.stat(place.remote, place.path)
        except StorageError as exc:
            if exc.code == ItemCode.NOT_FOUND:
                return None
            raise
        if info.type != "dir":
            raise StorageError(ItemCode.CONFLICT, f"{self.label}: is a file, not a directory")
        listed = storages.listed(place.remote, place.path, recursive=True)
        entries = [
            Entry(e.name, e.type, e.size, e.mtime_ns, None, e.is_link) for e in listed.entries
        ]
        return SideListing(entries, listed.skipped, listed.unreadable)

    def checksum(self, rel: str) -> str:
        """The XXH64 of the file `rel` (stored, recorded, or hashed).

        Raises:
            StorageError: from the storage.
        """
        return self.storages.checksum(self.place.remote, self.path_of(rel))
