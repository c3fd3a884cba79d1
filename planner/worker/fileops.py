"""The filesystem half of the storage layer: atomic file copies with XXH64 while copying, file
hashing, the cross-device move fallback (the confined walk: walk.py). Raises plain OSError
(storage.py translates it).

Paths here are already confined by `Storages.resolve`; nothing in this module checks them again.
"""

from __future__ import annotations

import concurrent.futures
import errno
import os
import random
import re
import secrets
import shutil
import stat
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import xxhash

CHUNK_SIZE = 8 * 1024 * 1024
# The kernel paths tried in order; a method the kernel refuses is dropped for the rest of a copy.
METHODS: tuple[str, ...] = ("copy_file_range", "sendfile", "write")
# Errors meaning "this kernel/filesystem cannot do that here", not "the copy failed".
_REFUSALS = frozenset(
    {errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENODEV}
)
_TEMP_MARK = ".planner-tmp-"
_TEMP_NAME = re.compile(r"^\..*\.planner-tmp-[0-9a-f]+$", re.DOTALL)
_buffers = threading.local()
# temporary names need uniqueness, not secrecy: a seeded generator saves a getrandom() per file
_names = random.Random(secrets.randbits(64))
# files this large hash on a helper thread while the kernel copies them
_PARALLEL_HASH_SIZE = 32 * 1024 * 1024
# files up to this size are copied with one read and one write
_SMALL_FILE_SIZE = 1024 * 1024
_xxh64 = xxhash.xxh64_hexdigest
_HASHERS = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="planner-hash")


class CopyCancelledError(Exception):
    """The cancel event was set between two chunks of a copy."""


@dataclass(frozen=True)
class CopyResult:
    """What a finished copy wrote: size, the preserved source mtime and the XXH64 (seed 0) hex."""

    size: int
    mtime_ns: int
    checksum: str


class TempRegistry(Protocol):
    """Remembers temporary files so that a restarted worker can delete leftovers."""

    def add(self, path: str) -> None: ...

    def discard(self, path: str) -> None: ...

    def leftovers(self) -> list[str]: ...


class MemoryTempRegistry:
    """An in-memory, thread-safe TempRegistry (leftovers do not survive a restart)."""

    def __init__(self) -> None:
        self._paths: set[str] = set()
        self._lock = threading.Lock()

    def add(self, path: str) -> None:
        with self._lock:
            self._paths.add(path)

    def discard(self, path: str) -> None:
        with self._lock:
            self._paths.discard(path)

    def leftovers(self) -> list[str]:
        with self._lock:
            return sorted(self._paths)


def is_inside(root: str, real: str) -> bool:
    """Whether the resolved path `real` is `root` or lies below it."""
    return root == "/" or real == root or real.startswith(root + os.sep)


def is_temp_name(name: str) -> bool:
    """Whether a basename is one of ours: `.<name>.planner-tmp-<hex>`."""
    return _TEMP_NAME.match(name) is not None


def temp_path_for(dst: str | Path) -> str:
    """A fresh temporary name next to `dst` (the name is cut so the result stays short)."""
    head, name = os.path.split(os.fspath(dst))
    return os.path.join(head, f".{name[:64]}{_TEMP_MARK}{_names.getrandbits(48):012x}")


def _buffer() -> memoryview:
    """This thread's reusable chunk buffer (the caller runs copies on a thread pool)."""
    view: memoryview | None = getattr(_buffers, "view", None)
    if view is None:
        view = memoryview(bytearray(CHUNK_SIZE))
        _buffers.view = view
    return view


def open_regular(path: str | Path) -> tuple[int, os.stat_result]:
    """Open a regular file for reading without following a final symlink (ELOOP) or blocking on
    a FIFO; anything but a regular file is EISDIR (a directory) or EINVAL."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    st = os.fstat(fd)
    if stat.S_ISREG(st.st_mode):
        return fd, st
    os.close(fd)
    code = errno.EISDIR if stat.S_ISDIR(st.st_mode) else errno.EINVAL
    raise OSError(code, "not a regular file", os.fspath(path))


def _write_range(
    src_fd: int, dst_fd: int, data: memoryview, offset: int, methods: list[str]
) -> None:
    """Write `data` (read from `src_fd` at `offset`) to `dst_fd` at the same offset, by the first
    method of `methods` the kernel accepts; refused methods are removed from the list."""
    done = 0
    while done < len(data):
        method = methods[0]
        at = offset + done
        try:
            if method == "copy_file_range":
                n = os.copy_file_range(src_fd, dst_fd, len(data) - done, at, at)
            elif method == "sendfile":
                os.lseek(dst_fd, at, os.SEEK_SET)
                n = os.sendfile(dst_fd, src_fd, at, len(data) - done)
            else:
                n = os.pwrite(dst_fd, data[done:], at)
        except OSError as exc:
            if exc.errno not in _REFUSALS or method == "write":
                raise
            n = 0
        if n == 0:
            # Refused, or a pseudo-file (procfs) the kernel copies as empty: the buffer holds it.
            if method == "write":
                raise OSError(errno.EIO, "write made no progress")
            methods.pop(0)
        done += n


def copy_file(
    src: str | Path,
    dst: str | Path,
    *,
    registry: TempRegistry,
    progress: Callable[[int], None] | None = None,
    cancel: threading.Event | None = None,
    methods: Sequence[str] = METHODS,
) -> CopyResult:
    """Copy the regular file `src` onto `dst` atomically, preserving its mtime (see
    `copy_open_file`).

    Raises:
        OSError: from the filesystem.
        CopyCancelledError: `cancel` was set.
    """
    src_fd, st = open_regular(src)
    try:
        return copy_open_file(
            src_fd, st, dst, registry=registry, progress=progress, cancel=cancel, methods=methods
        )
    finally:
        os.close(src_fd)


def copy_open_file(
    src_fd: int,
    st: os.stat_result,
    dst: str | Path,
    *,
    registry: TempRegistry,
    progress: Callable[[int], None] | None = None,
    cancel: threading.Event | None = None,
    methods: Sequence[str] = METHODS,
) -> CopyResult:
    """Copy the open regular file `src_fd` (whose fstat is `st`) onto `dst` atomically,
    preserving its mtime.

    The data goes to a temporary file next to `dst` (registered in `registry` before it exists),
    which replaces `dst` once complete; on any error or cancel it is deleted and `dst` is untouched.
    The XXH64 is computed from the same bytes while copying.

    Raises:
        OSError: from the filesystem.
        CopyCancelledError: `cancel` was set.
    """
    tmp = temp_path_for(dst)
    registry.add(tmp)
    try:
        result = _copy_into(src_fd, st, tmp, list(methods), progress, cancel)
        os.replace(tmp, dst)
    except BaseException:
        discard_temp(tmp, registry)
        raise
    registry.discard(tmp)
    return result


def _copy_into(
    src_fd: int,
    st: os.stat_result,
    tmp: str,
    methods: list[str],
    progress: Callable[[int], None] | None,
    cancel: threading.Event | None,
) -> CopyResult:
    """Copy every chunk of `src_fd` into the new file `tmp` and give it the source mtime."""
    dst_fd = os.open(
        tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666
    )
    try:
        if cancel is not None and cancel.is_set():
            raise CopyCancelledError
        result = None
        if st.st_size <= _SMALL_FILE_SIZE:
            result = _copy_small(src_fd, dst_fd, st)
            if result is not None and progress is not None:
                progress(result.size)
        elif st.st_size >= _PARALLEL_HASH_SIZE and methods[0] == "copy_file_range":
            result = _copy_hashing_alongside(src_fd, dst_fd, st, progress, cancel)
            if result is None:
                methods.pop(0)  # the kernel refused: copy through the buffer below
        if result is None:
            result = _copy_chunks(src_fd, dst_fd, st, methods, progress, cancel)
        os.utime(dst_fd, ns=(st.st_atime_ns, st.st_mtime_ns))
    finally:
        os.close(dst_fd)
    return result


def _copy_small(src_fd: int, dst_fd: int, st: os.stat_result) -> CopyResult | None:
    """A small file in one read and one write (most files of a tree); None when the file is
    longer than its stat said (it grows: copy it chunk by chunk) or a write comes up short."""
    data = os.pread(src_fd, st.st_size + 1, 0)
    if len(data) > st.st_size:
        return None
    if data and os.write(dst_fd, data) != len(data):
        os.ftruncate(dst_fd, 0)
        return None
    return CopyResult(size=len(data), mtime_ns=st.st_mtime_ns, checksum=_xxh64(data))


def _copy_chunks(
    src_fd: int,
    dst_fd: int,
    st: os.stat_result,
    methods: list[str],
    progress: Callable[[int], None] | None,
    cancel: threading.Event | None,
) -> CopyResult:
    buffer = _buffer()
    hasher = xxhash.xxh64()
    done = 0
    while True:
        if cancel is not None and cancel.is_set():
            raise CopyCancelledError
        n = os.preadv(src_fd, [buffer], done)
        if n == 0:
            break
        chunk = buffer[:n]
        hasher.update(chunk)
        _write_range(src_fd, dst_fd, chunk, done, methods)
        done += n
        if progress is not None:
            progress(done)
    return CopyResult(size=done, mtime_ns=st.st_mtime_ns, checksum=hasher.hexdigest())


def _copy_hashing_alongside(
    src_fd: int,
    dst_fd: int,
    st: os.stat_result,
    progress: Callable[[int], None] | None,
    cancel: threading.Event | None,
) -> CopyResult | None:
    """Large files: the kernel copies (copy_file_range) while another thread reads the same
    file from the page cache and hashes it, so the checksum costs no time of its own. None when
    the kernel refuses copy_file_range before anything was written."""
    hashed = _HASHERS.submit(_hash_fd, src_fd, cancel)
    done = 0
    try:
        while True:
            if cancel is not None and cancel.is_set():
                raise CopyCancelledError
            try:
                n = os.copy_file_range(src_fd, dst_fd, CHUNK_SIZE, done, done)
            except OSError as exc:
                if done == 0 and exc.errno in _REFUSALS:
                    return None
                raise
            if n == 0:
                break
            done += n
            if progress is not None:
                progress(done)
        if done == 0 and st.st_size:  # a pseudo-file the kernel copies as empty
            return None
    finally:
        checksum, hashed_size = hashed.result()
    if hashed_size != done:
        raise OSError(errno.EAGAIN, "the source changed while it was copied")
    return CopyResult(size=done, mtime_ns=st.st_mtime_ns, checksum=checksum)


def _hash_fd(fd: int, cancel: threading.Event | None) -> tuple[str, int]:
    buffer = _buffer()
    hasher = xxhash.xxh64()
    offset = 0
    while n := os.preadv(fd, [buffer], offset):
        hasher.update(buffer[:n])
        offset += n
        if cancel is not None and cancel.is_set():
            break
    return hasher.hexdigest(), offset


def discard_temp(tmp: str | Path, registry: TempRegistry) -> bool:
    """Delete a temporary file or directory and forget it; True if something was deleted.

    A temp that cannot be deleted now stays registered for `Storages.cleanup_temp`.
    """
    path = os.fspath(tmp)
    try:
        if stat.S_ISDIR(os.lstat(path).st_mode):
            shutil.rmtree(path)
        else:
            os.unlink(path)
    except FileNotFoundError:
        registry.discard(path)
        return False
    except OSError:
        return False
    registry.discard(path)
    return True


def hash_file(path: str | Path) -> str:
    """The XXH64 (seed 0) lowercase hex of a regular file's content."""
    fd, _ = open_regular(path)
    try:
        return hash_fd(fd)
    finally:
        os.close(fd)


def hash_fd(fd: int) -> str:
    """The XXH64 (seed 0) lowercase hex of an open regular file's content."""
    return _hash_fd(fd, None)[0]


def move_across_devices(src: Path, dst: Path, *, registry: TempRegistry) -> None:
    """Move `src` onto `dst` when a rename cannot (EXDEV): copy atomically, then delete `src`.

    A file is copied like `copy_file`; a directory is copied whole into a temporary directory
    that is renamed onto `dst`; a symlink is recreated as a symlink.
    """
    st = os.lstat(src)
    if stat.S_ISREG(st.st_mode):
        copy_file(src, dst, registry=registry)
        os.unlink(src)
        return
    tmp = temp_path_for(dst)
    registry.add(tmp)
    try:
        if stat.S_ISDIR(st.st_mode):
            shutil.copytree(src, tmp, symlinks=True)
        else:
            os.symlink(os.readlink(src), tmp)
        os.replace(tmp, dst)
    except BaseException:
        discard_temp(tmp, registry)
        raise
    registry.discard(tmp)
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(src)
    else:
        os.unlink(src)
