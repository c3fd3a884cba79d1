"""The entry point of the `planner` console script and `python -m planner`: the embedded
worker's interpreter is started first, before any of planner's own imports (click's alone take
longer than the spawn), because its start-up, not planner's, is the longest part of a small
run's (tests/bench/README.md). This module imports only what a spawn needs.

The child is Linux's only (it dies with planner through PR_SET_PDEATHSIG); planner.cli.embedded
configures it once the plan is valid, or stops it."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys

PR_SET_PDEATHSIG = 1

# the commands that start the embedded worker unless told of another (--api-url), and the
# options after which they start none
EMBEDDED_COMMANDS = ("run", "plan")
NO_EMBEDDED = ("--api-url", "--offline", "-h", "--help")

# the child started ahead of its configuration (at most one: one command per process)
prestarted: list[subprocess.Popen[bytes]] = []


def main() -> int:
    """Start the embedded worker's interpreter when the command line asks for one, then run
    the command (planner.cli.main), which ends the process with its exit code."""
    prepare(sys.argv[1:])
    from planner.cli.main import main as run_command

    return run_command()


def prepare(args: list[str]) -> None:
    """What planner's own process does before anything else (again: a no-op)."""
    # pydantic looks for plugins (observers of validation) in every installed package's
    # metadata when it builds its first model: a scan that grows with the environment (17 ms
    # of a command's start, tests/bench/README.md), for planner's internal models. Inherited by
    # the embedded worker. A user's own setting wins.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    if wants_worker(args):
        prestart()


def wants_worker(args: list[str]) -> bool:
    """Whether the command line as written runs a command on the embedded worker. A wrong
    guess costs a child that exits unused (`embedded.prestarted` reuses it, or stops it when
    the command needs none)."""
    command = next((arg for arg in args if not arg.startswith("-")), None)
    if command not in EMBEDDED_COMMANDS or os.environ.get("PLANNER_API_URL"):
        return False
    return not any(arg.split("=", 1)[0] in NO_EMBEDDED for arg in args)


def prestart() -> None:
    """Start the worker's interpreter now (Linux), unless one is already waiting; a child that
    cannot be started is left to `planner.cli.embedded`, which tries again and says why."""
    if sys.platform.startswith("linux") and not prestarted:
        with contextlib.suppress(OSError):
            prestarted.append(spawn())


def spawn() -> subprocess.Popen[bytes]:
    """Start `python -m planner.worker.child`, killed by the kernel when this process ends.

    Raises:
        OSError: it cannot be started (not executable for this user, say).
    """
    parent = os.getpid()
    return subprocess.Popen(
        [sys.executable, "-m", "planner.worker.child"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,  # until configured: then its log file
        # its own session: a terminal's Ctrl-C reaches planner only, which then decides
        # (grace period, cancel) and stops the worker itself
        start_new_session=True,
        preexec_fn=lambda: _die_with_parent(parent),
    )


def _die_with_parent(parent: int) -> None:
    """In the child, before exec: SIGKILL when the parent goes (and if it already went)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)
