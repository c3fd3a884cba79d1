"""The copy of one file between two opened places (confine.Place): what `storage:copy` and the
tree operations both do per file. The source is opened through its checked directory (a final
symlink followed only inside the root), the destination checked (a directory in the way, a link
leading outside), and the bytes written atomically with their XXH64 (fileops.copy_open_file)."""

from __future__ import annotations

import errno
import os
import stat
import threading
from collections.abc import Callable

from planner.api.codes import ItemCode
from planner.worker import fileops
from planner.worker.confine import Place
from planner.worker.fileops import CopyResult, TempRegistry
from planner.worker.storage_errors import StorageError


def open_source(src: Place) -> tuple[int, os.stat_result]:
    """The file `src` opened for reading (a final symlink followed only inside the root) and its
    fstat. The caller closes it.

    Raises:
        StorageError: 400 a directory or not a regular file; 403 a link leading outside the root.
        OSError: missing, unreadable.
    """
    try:
        return src.open_file()
    except OSError as exc:
        raise _not_a_file(exc, src.label) from exc


def copy_opened(
    src_fd: int,
    st: os.stat_result,
    dst: Place,
    *,
    registry: TempRegistry,
    fsync: bool,
    progress: Callable[[int], None] | None = None,
    cancel: threading.Event | None = None,
    on_size: Callable[[int], None] | None = None,
    look: bool = True,
) -> CopyResult:
    """Copy the open source file `src_fd` (whose fstat is `st`) onto `dst` atomically,
    preserving its mtime and permission bits; replaces a destination file (a copy onto the file
    itself only hashes it). `on_size` learns the source's size before a byte is copied.

    Without `look`, the caller knows that nothing had the destination's name a moment ago (a
    tree operation's listing of the directory), and it is not examined again: whatever appears
    there meanwhile is replaced by the final rename (a symlink itself, never followed) or
    refuses it (a directory: EISDIR), and is never written through.

    Raises:
        StorageError: 409 the destination is a directory; 403 a symlink leading outside a root.
        OSError: from the filesystem (SourceChangedError: the source changed meanwhile).
        CopyCancelledError: `cancel` was set.
    """
    there = dst.lstat_or_none() if look else None
    if there is not None:
        if stat.S_ISDIR(there.st_mode):
            raise StorageError(ItemCode.CONFLICT, f"{dst.label}: is a directory")
        dst.check_link(there)
        if (there.st_dev, there.st_ino) == (st.st_dev, st.st_ino):
            checksum = fileops.hash_fd(src_fd)  # onto itself: nothing to write
            fileops.ensure_unchanged(src_fd, st)
            return CopyResult(st.st_size, st.st_mtime_ns, checksum, ctime_ns=st.st_ctime_ns)
    if on_size is not None:
        on_size(st.st_size)
    return fileops.copy_open_file(
        src_fd,
        st,
        dst.dir_fd,
        dst.dir_path,
        dst.name,
        registry=registry,
        fsync=fsync,
        progress=progress,
        cancel=cancel,
    )


def _not_a_file(exc: OSError, label: str) -> OSError | StorageError:
    """What a failed open of a copy's source means for the client."""
    if exc.errno == errno.EISDIR:
        return StorageError(
            ItemCode.INVALID, "copy copies files; list the directory and copy its files"
        )
    if exc.errno == errno.EINVAL:
        return StorageError(ItemCode.INVALID, f"{label}: not a regular file")
    return exc
