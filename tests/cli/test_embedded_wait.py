"""Waiting for the embedded worker's process to end (planner/cli/embedded.py `_wait`): it
returns once the process has exited (reaped: its exit code is known), and gives up after the
patience on one that keeps running."""

from __future__ import annotations

import subprocess
import sys

import pytest

from planner.cli.embedded import _wait


def _python(code: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE)


def test_a_process_that_exits_is_reaped_with_its_exit_code() -> None:
    process = _python("import sys; sys.stdin.read(); sys.exit(3)")
    assert process.stdin is not None
    process.stdin.close()  # its signal to exit

    _wait(process, 60)

    assert process.returncode == 3


def test_a_process_already_reaped_returns_at_once() -> None:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()

    _wait(process, 0)

    assert process.returncode == 0


def test_a_process_that_keeps_running_is_a_timeout() -> None:
    process = _python("import sys; sys.stdin.read()")
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            _wait(process, 0.05)
        assert process.poll() is None
    finally:
        assert process.stdin is not None
        process.stdin.close()
        process.wait()
