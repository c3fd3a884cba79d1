"""Listings of an object remote. One ListObjectsV2 page after another (a recursive listing reads
every key below the path; a one-level listing asks with the "/" delimiter); the user metadata
listings lack (`mtime`, `xxh64`) comes from the worker's cache (attributes.py) or, for objects
it does not know, from one HEAD each, a few at a time; or, when the caller can do without the
stored mtime (`heads=False`: the runner stats only what it compares), from the listing alone:
the object's LastModified, the entry marked inexact. A zero-byte object that a HEAD does not
find under its own name is a directory marker another tool wrote (`name/`): those are HEADed
either way."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from planner.api.names import escape_name
from planner.worker.file_info import FileInfo, Listed
from planner.worker.objects.attributes import Known, epoch_ns, known_from, stamp

if TYPE_CHECKING:
    from planner.worker.objects.backend import ObjectBackend

PAGE = 1000  # keys per ListObjectsV2 page (S3's largest)
SAME_NAME = "a file and a directory have this name (object storage allows both)"


def list_below(
    backend: ObjectBackend, key: str, *, recursive: bool, heads: bool = True
) -> Listed | None:
    """The entries below `key` ("" for the remote's root) sorted by name, named relative to it;
    None when no key lies below it. `heads=False`: no HEAD for a non-empty object the cache does
    not know (its entry has LastModified as mtime, `mtime_exact` False)."""
    import obstore

    start = len(key) + 1 if key else 0
    files: list[tuple[str, Any]] = []  # (name relative to `key`, ObjectMeta)
    dirs: set[str] = set()
    seen = False  # any key below, the listed directory's own marker included
    if recursive:
        from planner.worker.objects.lanes import keys_below

        below = keys_below(backend.store, key)
        files, dirs, seen = below.files, below.dirs, below.seen
    else:
        found = obstore.list_with_delimiter(backend.store, key or None)
        dirs.update(prefix[start:] for prefix in found["common_prefixes"])
        files.extend(
            (meta["path"][start:], meta) for meta in found["objects"] if meta["path"][start:]
        )
        seen = bool(dirs or found["objects"])
    if not seen:
        return None
    entries, skipped = _entries(backend, key, files, dirs, heads)
    return Listed(sorted(entries, key=lambda e: e.name), sorted(skipped), [])


def _entries(
    backend: ObjectBackend, key: str, files: list[tuple[str, Any]], dirs: set[str], heads: bool
) -> tuple[list[FileInfo], list[tuple[str, str]]]:
    """FileInfo of every file and directory; what shares a name with a directory is skipped."""
    entries = [FileInfo(escape_name(name), "dir", 0, 0) for name in dirs]
    skipped: list[tuple[str, str]] = []
    candidates = []
    for name, meta in files:
        if name in dirs:
            if meta["size"]:  # a zero-byte one is that directory's marker
                skipped.append((escape_name(name), SAME_NAME))
            continue
        candidates.append((name, meta))
    prefix = f"{key}/" if key else ""
    knowns = _known(backend, [prefix + name for name, _ in candidates], candidates, heads)
    for (name, meta), (known, exact) in zip(candidates, knowns, strict=True):
        if known is None:  # a marker `name/` of an empty directory (HEAD of `name`: 404)
            if meta["size"] == 0:
                entries.append(FileInfo(escape_name(name), "dir", 0, 0))
            continue
        entries.append(
            FileInfo(
                escape_name(name),
                "file",
                known.size,
                known.mtime_ns,
                ctime_ns=known.stamp,
                mtime_exact=exact,
            )
        )
    return entries, skipped


def _known(
    backend: ObjectBackend, keys: list[str], files: list[tuple[str, Any]], heads: bool
) -> list[tuple[Known | None, bool]]:
    """What is known of each object and whether its mtime is exact: from the cache when its
    record holds, else from a HEAD (without `heads`, from the listing unless it is empty)."""
    records = backend.cache.of([backend.resource(k) for k in keys]) if backend.cache else {}
    found: list[tuple[Known | None, bool]] = []
    unknown: list[int] = []
    for index, (key, (_, meta)) in enumerate(zip(keys, files, strict=True)):
        etag = stamp(meta["e_tag"])
        known = known_from(records.get(backend.resource(key)), meta["size"], etag)
        if known is None and not heads and meta["size"]:
            listed = Known(meta["size"], epoch_ns(meta["last_modified"]), None, etag)
            found.append((listed, False))
            continue
        found.append((known, True))
        if known is None:
            unknown.append(index)
    for index, known in zip(unknown, backend.each_head([keys[i] for i in unknown]), strict=True):
        found[index] = (known, True)
    return found
