"""Running one command of a benchmark: its wall time, and on request the peak memory of its
whole process tree, with a timeout so that a pathological run cannot hang the harness.

Peak memory. GNU time's `%M` is the kernel's `ru_maxrss` of the command and of the descendants
it waited for, folded with max(), not a sum: for `planner run` it is the larger of planner and
its embedded worker (a child process), never the two together. So the tree is sampled instead:
a thread reads `/proc/<pid>/status` of every process below the command every SAMPLE_INTERVAL
seconds and keeps each process's `VmHWM` (its own peak resident set, which the kernel keeps and
never lowers). The figure reported, `rss_sum`, is the sum of those per-process peaks: planner's
peak plus its worker's peak (an upper bound of what they held at one moment; growth in the last
SAMPLE_INTERVAL of a process's life is missed, as it exits before the next read). GNU time's
`%M` is reported beside it (`rss_max`, the largest single process) when /usr/bin/time exists.

CPU. `cpu` is the user + system seconds of the command and of every descendant it waited for
(planner's embedded worker included): the growth of the harness's RUSAGE_CHILDREN across the run,
so the harness runs one command at a time.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

SAMPLE_INTERVAL = 0.02
GNU_TIME = "/usr/bin/time"


class CommandFailed(Exception):
    """The command exited with an unexpected code, or ran past its timeout."""


@dataclass(frozen=True)
class Sample:
    """One run of a command: wall seconds, its output, the CPU seconds of its process tree,
    (when asked) peak memory in MiB, and the seconds the host's hypervisor took from this
    machine's CPUs meanwhile (steal: a run with much of it is not a quiet run)."""

    seconds: float
    stdout: str
    rss_sum: float | None = None
    rss_max: float | None = None
    cpu: float | None = None
    steal: float | None = None


def host_steal() -> float | None:
    """Seconds of steal time of all this machine's CPUs since boot (/proc/stat), or None where
    the kernel does not tell."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            fields = stat.readline().split()
        return int(fields[8]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):
                listed = Path(f"/proc/{pid}/task/{task}/children").read_text()
                found += [int(child) for child in listed.split()]
    return found


def _hwm_kib(pid: int) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return None


class TreePeakSampler:
    """Samples the peak resident set (VmHWM) of every process below `root` until stopped."""

    def __init__(self, root: int, include_root: bool) -> None:
        self.root = root
        self.include_root = include_root
        self.peaks: dict[int, int] = {}  # pid -> VmHWM in KiB, the last value read
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)

    def __enter__(self) -> TreePeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.is_set():
            pending = [self.root]
            while pending:
                pid = pending.pop()
                pending += _children(pid)
                if pid == self.root and not self.include_root:
                    continue
                hwm = _hwm_kib(pid)
                if hwm is not None:
                    self.peaks[pid] = max(hwm, self.peaks.get(pid, 0))
            self._stop.wait(SAMPLE_INTERVAL)

    def sum_mib(self) -> float | None:
        return sum(self.peaks.values()) / 1024 if self.peaks else None


def _shown(command: list[str]) -> str:
    """The command for a message: the program's name, not its path."""
    return " ".join([Path(command[0]).name, *command[1:]])


def run(
    command: list[str],
    *,
    timeout: float,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    rss: bool = False,
    ok_codes: tuple[int, ...] = (0,),
) -> Sample:
    """Run `command` to its end; its wall time, stdout, and (with `rss`) peak memory.

    Raises:
        CommandFailed: an exit code not in `ok_codes`, or still running after `timeout` seconds
            (then its process group is killed; planner's embedded worker dies with planner).
    """
    with tempfile.NamedTemporaryFile(prefix="gnu-time-", suffix=".txt") as time_file:
        wrapped = rss and os.access(GNU_TIME, os.X_OK)
        argv = [GNU_TIME, "-f", "%M", "-o", time_file.name, *command] if wrapped else command
        cpu_before = _children_cpu()
        steal_before = host_steal()
        start = time.perf_counter()
        process = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its own process group: one kill ends it all
        )
        sampler = TreePeakSampler(process.pid, include_root=not wrapped)
        with sampler if rss else contextlib.nullcontext():
            try:
                out, err = process.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.communicate()
                raise CommandFailed(f"timed out after {timeout:g} s: {_shown(command)}") from None
        seconds = time.perf_counter() - start
        cpu = _children_cpu() - cpu_before
        steal_after = host_steal()
        steal = None if steal_before is None or steal_after is None else steal_after - steal_before
        if process.returncode not in ok_codes:
            tail = (err or out)[-1500:].strip()
            raise CommandFailed(f"exit {process.returncode}: {_shown(command)}: {tail}")
        rss_max = None
        if wrapped:
            with contextlib.suppress(ValueError, IndexError):
                rss_max = int(Path(time_file.name).read_text().split()[-1]) / 1024
    return Sample(seconds, out, sampler.sum_mib() if rss else None, rss_max, cpu, steal)


def _children_cpu() -> float:
    """User + system seconds of the processes this one has waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
