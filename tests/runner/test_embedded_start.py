"""An embedded worker that cannot start is a clear message and exit 2 (`the embedded worker did
not start: ...`), never an internal error (exit 70): its interpreter not executable, its log
not writable, or its storage (`--storage`; `--remote` of `worker serve`) unusable. Through the
real CLI; the later cases with the real worker's child process."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers.cli import CliResult

PLAN = """
version: 1
storages:
  out: {remote: any, root: out}
directories:
  - out:a
"""


@pytest.mark.parametrize("command", ["run", "plan"])
def test_an_interpreter_that_cannot_be_executed_is_exit_2(
    command: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    write_plan: Callable[..., Path],
    run_cli: Callable[..., CliResult],
) -> None:
    plan = write_plan(PLAN)
    interpreter = tmp_path / "python3"
    interpreter.write_text("#!/bin/sh\n", encoding="utf-8")
    interpreter.chmod(0o644)  # not executable for anyone
    monkeypatch.setattr(sys, "executable", str(interpreter))

    result = run_cli(command, plan)

    assert (result.code, result.stdout) == (2, "")
    assert result.stderr == (
        f"planner: error: the embedded worker did not start: cannot start {interpreter}: "
        "Permission denied\n"
    )


def test_a_log_that_cannot_be_opened_is_exit_2(
    tmp_path: Path, write_plan: Callable[..., Path], run_cli: Callable[..., CliResult]
) -> None:
    plan = write_plan(PLAN)
    log = tmp_path / ".planner" / "worker" / "worker.log"
    log.mkdir(parents=True)  # a directory where the worker's log file goes

    result = run_cli("run", plan)

    assert (result.code, result.stdout) == (2, "")
    assert result.stderr == (
        f"planner: error: the embedded worker did not start: cannot open its log {log}: "
        "Is a directory\n"
    )
    assert not (tmp_path / ".planner" / "storage" / "out").exists()


@pytest.mark.parametrize("command", ["run", "plan"])
def test_a_storage_dir_that_cannot_be_used_is_exit_2(
    command: str,
    tmp_path: Path,
    write_plan: Callable[..., Path],
    run_cli: Callable[..., CliResult],
) -> None:
    plan = write_plan(PLAN)
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    storage = blocker / "storage"  # below a regular file: can never be a directory

    result = run_cli(command, "--storage", storage, plan)

    assert (result.code, result.stdout) == (2, "")
    assert result.stderr == (
        "planner: error: the embedded worker did not start: cannot use the storage of remote "
        f"any: root {storage}: Not a directory\n"
    )


def test_a_remote_root_that_cannot_be_used_stops_worker_serve_with_exit_2(
    tmp_path: Path, run_cli: Callable[..., CliResult]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    root = blocker / "scratch"

    result = run_cli(
        "worker", "serve", "--port", "0", "--no-auth", "--state-dir", tmp_path / "state",
        "--remote", f"scratch={root}",
    )  # fmt: skip

    assert (result.code, result.stdout) == (2, "")
    assert result.stderr == (
        f"planner: error: cannot use the storage of remote scratch: root {root}: Not a directory\n"
    )
