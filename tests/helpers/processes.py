"""Processes for tests: a `planner worker serve` subprocess, and the live processes whose command
line mentions a text (to find orphans)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path


class WorkerProcess:
    """`python -m planner worker serve --port 0 ...` with its stdout and stderr in files."""

    def __init__(self, tmp_path: Path, name: str, *args: str) -> None:
        self.out = tmp_path / f"{name}.stdout"
        self.err = tmp_path / f"{name}.stderr"
        with open(self.out, "wb") as out, open(self.err, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "planner", "worker", "serve", "--port", "0", *args],
                stdout=out,
                stderr=err,
                cwd=tmp_path,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        self.url = self._wait_for_url()

    def _wait_for_url(self) -> str:
        deadline = time.monotonic() + 30
        while True:
            text = self.out.read_text(encoding="utf-8", errors="replace")
            if "\n" in text:
                return text.split("\n", 1)[0]
            if self.proc.poll() is not None:
                raise AssertionError(f"the worker exited {self.proc.returncode}: {self.output()}")
            assert time.monotonic() < deadline, "the worker printed no URL"
            time.sleep(0.02)

    def output(self) -> str:
        return self.out.read_text(errors="replace") + self.err.read_text(errors="replace")

    def terminate(self) -> int:
        """SIGTERM, then the exit code."""
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)


def processes_mentioning(text: str, *, parent: int | None = None) -> list[int]:
    """Live processes (this one aside) whose command line contains `text` (Linux /proc); with
    `parent`, only that process's children (other test runs on the machine are not ours)."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = Path(entry.path, "cmdline").read_bytes()
            # the parent pid is the second field after the parenthesised command name
            ppid = int(Path(entry.path, "stat").read_text().rpartition(")")[2].split()[1])
        except OSError:  # gone meanwhile
            continue
        if text.encode() in command and (parent is None or ppid == parent):
            found.append(int(entry.name))
    return found
