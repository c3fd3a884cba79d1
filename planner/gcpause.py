"""Pause the cyclic garbage collector while building large, acyclic object graphs, and keep
what a run only reads (its plan and graph) out of the collections while it runs.

Loading and compiling a 10,000-action plan allocates hundreds of thousands of containers; each
allocation burst triggers generational collections that re-scan everything alive, which cost
more than the work itself (figures: tests/bench/README.md). The structures built
here hold no reference cycles worth collecting early, so collection simply waits until the end.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    """Disable automatic collection for the block (re-entrant: restores the previous state)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@contextmanager
def survivors_frozen() -> Iterator[None]:
    """Keep every object alive at the start out of the collections of the block (gc.freeze):
    a run's plan, its compiled graph and the imported modules outlive it, and each full
    collection while thousands of actions run would otherwise scan them all again. They are
    given back to the collector at the end (for a caller that goes on)."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
