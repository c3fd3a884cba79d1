"""Whether the process holding a plan's lock (journal.py) is still alive: same host only, with
the pid checked against /proc so that a dead, zombie or reused pid means a stale lock."""

from __future__ import annotations

import os
import socket
from pathlib import Path

HOST = socket.gethostname()
HELD: set[str] = set()  # the lock tokens this process holds: tells our pid from a reused one


def is_live_holder(pid: int, host: str, started_at: float, token: str) -> bool:
    """Whether the process that took a lock still runs. Another host's is respected (it cannot be
    checked); on this host a dead pid, a zombie, a pid reused by a process started after the lock
    was taken, or our own pid without our token (an earlier process) mean a stale lock."""
    if host != HOST:
        return True
    if pid == os.getpid():
        return token in HELD
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, another user's
    state, process_started = _proc_stat(pid)
    # /proc start times are tick-grained from a whole-second boot time: allow for that.
    return state != "Z" and (process_started is None or process_started <= started_at + 5.0)


def _proc_stat(pid: int) -> tuple[str, float | None]:
    """A process's state letter and start time (epoch seconds) from Linux /proc, else ("", None)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        lines = Path("/proc/stat").read_text().splitlines()
        boot = next(float(line.split()[1]) for line in lines if line.startswith("btime "))
        fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold ")"
        return fields[0], boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, StopIteration, IndexError, ValueError):
        return "", None
