"""The one place where OSError becomes a per-item StorageError with an HTTP-like code (the
storage modules raise plain OSError, or StorageError where they decide the code themselves)."""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager

# errno -> code; anything not listed is 503 (transient: EIO, ENOSPC, EAGAIN, EBUSY, ESTALE, ...).
_ERRNO_CODES: dict[int, int] = {
    errno.ENOENT: 404,
    errno.EACCES: 403,
    errno.EPERM: 403,
    errno.EROFS: 403,
    errno.EEXIST: 409,
    errno.ENOTEMPTY: 409,
    errno.EISDIR: 409,
    errno.ENOTDIR: 409,
    # Not transient: retrying a bad path cannot help.
    errno.EINVAL: 400,
    errno.ELOOP: 400,
    errno.ENAMETOOLONG: 400,
}


class StorageError(Exception):
    """A per-item failure; `code` is HTTP-like: 400 invalid path or request, 403 outside the root
    or not allowed, 404 missing, 409 conflict, 499 cancelled, 503 transient (EIO, ENOSPC, a source
    that changed while it was copied, ...)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class CopyCancelledError(Exception):
    """The cancel event was set between two chunks of a copy."""


class SourceChangedError(OSError):
    """The source's size, mtime or ctime differ after the copy from before it: the bytes written
    (and their checksum) may mix two versions; or a move's source is no longer what it copied.
    Transient: a retry copies the new version."""

    def __init__(self, during: str = "copy") -> None:
        super().__init__(errno.EAGAIN, f"source changed during {during}")


def code_for(exc: OSError) -> int:
    """The StorageError code of an OSError (503 for anything unlisted)."""
    return _ERRNO_CODES.get(exc.errno or 0, 503)


@contextmanager
def translated(subject: str) -> Iterator[None]:
    """Turn OSError (and a cancelled copy) raised inside into StorageError about `subject`."""
    try:
        yield
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise StorageError(code_for(exc), f"{subject}: {reason}") from exc
    except CopyCancelledError as exc:
        raise StorageError(499, "cancelled") from exc
