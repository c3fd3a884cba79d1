"""The listing a tree operation reads of an object remote (tree_objects.py): every key below a
path, as listing.py reads it, but lazily about what a listing lacks. An object's `mtime` and
`xxh64` come from the worker's cache when its record holds; otherwise they stay unknown until
the tree's decision needs them (a file at both ends compared on its mtime or checksum), and only
those objects get a HEAD (`fill`). A copy onto a missing destination never asks. Zero-byte
objects the cache does not know are asked at once: one may be a directory marker (`name/`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from planner.api.names import escape_name
from planner.tree.entry import Entry
from planner.worker.objects.attributes import Known, known_from, stamp
from planner.worker.objects.lanes import SettledHook, keys_below
from planner.worker.objects.listing import SAME_NAME

if TYPE_CHECKING:
    from planner.worker.objects.backend import ObjectBackend


@dataclass
class ObjectTree:
    """The files and directories below one path of an object remote, as tree entries sorted by
    path (an unknown mtime is 0 until `fill`), what was skipped, and the keys of the files whose
    mtime is not known yet (path -> (index in `entries`, key))."""

    entries: list[Entry]
    skipped: list[tuple[str, str]]
    unknown: dict[str, tuple[int, str]] = field(default_factory=dict)

    def fill(self, backend: ObjectBackend, paths: list[str]) -> None:
        """Learn (HEAD, a few at a time) the mtime and checksum of the files of `paths` whose
        mtime is not known; one that is gone meanwhile keeps what the listing said."""
        wanted = [(path, *self.unknown[path]) for path in paths if path in self.unknown]
        heads = backend.each_head([key for _, _, key in wanted])
        for (path, index, _), known in zip(wanted, heads, strict=True):
            del self.unknown[path]
            if known is not None:
                entry = self.entries[index]
                self.entries[index] = Entry(
                    entry.path, "file", entry.size, known.mtime_ns, known.checksum
                )


# told after each page of keys: the files now settled (name, size: whether one is a directory
# too is known; objects/lanes.py) and every directory seen so far
PageHook = SettledHook


def list_tree(
    backend: ObjectBackend, key: str, on_page: PageHook | None = None
) -> ObjectTree | None:
    """Every file and directory below `key` ("" for the remote's root), named relative to it;
    None when no key lies below it. `on_page` hears of each page as it arrives."""
    prefix = f"{key}/" if key else ""
    below = keys_below(backend.store, key, on_page)
    files = [(name, meta["size"], stamp(meta["e_tag"])) for name, meta in below.files]
    dirs, seen = below.dirs, below.seen
    if not seen:
        return None
    records = (
        backend.cache.of([backend.resource(prefix + name) for name, _, _ in files])
        if backend.cache
        else {}
    )
    found: list[tuple[str, int, Known | None, str]] = []
    skipped: list[tuple[str, str]] = []
    empties: list[int] = []  # zero-byte objects not known: a file, or a directory marker
    for name, size, etag in files:
        if name in dirs:
            if size:  # a zero-byte one is that directory's marker
                skipped.append((escape_name(name), SAME_NAME))
            continue
        full = prefix + name
        known = known_from(records.get(backend.resource(full)), size, etag)
        if known is None and size == 0:
            empties.append(len(found))
        found.append((name, size, known, full))
    for index, known in zip(
        empties, backend.each_head([found[i][3] for i in empties]), strict=True
    ):
        name, size, _, full = found[index]
        if known is None:  # a marker `name/` of an empty directory (HEAD of `name`: 404)
            dirs.add(name)
            found[index] = ("", 0, None, "")
        else:
            found[index] = (name, size, known, full)
    entries = [Entry(escape_name(name), "dir", 0, 0, None) for name in dirs]
    unknown_keys: dict[str, str] = {}
    for name, size, known, full in found:
        if not name:
            continue
        shown = escape_name(name)
        if known is None:
            entries.append(Entry(shown, "file", size, 0, None))
            unknown_keys[shown] = full
        else:
            entries.append(Entry(shown, "file", size, known.mtime_ns, known.checksum))
    entries.sort(key=lambda e: e.path)
    unknown = {
        e.path: (i, unknown_keys[e.path]) for i, e in enumerate(entries) if e.path in unknown_keys
    }
    return ObjectTree(entries, sorted(skipped), unknown)
