"""Moments as people read them, below every layer: the journal names when a lock was taken in its
error message, and the run listings (render) show when runs started."""

from __future__ import annotations

from datetime import datetime


def local_time(epoch: float) -> str:
    """An epoch as local wall-clock time to the second: `2026-12-02 01:33:42`."""
    return datetime.fromtimestamp(epoch).isoformat(sep=" ", timespec="seconds")
