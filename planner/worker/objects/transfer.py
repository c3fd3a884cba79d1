"""Copies that touch an object remote: a local file uploaded (local → object), an object
downloaded into a local directory (object → local), an object copied (object → object: on the
server within one bucket, else streamed through the worker).

Every write is whole or absent: an upload is one PUT, or a multipart upload that the store
aborts when the stream fails or is cancelled (nothing is left under the key); a download goes to
a temporary file beside the destination, renamed over it once complete. Every copy carries the
XXH64: an upload hashes the source first and stores it as `xxh64`, then checks that the bytes it
streamed hash to it (a source changed meanwhile aborts the upload); a download hashes what it
writes and checks the stored `xxh64` when there is one."""

from __future__ import annotations

import os
import queue
import stat
import threading
from collections.abc import Callable, Iterator
from typing import Any

import xxhash

from planner.api.codes import ItemCode
from planner.worker.confine import Place, sync_dir
from planner.worker.fileops import (
    CopyResult,
    TempRegistry,
    discard_temp,
    ensure_unchanged,
    hash_fd,
    temp_name_for,
)
from planner.worker.objects.attributes import (
    MTIME,
    XXH64,
    Known,
    format_mtime,
    from_head,
    row,
    stamp,
)
from planner.worker.objects.backend import ObjectBackend
from planner.worker.storage_errors import CopyCancelledError, SourceChangedError, StorageError

# above this size an upload is multipart: parts of PART_SIZE, PARALLEL_PARTS at a time (the
# memory an upload holds is about their product)
MULTIPART_THRESHOLD = 16 * 1024 * 1024
PART_SIZE = 8 * 1024 * 1024
PARALLEL_PARTS = 8
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC

Progress = Callable[[int], None] | None


def upload(
    src_fd: int,
    st: os.stat_result,
    backend: ObjectBackend,
    key: str,
    label: str,
    *,
    progress: Progress = None,
    cancel: threading.Event | None = None,
) -> CopyResult:
    """Upload the open regular file `src_fd` (whose fstat is `st`) to `key`, with its mtime and
    XXH64 as user metadata.

    Raises:
        StorageError: from the store; CANCELLED.
        SourceChangedError: the file changed while it was hashed or uploaded.
    """
    import obstore

    _check(cancel)
    checksum = hash_fd(src_fd)
    ensure_unchanged(src_fd, st)
    attributes: dict[str, str] = {MTIME: format_mtime(st.st_mtime_ns), XXH64: checksum}
    with backend.errors(label):
        if st.st_size <= MULTIPART_THRESHOLD:
            data = os.pread(src_fd, st.st_size + 1, 0)
            if len(data) != st.st_size or xxhash.xxh64_hexdigest(data) != checksum:
                raise SourceChangedError
            _check(cancel)
            put = obstore.put(backend.store, key, data, attributes=attributes, use_multipart=False)
            if progress is not None:
                progress(len(data))
        else:
            put = obstore.put(
                backend.store,
                key,
                _chunks(src_fd, st, checksum, progress, cancel),
                attributes=attributes,
                use_multipart=True,
                chunk_size=PART_SIZE,
                max_concurrency=PARALLEL_PARTS,
            )
    ensure_unchanged(src_fd, st)
    return CopyResult(st.st_size, st.st_mtime_ns, checksum, ctime_ns=stamp(put.get("e_tag")))


def _chunks(
    fd: int, st: os.stat_result, checksum: str, progress: Progress, cancel: threading.Event | None
) -> Iterator[bytes]:
    """The file's bytes for a multipart upload; raising here makes the store abort it."""
    hasher = xxhash.xxh64()
    done = 0
    while True:
        _check(cancel)
        chunk = os.pread(fd, PART_SIZE, done)
        if not chunk:
            break
        hasher.update(chunk)
        done += len(chunk)
        if done > st.st_size:
            raise SourceChangedError
        yield chunk
        if progress is not None:
            progress(done)
    if done != st.st_size or hasher.hexdigest() != checksum:
        raise SourceChangedError


def download(
    backend: ObjectBackend,
    key: str,
    label: str,
    dst: Place,
    *,
    registry: TempRegistry,
    fsync: bool,
    progress: Progress = None,
    cancel: threading.Event | None = None,
    on_size: Callable[[int], None] | None = None,
) -> CopyResult:
    """Write the object `key` onto `dst` atomically with its stored mtime (else LastModified).

    Raises:
        StorageError: 404 missing; 409 the destination is a directory; 503 the bytes do not
            hash to the stored `xxh64`, or not as many as the object's size; CANCELLED.
        OSError: from the local filesystem.
    """
    import obstore

    there = dst.lstat_or_none()
    if there is not None:
        if stat.S_ISDIR(there.st_mode):
            raise StorageError(ItemCode.CONFLICT, f"{dst.label}: is a directory")
        dst.check_link(there)
    with backend.errors(label):
        got = obstore.get(backend.store, key)
        known = from_head(got.meta, got.attributes)
        if on_size is not None:
            on_size(known.size)
        tmp = temp_name_for(dst.name)
        journaled = f"{dst.dir_path}/{tmp}" if dst.dir_path != "/" else f"/{tmp}"
        registry.add(journaled)
        try:
            fd = os.open(tmp, _CREATE, 0o666, dir_fd=dst.dir_fd)
            try:
                checksum = _write(
                    fd, got.stream(min_chunk_size=PART_SIZE), known.size, progress, cancel
                )
                if known.checksum is not None and known.checksum != checksum:
                    raise StorageError(
                        ItemCode.TRANSIENT,
                        f"{label}: the bytes read do not match the object's stored xxh64",
                    )
                os.utime(fd, ns=(known.mtime_ns, known.mtime_ns))
                if fsync:
                    os.fsync(fd)
                os.replace(tmp, dst.name, src_dir_fd=dst.dir_fd, dst_dir_fd=dst.dir_fd)
                ctime_ns = os.fstat(fd).st_ctime_ns
            finally:
                os.close(fd)
        except BaseException:
            discard_temp(dst.dir_fd, dst.dir_path, tmp, registry)
            raise
    registry.discard(journaled)
    if fsync:
        sync_dir(dst.dir_fd)
    if backend.cache is not None and known.stamp is not None:
        # what the GET told of the object, and its bytes' XXH64: a later listing needs no HEAD
        learnt = Known(known.size, known.mtime_ns, checksum, known.stamp)
        backend.cache.record_later(*row(backend.resource(key), learnt))
    return CopyResult(known.size, known.mtime_ns, checksum, ctime_ns=ctime_ns)


def _write(
    fd: int, chunks: Any, size: int, progress: Progress, cancel: threading.Event | None
) -> str:
    """Write every chunk to `fd`, hashing; the XXH64 of what was written."""
    hasher = xxhash.xxh64()
    done = 0
    for chunk in chunks:
        _check(cancel)
        view = memoryview(chunk)
        hasher.update(view)
        while view:
            view = view[os.write(fd, view) :]
        done += len(chunk)
        if progress is not None:
            progress(done)
    if done != size:
        raise StorageError(ItemCode.TRANSIENT, f"read {done} bytes of an object of {size}")
    return hasher.hexdigest()


def copy_object(
    src: ObjectBackend,
    src_key: str,
    dst: ObjectBackend,
    dst_key: str,
    label: str,
    *,
    progress: Progress = None,
    cancel: threading.Event | None = None,
    on_size: Callable[[int], None] | None = None,
) -> CopyResult:
    """Copy an object to another key: on the server within one bucket (its user metadata goes
    with it), else streamed through the worker with the source's mtime and XXH64 (hashed first
    when it has none stored).

    Raises:
        StorageError: 404 missing; from the store.
    """
    import obstore

    with src.errors(label):
        known = src.head(src_key)
        if known is None:
            raise StorageError(ItemCode.NOT_FOUND, f"{label}: no such file")
        if on_size is not None:
            on_size(known.size)
        checksum = known.checksum
        if checksum is None:  # stored by another client without one: hash it
            hasher = xxhash.xxh64()
            for chunk in src.read(src_key):
                _check(cancel)
                hasher.update(chunk)
            checksum = hasher.hexdigest()
    with dst.errors(label):
        if src is dst and src_key == dst_key:  # onto itself: nothing to write
            etag = known.stamp
        elif src is dst or src.location.bucket == dst.location.bucket:
            _check(cancel)
            if src is dst:
                obstore.copy(src.store, src_key, dst_key)
            else:  # two remotes in one bucket: still a copy on the server
                obstore.copy(src.bucket_store, src.full_key(src_key), dst.full_key(dst_key))
            head = obstore.get(dst.store, dst_key, options={"head": True})
            etag = from_head(head.meta, head.attributes).stamp
        else:
            attributes = {MTIME: format_mtime(known.mtime_ns), XXH64: checksum}
            put = obstore.put(
                dst.store,
                dst_key,
                _streamed(src, src_key, checksum, progress, cancel),
                attributes=attributes,
                use_multipart=known.size > MULTIPART_THRESHOLD,
                chunk_size=PART_SIZE,
                max_concurrency=PARALLEL_PARTS,
            )
            etag = stamp(put.get("e_tag"))
    if progress is not None:
        progress(known.size)
    return CopyResult(known.size, known.mtime_ns, checksum, ctime_ns=etag)


def _streamed(
    src: ObjectBackend, key: str, checksum: str, progress: Progress, cancel: threading.Event | None
) -> Iterator[bytes]:
    hasher = xxhash.xxh64()
    done = 0
    for chunk in _pumped(lambda: src.read(key), cancel):
        _check(cancel)
        data = bytes(chunk)
        hasher.update(data)
        done += len(data)
        yield data
        if progress is not None:
            progress(done)
    if hasher.hexdigest() != checksum:
        raise SourceChangedError


_END = object()


def _pumped(chunks: Callable[[], Iterator[Any]], cancel: threading.Event | None) -> Iterator[Any]:
    """The items of `chunks()`, read on a thread of their own (a few ahead at most): the store
    client's upload pulls this iterator from inside its own runtime, where another of its
    blocking calls (the download's stream) cannot run."""
    pipe: queue.Queue[Any] = queue.Queue(maxsize=2)
    stop = threading.Event()

    def offer(item: Any) -> bool:
        """Hand `item` over, unless the consumer stopped; whether it was."""
        while not stop.is_set():
            try:
                pipe.put(item, timeout=0.5)
            except queue.Full:
                continue
            return True
        return False

    def pump() -> None:
        try:
            for chunk in chunks():
                if not offer(chunk):
                    return
            offer(_END)
        except BaseException as exc:  # handed to the consumer, which raises it
            offer(exc)

    threading.Thread(target=pump, name="planner-object-pump", daemon=True).start()
    try:
        while True:
            _check(cancel)
            item = pipe.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


def _check(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise CopyCancelledError
