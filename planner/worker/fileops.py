"""The file half of the storage layer: atomic file copies with XXH64 while copying, file
hashing, temporary names and their journal. Raises plain OSError (storage_errors.py translates).

Everything here acts relative to directory descriptors that confine.py has already checked.
"""

from __future__ import annotations

import concurrent.futures
import errno
import os
import random
import re
import secrets
import stat
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import xxhash

from planner.worker.confine import Root, is_inside, sync_dir
from planner.worker.storage_errors import CopyCancelledError, SourceChangedError, StorageError
from planner.worker.treedelete import remove_tree

CHUNK_SIZE = 8 * 1024 * 1024
# The kernel paths tried in order; a method the kernel refuses is dropped for the rest of a copy.
METHODS: tuple[str, ...] = ("copy_file_range", "sendfile", "write")
# Errors meaning "this kernel/filesystem cannot do that here", not "the copy failed".
_REFUSALS = frozenset(
    {errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENODEV}
)
_TEMP_MARK = ".planner-tmp-"
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
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


@dataclass(slots=True)  # not frozen: a frozen dataclass costs 2.5x to make, once per file
class CopyResult:
    """What a finished copy wrote: size, the preserved source mtime and the XXH64 (seed 0) hex;
    and the destination's ctime once under its final name (None until then), with which the
    checksum is recorded (metadata.py), not part of what was written."""

    size: int
    mtime_ns: int
    checksum: str
    ctime_ns: int | None = field(default=None, compare=False, kw_only=True)


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


def is_temp_name(name: str) -> bool:
    """Whether a basename is one of ours: `.<name>.planner-tmp-<hex>`."""
    return _TEMP_NAME.match(name) is not None


def temp_name_for(name: str) -> str:
    """A fresh temporary name to write `name` under (cut so that it stays short)."""
    return f".{name[:64]}{_TEMP_MARK}{_names.getrandbits(48):012x}"


def _buffer() -> memoryview:
    """This thread's reusable chunk buffer (the caller runs copies on a thread pool)."""
    view: memoryview | None = getattr(_buffers, "view", None)
    if view is None:
        view = memoryview(bytearray(CHUNK_SIZE))
        _buffers.view = view
    return view


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


KEPT_MODE_BITS = 0o1777  # a copy keeps rwx and sticky, never setuid/setgid


def _read_umask() -> int:
    # read where Linux shows it (4.7 and later): os.umask reads it only by setting it, which
    # another thread creating a file at that moment would see
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def copy_open_file(
    src_fd: int,
    st: os.stat_result,
    dir_fd: int,
    dir_path: str,
    name: str,
    *,
    registry: TempRegistry,
    fsync: bool = False,
    progress: Callable[[int], None] | None = None,
    cancel: threading.Event | None = None,
    methods: Sequence[str] = METHODS,
) -> CopyResult:
    """Copy the open regular file `src_fd` (whose fstat is `st`) onto `name` in the directory
    `dir_fd` (real path `dir_path`) atomically, preserving its mtime and permission bits
    (KEPT_MODE_BITS).

    The data goes to a temporary file beside `name` (registered in `registry` before it exists),
    which replaces `name` once complete; on any error or cancel it is deleted and `name` is
    untouched. The XXH64 is computed from the same bytes while copying. With `fsync`, the file
    is synced before the rename and the directory after it.

    Raises:
        OSError: from the filesystem; SourceChangedError when the source changed meanwhile.
        CopyCancelledError: `cancel` was set.
    """
    tmp = temp_name_for(name)
    journaled = f"{dir_path}/{tmp}" if dir_path != "/" else f"/{tmp}"
    registry.add(journaled)
    # permission bits kept, not owner: so not setuid/setgid either (docs/plan-reference.md);
    # the temporary file is created with them (it is never more open than the copy will be)
    # unless the umask would take some away, and then set exactly before the rename
    mode = stat.S_IMODE(st.st_mode) & KEPT_MODE_BITS
    try:
        dst_fd = os.open(tmp, _CREATE, mode, dir_fd=dir_fd)
        try:
            size, checksum = copy_into(src_fd, st, dst_fd, list(methods), progress, cancel)
            if mode & _UMASK:
                os.fchmod(dst_fd, mode)
            if fsync:
                os.fsync(dst_fd)
            os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            # after the rename, which sets the ctime on most filesystems (ext4, tmpfs, XFS);
            # through the descriptor, so that it is the ctime of the file this copy wrote
            written = os.fstat(dst_fd)
            if stat.S_IMODE(written.st_mode) != mode:
                # a directory's default ACL masks a new file's mode as a umask would (rare):
                # the copy is narrower than wanted for a moment, never wider
                os.fchmod(dst_fd, mode)
                written = os.fstat(dst_fd)
            ctime_ns = written.st_ctime_ns
        finally:
            os.close(dst_fd)
    except BaseException:
        discard_temp(dir_fd, dir_path, tmp, registry)
        raise
    registry.discard(journaled)
    if fsync:
        sync_dir(dir_fd)
    return CopyResult(size, st.st_mtime_ns, checksum, ctime_ns=ctime_ns)


def copy_into(
    src_fd: int,
    st: os.stat_result,
    dst_fd: int,
    methods: list[str],
    progress: Callable[[int], None] | None = None,
    cancel: threading.Event | None = None,
) -> tuple[int, str]:
    """Copy every chunk of `src_fd` into the new, empty file `dst_fd` and give it the source
    mtime; returns the size copied and its XXH64. The source's fstat after the copy must equal
    `st` (size, mtime, ctime): a source rewritten meanwhile, even to the same size with its
    mtime put back, changes its ctime, and the bytes written and their checksum could mix two
    versions (issue 9, item 12).

    Raises:
        OSError: from the filesystem; SourceChangedError when the source changed meanwhile.
        CopyCancelledError: `cancel` was set.
    """
    if cancel is not None and cancel.is_set():
        raise CopyCancelledError
    found = None
    if st.st_size <= _SMALL_FILE_SIZE:
        found = _copy_small(src_fd, dst_fd, st)
        if found is not None and progress is not None:
            progress(found[0])
    elif st.st_size >= _PARALLEL_HASH_SIZE and methods[0] == "copy_file_range":
        found = _copy_hashing_alongside(src_fd, dst_fd, st, progress, cancel)
        if found is None:
            methods.pop(0)  # the kernel refused: copy through the buffer below
    if found is None:
        found = _copy_chunks(src_fd, dst_fd, methods, progress, cancel)
    os.utime(dst_fd, ns=(st.st_atime_ns, st.st_mtime_ns))
    ensure_unchanged(src_fd, st)
    return found


def ensure_unchanged(fd: int, before: os.stat_result) -> None:
    """Raise SourceChangedError unless the open file `fd` is the file `before` describes (its
    inode) with the same size, mtime and ctime."""
    now = os.fstat(fd)
    if (now.st_size, now.st_mtime_ns, now.st_ctime_ns, now.st_ino, now.st_dev) != (
        before.st_size,
        before.st_mtime_ns,
        before.st_ctime_ns,
        before.st_ino,
        before.st_dev,
    ):
        raise SourceChangedError


def _copy_small(src_fd: int, dst_fd: int, st: os.stat_result) -> tuple[int, str] | None:
    """A small file in one read and one write (most files of a tree): (size, checksum); None
    when the file is longer than its stat said (it grows: copy it chunk by chunk) or a write
    comes up short."""
    data = os.pread(src_fd, st.st_size + 1, 0)
    if len(data) > st.st_size:
        return None
    if data and os.write(dst_fd, data) != len(data):
        os.ftruncate(dst_fd, 0)
        return None
    return len(data), _xxh64(data)


def _copy_chunks(
    src_fd: int,
    dst_fd: int,
    methods: list[str],
    progress: Callable[[int], None] | None,
    cancel: threading.Event | None,
) -> tuple[int, str]:
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
    return done, hasher.hexdigest()


def _copy_hashing_alongside(
    src_fd: int,
    dst_fd: int,
    st: os.stat_result,
    progress: Callable[[int], None] | None,
    cancel: threading.Event | None,
) -> tuple[int, str] | None:
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
    if cancel is not None and cancel.is_set():
        raise CopyCancelledError
    if hashed_size != done:
        raise SourceChangedError
    return done, checksum


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


def discard_temp(dir_fd: int, dir_path: str, name: str, registry: TempRegistry) -> bool:
    """Delete the temporary file or directory `name` in `dir_fd` and forget it; True if
    something was deleted. A temp that cannot be deleted now stays registered for
    `Storages.cleanup_temp`.
    """
    path = os.path.join(dir_path, name)
    try:
        if stat.S_ISDIR(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode):
            remove_tree(dir_fd, name)
        else:
            os.unlink(name, dir_fd=dir_fd)
    except FileNotFoundError:
        registry.discard(path)
        return False
    except OSError:
        return False
    registry.discard(path)
    return True


def delete_leftovers(roots: Iterable[Root], registry: TempRegistry) -> int:
    """Delete every leftover temporary file `registry` knows and return how many were deleted.
    Registered paths that are not temporary names of ours are forgotten, never deleted; each is
    deleted through the checked descriptor of its directory, within the most specific of `roots`
    that holds it."""
    deleted = 0
    for leftover in registry.leftovers():
        directory, name = os.path.split(leftover)
        if not is_temp_name(name):
            registry.discard(leftover)
            continue
        holders = [r for r in roots if is_inside(r.path, directory)]
        if not holders:
            continue
        root = max(holders, key=lambda r: len(r.path))
        parts = os.path.relpath(directory, root.path).split(os.sep)
        try:
            fd, real = root.open_dir([p for p in parts if p != "."], directory)
        except (OSError, StorageError):
            continue
        try:
            if discard_temp(fd, real, name, registry):
                deleted += 1
                registry.discard(leftover)
        finally:
            os.close(fd)
    return deleted


def hash_fd(fd: int) -> str:
    """The XXH64 (seed 0) lowercase hex of an open regular file's content."""
    return _hash_fd(fd, None)[0]
