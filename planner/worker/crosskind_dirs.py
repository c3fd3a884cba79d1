"""Directory moves with an object remote at one end or both (`Storages.move` of a directory:
local → object, object → local, object → object): every file copied (server-side within one
bucket) and verified (size and XXH64), and only once all of them are, the sources deleted.

The destination is absent (on object storage: no key below it), or a directory that may already
hold some of the source's files, the same (size, and mtime or XXH64): what an interrupted move
left, which a retried move does not copy again. A file there that differs from its source is a
conflict (409) found before anything is copied. A move that fails part-way has deleted nothing:
the files it copied stay at the destination, as a failed copy's do.

The sources are deleted only where the destination holds them: a local source directory as a
directory move across filesystems deletes its source (moves.py: only the files and directories
it copied, by identity; what was added or changed meanwhile stays, 409); an object source key by
key, each once its copy is there with the same size and mtime (or XXH64), page by page (a
directory marker another tool wrote, `name/`, is neither copied nor deleted: the store client
cannot name it). Listings of an object source are read page by page, never whole; a local
source is listed whole, as the directory walk does. The files of a page are copied and checked
PARALLEL at a time.
"""

from __future__ import annotations

import stat
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, TypeVar

from planner.api.codes import ItemCode
from planner.api.names import escape_name
from planner.worker import moves
from planner.worker.storage_errors import StorageError, as_storage_errors
from planner.worker.treedelete import Identity, identity

if TYPE_CHECKING:
    from planner.worker.objects.backend import ObjectBackend
    from planner.worker.storage import Storages

End = tuple[str, str]  # (remote, path)
PAGE = 1000  # keys per listing page and per DeleteObjects request
PARALLEL = 8  # files copied (and checked) at a time
T = TypeVar("T")


def move_directory(storages: Storages, src: End, dst: End, label: str) -> None:
    """Move the directory `src` onto `dst` (one of them, or both, on an object remote).

    Raises:
        StorageError: 400 into itself, a symlink or special file in a local source, a key that
            is no path; 403 the root as the source; 409 the root or a file as the destination,
            a destination file that differs, a source changed meanwhile (what changed stays);
            as `Storages.copy` for each file (nothing deleted then).
    """
    _refuse_roots_and_overlap(storages, src, dst, label)
    existing = _destination_is_directory(storages, dst, label)
    source = _object_source(storages, src, label)
    with ThreadPoolExecutor(PARALLEL, thread_name_prefix="planner-dirmove") as pool:
        if source is None:
            _move_local_source(pool, storages, src, dst, label, existing=existing)
            return
        backend, key = source
        if existing:
            for page in _pages(backend, key, label):
                _each(pool, lambda rel: _check_no_conflict(storages, src, dst, rel, label), page)
        for page in _pages(backend, key, label):
            _each(pool, lambda rel: _copy_one(storages, src, dst, rel, existing=existing), page)
        _delete_object_source(pool, storages, backend, key, src, dst, label)


def _each(pool: ThreadPoolExecutor, fn: Callable[[str], T], items: list[str]) -> list[T]:
    """`fn` of every item, PARALLEL at a time, in order. On the first failure the items not
    started are dropped, and the error is raised once those running have ended (no copy is
    still writing when a move reports its failure)."""
    futures = [pool.submit(fn, item) for item in items]
    try:
        return [future.result() for future in futures]
    except BaseException:
        for future in futures:
            future.cancel()
        wait(futures)
        raise


# -- checks ----------------------------------------------------------------------------------


def _refuse_roots_and_overlap(storages: Storages, src: End, dst: End, label: str) -> None:
    src_object, dst_object = storages.object_at(*src), storages.object_at(*dst)
    src_parts = src_object[1] if src_object else _local_parts(storages, src)
    dst_parts = dst_object[1] if dst_object else _local_parts(storages, dst)
    if not src_parts:
        raise StorageError(ItemCode.FORBIDDEN, f"{label}: the storage root cannot move")
    if not dst_parts:
        raise StorageError(ItemCode.CONFLICT, f"{dst[0]}:{dst[1]}: is the storage root")
    if src_object is None or dst_object is None:
        return  # a directory and an object store never overlap
    (from_, _), (to, _) = src_object, dst_object
    if from_.location.bucket != to.location.bucket:
        return
    src_key = from_.full_key(from_.key(src_parts, label))
    dst_key = to.full_key(to.key(dst_parts, label))
    if dst_key == src_key or dst_key.startswith(src_key + "/"):
        raise StorageError(
            ItemCode.INVALID, f"{label}: a directory cannot move into itself (the same bucket)"
        )


def _local_parts(storages: Storages, end: End) -> list[str]:
    return storages.resolve(*end)[1]


def _destination_is_directory(storages: Storages, dst: End, label: str) -> bool:
    """Whether `dst` is a directory already (False: nothing there).

    Raises:
        StorageError: 409 a file is there.
    """
    from planner.worker.objects.client import MissingBucketError

    try:
        found = storages.stat(*dst)
    except StorageError as exc:
        if exc.code == ItemCode.NOT_FOUND and not isinstance(exc, MissingBucketError):
            return False
        raise
    if found.type != "dir":
        raise StorageError(ItemCode.CONFLICT, f"{label}: the destination is a file")
    return True


def _same(storages: Storages, src: End, dst: End) -> bool | None:
    """Whether `dst` holds the file `src` (same size, and the same mtime or XXH64); None when
    nothing is at `dst`."""
    try:
        there = storages.stat(*dst)
    except StorageError as exc:
        if exc.code == ItemCode.NOT_FOUND:
            return None
        raise
    here = storages.stat(*src)
    if there.type != "file" or there.size != here.size:
        return False
    if there.mtime_ns == here.mtime_ns:
        return True
    return storages.checksum(*src) == storages.checksum(*dst)


def _check_no_conflict(storages: Storages, src: End, dst: End, rel: str, label: str) -> None:
    there = _below(dst, rel)
    if _same(storages, _below(src, rel), there) is False:
        raise StorageError(
            ItemCode.CONFLICT,
            f"{label}: the destination is a directory whose {there[1]} differs from the source",
        )


# -- copies ----------------------------------------------------------------------------------


def _copy_one(storages: Storages, src: End, dst: End, rel: str, *, existing: bool) -> None:
    """Copy and verify the file `rel`, unless (in a destination that existed) it is there."""
    from planner.worker import crosskind

    if existing and _same(storages, _below(src, rel), _below(dst, rel)):
        return
    crosskind.copy_verified(storages, _below(src, rel), _below(dst, rel))


def _below(end: End, rel: str) -> End:
    return end[0], f"{end[1].rstrip('/')}/{rel}"


# -- an object source ------------------------------------------------------------------------


def _object_source(storages: Storages, src: End, label: str) -> tuple[ObjectBackend, str] | None:
    found = storages.object_at(*src)
    if found is None:
        return None
    backend, parts = found
    return backend, backend.key(parts, label)


def _pages(backend: ObjectBackend, key: str, label: str) -> Iterator[list[str]]:
    """The paths (relative to `key`, escaped) of the objects below `key`, a page at a time;
    directory markers another tool wrote (`name/`, zero bytes) left out.

    Raises:
        StorageError: 400 a key with an empty, `.` or `..` segment (no path names it).
    """
    import obstore

    start = len(key) + 1
    with backend.errors(label):
        for chunk in obstore.list(backend.store, key, chunk_size=PAGE):
            page = []
            for meta in chunk:
                rel = meta["path"][start:]
                if not rel:
                    continue  # the directory's own marker
                if any(part in ("", ".", "..") for part in rel.split("/")):
                    raise StorageError(
                        ItemCode.INVALID,
                        f"{label}: the key {escape_name(rel)!r} has an empty, '.' or '..' "
                        "segment: no path names it, so it cannot move",
                    )
                if meta["size"] == 0 and backend.head(meta["path"]) is None:
                    continue  # `rel/`: a marker (the client cannot name, so neither delete it)
                page.append(escape_name(rel))
            yield page


def _delete_object_source(
    pool: ThreadPoolExecutor,
    storages: Storages,
    backend: ObjectBackend,
    key: str,
    src: End,
    dst: End,
    label: str,
) -> None:
    """Delete every source object whose copy is at the destination, a page at a time.

    Raises:
        StorageError: 409 objects added or changed meanwhile (they stay).
    """
    import obstore

    kept = 0
    for page in _pages(backend, key, label):
        there = _each(pool, lambda rel: _same(storages, _below(src, rel), _below(dst, rel)), page)
        doomed = []
        for rel, same in zip(page, there, strict=True):
            if same:
                found = storages.object_at(*_below(src, rel))
                assert found is not None
                doomed.append(backend.key(found[1], label))
            else:
                kept += 1
        if doomed:
            with backend.errors(label):
                obstore.delete(backend.store, doomed)
    if kept:
        raise StorageError(
            ItemCode.CONFLICT,
            f"{label}: the source changed during the move; {kept} new or changed files were not "
            "moved and stay there",
        )


# -- a local source --------------------------------------------------------------------------


def _move_local_source(
    pool: ThreadPoolExecutor, storages: Storages, src: End, dst: End, label: str, *, existing: bool
) -> None:
    listed = storages.listed(*src, recursive=True)
    odd = [e.name for e in listed.entries if e.is_link]
    odd += [name for name, _ in listed.skipped] + [name for name, _ in listed.unreadable]
    if odd:
        raise StorageError(
            ItemCode.INVALID,
            f"{label}: {odd[0]} is a symlink, a special file or unreadable: a directory holding "
            "one cannot move to object storage (copy the tree instead)",
        )
    files = [e.name for e in listed.entries if e.type == "file"]
    pages = [files[i : i + PAGE] for i in range(0, len(files), PAGE)]
    if existing:
        for page in pages:
            _each(pool, lambda rel: _check_no_conflict(storages, src, dst, rel, label), page)
    copied: set[Identity] = set()
    for entry in listed.entries:
        if entry.type == "dir":
            copied.add(_identity(storages, _below(src, entry.name), label))

    def copy_one(rel: str) -> Identity | None:
        before = _identity(storages, _below(src, rel), label)
        _copy_one(storages, src, dst, rel, existing=existing)
        # changed while it was copied: not counted as copied, so it stays (409 below)
        return before if _identity(storages, _below(src, rel), label) == before else None

    for page in pages:
        copied.update(found for found in _each(pool, copy_one, page) if found is not None)
    with as_storage_errors(label), storages.place(*src) as place:
        st = place.lstat()
        if not stat.S_ISDIR(st.st_mode):
            raise StorageError(ItemCode.CONFLICT, f"{label}: the source changed during the move")
        copied.add(identity(st))
        moves.delete_moved_directory(place, storages.registry, copied)
        storages.synced(place)


def _identity(storages: Storages, end: End, label: str) -> Identity:
    with as_storage_errors(label), storages.place(*end) as place:
        return identity(place.lstat())
