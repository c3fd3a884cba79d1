"""The one place where OSError becomes a per-item StorageError with an HTTP-like code (the
storage modules raise plain OSError, or StorageError where they decide the code themselves)."""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from planner.api.codes import ItemCode

# errno -> code; anything not listed is 503 (transient: EIO, ENOSPC, EAGAIN, EBUSY, ESTALE, ...).
_ERRNO_CODES: dict[int, ItemCode] = {
    errno.ENOENT: ItemCode.NOT_FOUND,
    errno.EACCES: ItemCode.FORBIDDEN,
    errno.EPERM: ItemCode.FORBIDDEN,
    errno.EROFS: ItemCode.FORBIDDEN,
    errno.EEXIST: ItemCode.CONFLICT,
    errno.ENOTEMPTY: ItemCode.CONFLICT,
    errno.EISDIR: ItemCode.CONFLICT,
    errno.ENOTDIR: ItemCode.CONFLICT,
    # Not transient: retrying a bad path cannot help.
    errno.EINVAL: ItemCode.INVALID,
    errno.ELOOP: ItemCode.INVALID,
    errno.ENAMETOOLONG: ItemCode.INVALID,
}


class StorageError(Exception):
    """A per-item failure: INVALID path or request, FORBIDDEN outside the root or not allowed,
    NOT_FOUND, CONFLICT, CANCELLED, TRANSIENT (EIO, ENOSPC, a source that changed while it was
    copied, ...)."""

    def __init__(self, code: ItemCode, message: str, result: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.result = result  # what the item did before it failed (tree operations' counts)


class CopyCancelledError(Exception):
    """The cancel event was set between two chunks of a copy."""


class SourceChangedError(OSError):
    """The source's size, mtime or ctime differ after the copy from before it: the bytes written
    (and their checksum) may mix two versions; or a move's source is no longer what it copied.
    Transient: a retry copies the new version."""

    def __init__(self, during: str = "copy") -> None:
        super().__init__(errno.EAGAIN, f"source changed during {during}")


def code_for(exc: OSError) -> ItemCode:
    """The StorageError code of an OSError (TRANSIENT for anything unlisted)."""
    return _ERRNO_CODES.get(exc.errno or 0, ItemCode.TRANSIENT)


@contextmanager
def as_storage_errors(subject: str) -> Iterator[None]:
    """Turn OSError (and a cancelled copy) raised inside into StorageError about `subject`."""
    try:
        yield
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise StorageError(code_for(exc), f"{subject}: {reason}") from exc
    except CopyCancelledError as exc:
        raise StorageError(ItemCode.CANCELLED, "cancelled") from exc
