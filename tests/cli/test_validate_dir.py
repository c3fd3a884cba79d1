"""`planner validate DIR` validates every plan below DIR (each *.yaml/*.yml file with `version:`
at the top level, hidden files and directories left out), in sorted order, with a summary; a
directory without plans is a usage error. Through the real CLI on a real tree."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers.cli import CliResult

VALID = """
version: 1
storages:
  out: {remote: any, root: out}
directories:
  - out:a
"""
INVALID = VALID.replace("out:a", "bad:a")
NOT_A_PLAN = """
name: nightly
on: {schedule: [{cron: "0 3 * * *"}]}
jobs: {}
"""


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    _write(
        tmp_path / "plans",
        {
            "b.yml": VALID,
            "a/z.yaml": VALID,
            "a-b.yaml": '"version": 1\nstorages: {out: {remote: any, root: o}}\n',
            "ci/nightly.yml": NOT_A_PLAN,
            "notes.txt": VALID,
            ".hidden.yaml": VALID,
            ".planner/storage/copied.yaml": INVALID,
        },
    )
    return tmp_path / "plans"


def test_every_plan_below_the_directory_is_validated_in_order(
    tree: Path, run_cli: Callable[..., CliResult]
) -> None:
    result = run_cli("validate", "plans")
    assert (result.code, result.stderr) == (0, "")
    assert result.stdout == (
        "plans/a/z.yaml: valid: 1 action (1 directory), DAG depth 1\n"
        "plans/a-b.yaml: valid: 0 actions, DAG depth 0\n"
        "plans/b.yml: valid: 1 action (1 directory), DAG depth 1\n"
        "All 3 plans are valid.\n"
    )


def test_verbose_names_the_yaml_files_that_are_not_plans(
    tree: Path, run_cli: Callable[..., CliResult]
) -> None:
    result = run_cli("validate", "plans", "-v", "-q")
    assert (result.code, result.stderr) == (0, "")
    assert result.stdout == "plans/ci/nightly.yml: skipped: no top-level version:\n"


def test_a_broken_plan_is_found_and_reported(tree: Path, run_cli: Callable[..., CliResult]) -> None:
    _write(tree, {"a/z.yaml": INVALID, "broken.yaml": "version: 1\ncopies: [\n"})
    result = run_cli("validate", "plans", "plans/b.yml")
    assert (result.code, result.stderr) == (2, "")
    lines = result.stdout.splitlines()
    assert lines[0] == (
        "plans/a/z.yaml:5:5: error: directories[0]: unknown storage 'bad'; declared: out"
    )
    assert lines[1] == "plans/a-b.yaml: valid: 0 actions, DAG depth 0"
    assert lines[2] == "plans/b.yml: valid: 1 action (1 directory), DAG depth 1"
    assert lines[3].startswith("plans/broken.yaml:3:1: error: ")
    assert lines[4:] == [
        "plans/b.yml: valid: 1 action (1 directory), DAG depth 1",
        "Found 2 errors in 2 of 5 plans.",
    ]


def test_a_directory_without_plans_is_a_usage_error(
    tree: Path, run_cli: Callable[..., CliResult]
) -> None:
    result = run_cli("validate", "plans/ci")
    assert (result.code, result.stdout) == (2, "")
    assert result.stderr == (
        "planner: error: plans/ci: no plan below it (a plan is a *.yaml or *.yml file with "
        "`version:` at the top level)\n"
    )
