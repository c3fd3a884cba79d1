"""The cost of a process's life outside its work: the cyclic garbage collector while large,
acyclic object graphs are built (a big plan, a command's start-up) and while a run only reads
them (its plan and graph), and the interpreter's teardown at the end of planner's own process.

Loading and compiling a 10,000-action plan allocates hundreds of thousands of containers; each
allocation burst triggers generational collections that re-scan everything alive, which cost
more than the work itself (figures: tests/bench/README.md). The structures built
here hold no reference cycles worth collecting early, so collection simply waits until the end.
"""

from __future__ import annotations

import atexit
import gc
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn


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


def exit_now(code: int) -> NoReturn:
    """End planner's own process with `code` without the interpreter's teardown (freeing every
    object and module one by one: tens of milliseconds that every command waited for after its
    work). The exit handlers still run and the standard streams are flushed. The process ends
    the usual way instead while another thread is still running (it is waited for), when a
    stream cannot be flushed (it is reported), and under a profiler or tracer (`python -m
    cProfile`, coverage: they write their results once the program returns)."""
    others = [t for t in threading.enumerate() if not t.daemon and t is not threading.main_thread()]
    watched = sys.getprofile() is not None or sys.gettrace() is not None or _monitored()
    if not others and not watched:
        atexit._run_exitfuncs()
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        else:
            os._exit(code)
    sys.exit(code)


def _monitored() -> bool:
    """Whether a tool watches the process through `sys.monitoring` (Python 3.12+: cProfile,
    coverage's sysmon core, debuggers) rather than a profile or trace function."""
    monitoring = getattr(sys, "monitoring", None)
    if monitoring is None:
        return False
    return any(monitoring.get_tool(tool) is not None for tool in range(6))


# the youngest generation's threshold while a run goes on (CPython's default: 700 allocations)
RUN_THRESHOLD = 50_000


@contextmanager
def survivors_frozen() -> Iterator[None]:
    """Keep every object alive at the start out of the collections of the block (gc.freeze):
    a run's plan, its compiled graph and the imported modules outlive it, and each full
    collection while thousands of actions run would otherwise scan them all again. They are
    given back to the collector at the end (for a caller that goes on).

    Collections are also rarer in the block (RUN_THRESHOLD): thousands of actions in flight
    hold their tasks, contexts and results alive until they end, nearly none of it garbage,
    and each full collection walked all of it again."""
    gc.freeze()
    try:
        with rare_collections():
            yield
    finally:
        gc.unfreeze()


@contextmanager
def rare_collections() -> Iterator[None]:
    """The youngest generation collected every RUN_THRESHOLD allocations in the block, not
    every 700: for a process that lives one command (a run, its embedded worker) and whose
    objects made per action or item stay alive until they end."""
    thresholds = gc.get_threshold()
    gc.set_threshold(max(thresholds[0], RUN_THRESHOLD), *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
