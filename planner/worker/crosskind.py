"""Copies and moves with an object remote at one end or both (local → object, object → local,
object → object), for `Storages.copy` and `Storages.move`: the source opened as a stream with
its size and mtime, the destination written atomically from it (objects/transfer.py). A move is
a copy, verified (size and XXH64), then the deletion of its source; into a local directory the
copy is made durable (fsync) before the object is deleted. Directories move in
crosskind_dirs.py."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from planner.api.codes import ItemCode
from planner.worker import moves
from planner.worker.fileops import CopyResult
from planner.worker.objects import transfer
from planner.worker.placecopy import open_source
from planner.worker.storage_errors import StorageError, as_storage_errors

if TYPE_CHECKING:
    from planner.worker.storage import Storages

End = tuple[str, str]  # (remote, path)


def copy(
    storages: Storages,
    src: End,
    dst: End,
    *,
    progress: Callable[[int], None] | None = None,
    cancel: threading.Event | None = None,
    on_size: Callable[[int], None] | None = None,
    durable: bool = False,
) -> CopyResult:
    """Copy the file `src` onto `dst` (at least one of them on an object remote); `durable`
    syncs a local destination whatever --fsync says.

    Raises:
        StorageError: 400 the source is a directory; 404 missing; 409 a directory in the way;
            403/503 from the store; 499 cancelled.
    """
    label = f"{src[0]}:{src[1]} -> {dst[0]}:{dst[1]}"
    src_object = storages.object_at(*src)
    dst_object = storages.object_at(*dst)
    with as_storage_errors(label):
        if src_object is not None and dst_object is not None:
            (from_, from_parts), (to, to_parts) = src_object, dst_object
            if not from_parts or not to_parts:
                raise _directory(label)
            return transfer.copy_object(
                from_,
                from_.key(from_parts, label),
                to,
                to.key(to_parts, label),
                label,
                progress=progress,
                cancel=cancel,
                on_size=on_size,
            )
        if dst_object is not None:  # local -> object
            backend, parts = dst_object
            if not parts:
                raise StorageError(ItemCode.CONFLICT, f"{dst[0]}:{dst[1]}: is the storage root")
            key = backend.key(parts, label)
            with storages.place(*src) as place:
                src_fd, st = open_source(place)
            try:
                if on_size is not None:
                    on_size(st.st_size)
                return transfer.upload(
                    src_fd, st, backend, key, label, progress=progress, cancel=cancel
                )
            finally:
                os.close(src_fd)
        assert src_object is not None  # object -> local
        backend, parts = src_object
        if not parts:
            raise _directory(label)
        key = backend.key(parts, label)
        with storages.place(*dst, make_parents=True, sync=durable) as place:
            if place.is_root:
                raise StorageError(ItemCode.CONFLICT, f"{dst[0]}:{dst[1]}: is the storage root")
            return transfer.download(
                backend,
                key,
                label,
                place,
                registry=storages.registry,
                fsync=durable or storages.fsync,
                progress=progress,
                cancel=cancel,
                on_size=on_size,
            )


def move(
    storages: Storages, src_remote: str, src_path: str, dst_remote: str, dst_path: str
) -> None:
    """Move a file or directory across kinds: copy, verify, delete the source (a directory:
    crosskind_dirs.py).

    Raises:
        StorageError: as `copy`; 503 the copy does not match its source; for a directory, as
            crosskind_dirs.move_directory.
    """
    src, dst = (src_remote, src_path), (dst_remote, dst_path)
    label = f"{src_remote}:{src_path} -> {dst_remote}:{dst_path}"
    if (src_remote, src_path.strip("/")) == (dst_remote, dst_path.strip("/")):
        storages.stat(src_remote, src_path)  # a move onto itself: nothing to do if it exists
        return
    if storages.stat(src_remote, src_path).type == "dir":
        from planner.worker.crosskind_dirs import move_directory

        move_directory(storages, src, dst, label)
        return
    copy_verified(storages, src, dst)
    on = storages.object_at(*src)
    if on is not None:
        backend, parts = on
        backend.delete(backend.key(parts, label), label)
        return
    with as_storage_errors(label), storages.place(*src) as place:
        moves.unlink(place)
        storages.synced(place)


def copy_verified(storages: Storages, src: End, dst: End) -> CopyResult:
    """Copy the file `src` onto `dst` durably and check that what is there has the source's
    size and XXH64 (a move's copy, before its source is deleted).

    Raises:
        StorageError: as `copy`; 503 the copy does not match its source.
    """
    label = f"{src[0]}:{src[1]} -> {dst[0]}:{dst[1]}"
    result = copy(storages, src, dst, durable=True)
    on = storages.object_at(*dst)
    if on is None:
        size: int | None = storages.stat(*dst).size
        checksum: str | None = storages.checksum(*dst)
    else:  # one HEAD: the size and the stored XXH64 together
        backend, parts = on
        with backend.errors(label):
            known = backend.head(backend.key(parts, label))
        size, checksum = (known.size, known.checksum) if known is not None else (None, None)
        if known is not None and checksum is None:
            checksum = storages.checksum(*dst)
    if size != result.size or checksum != result.checksum:
        raise StorageError(ItemCode.TRANSIENT, f"{label}: the copy does not match its source")
    return result


def _directory(label: str) -> StorageError:
    return StorageError(
        ItemCode.INVALID, f"{label}: copy copies files; list the directory and copy its files"
    )
