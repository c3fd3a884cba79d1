"""`planner run -` and `planner plan -` through the real CLI: a plan on standard input has no
directory for its journal and `.planner/`, so both refuse it with a message saying why and what
to do (issue 10 item 12); `planner validate -` still reads standard input."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers.cli import CliResult

PLAN = "version: 1\nstorages:\n  s: {remote: local}\n"


def refusal(command: str) -> str:
    return (
        f"planner: error: planner {command} reads the plan from a file, not from standard "
        "input: the journal and .planner/ live beside the plan file (and relative storage roots "
        f"start there); save the plan to a file and run `planner {command} plan.yaml`\n"
    )


@pytest.mark.parametrize(
    ("args", "command", "code"),
    [
        (("run", "-"), "run", 2),
        (("run", "--dry-run", "-"), "run --dry-run", 2),
        (("plan", "-"), "plan", 2),
        (("plan", "-", "--detailed-exitcode"), "plan", 1),  # every error is 1 there
    ],
)
def test_run_and_plan_refuse_standard_input_saying_why(
    args: tuple[str, ...],
    command: str,
    code: int,
    tmp_path: Path,
    run_cli: Callable[..., CliResult],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.stdin", io.StringIO(PLAN))
    result = run_cli(*args)
    assert (result.code, result.stdout, result.stderr) == (code, "", refusal(command))
    assert list(tmp_path.iterdir()) == []


def test_validate_still_reads_standard_input(
    run_cli: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(PLAN))
    result = run_cli("validate", "-")
    assert result.code == 0, result.stdout + result.stderr
