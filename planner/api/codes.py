"""The codes of failed items, named once: the worker sends them, the client and the runner read
them."""

from __future__ import annotations

from enum import IntEnum


class ItemCode(IntEnum):
    """Why one item of an operation failed: its `error_detail.code`, HTTP-like (docs/api.md,
    "Decisions where the HPS API is silent"). A worker may send other codes too (500: a bug)."""

    INVALID = 400  # an invalid path or request (a directory given to copy, a special file)
    FORBIDDEN = 403  # outside the storage root, or a permission problem found while running
    NOT_FOUND = 404  # missing (also an unknown operation id)
    CONFLICT = 409  # something in the way: a directory where a file is expected, or the reverse
    CANCELLED = 499  # cancelled, also by a worker shutting down
    INTERNAL = 500  # a bug in the worker (its log tells more)
    TRANSIENT = 503  # retry it
