"""Pause the cyclic garbage collector while building large, acyclic object graphs.

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


_process_owned = False  # set by the entry point: this process runs one command, then exits


def own_process() -> None:
    """Say that this process is planner's own (`planner ...` or `python -m planner`), not a
    program calling `main(argv)`: a command's start-up may then freeze what it built."""
    global _process_owned
    _process_owned = True


@contextmanager
def startup() -> Iterator[None]:
    """A command's start-up (its imports, loading and compiling the plan): collection paused,
    and in planner's own process what the block built is frozen after it (`gc.freeze`): the
    modules, classes and the compiled plan live until the command ends, so later collections
    need not walk them again (figures: tests/bench/README.md). A program calling `main(argv)`
    keeps a collector that walks everything, as it had."""
    with paused_gc():
        yield
        if _process_owned:  # while still paused: re-enabled first, it would walk them all once
            gc.freeze()
