"""The CLI's results and documents: the repository's paths, what one invocation printed, and
`planner run|plan --format json` parsed."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
ONE_ERROR = "Found 1 error in 1 of 1 plan."  # the summary line of one invalid plan


@dataclass
class CliResult:
    """What one CLI invocation returned and printed."""

    code: int
    stdout: str
    stderr: str


def run_json(run_cli: Callable[..., CliResult], plan: Path, *args: str) -> tuple[int, Any]:
    """`planner run PLAN --format json ARGS...` in-process: exit code and the parsed document."""
    result = run_cli("run", plan, "--format", "json", *args)
    assert result.stdout.strip(), f"no JSON on stdout (exit {result.code}): {result.stderr}"
    document = json.loads(result.stdout)
    assert document["format_version"] == 1
    assert document["exit_code"] == result.code
    return result.code, document


def actions_of(document: Any) -> dict[str, Any]:
    """The actions of a run document by id."""
    return {a["id"]: a for a in document["actions"]}


def copied_keys(document: Any, action_id: str) -> set[str]:
    """The keys of the items an action copied in this run."""
    return {
        i["key"]
        for i in actions_of(document)[action_id]["items"]
        if i["kind"] == "copy" and i["state"] == "succeeded"
    }


def preview_json(run_cli: Callable[..., CliResult], plan: Path, *args: str) -> tuple[int, Any]:
    """`planner plan PLAN --format json ARGS...` in-process: exit code and the parsed document."""
    result = run_cli("plan", plan, "--format", "json", *args)
    assert result.stdout.strip(), f"no JSON (exit {result.code}): {result.stderr}"
    return result.code, json.loads(result.stdout)
