"""Filters that leave files out are said in text and markdown, not only in JSON (issue 10,
item 6): filtered-out counts on the action line, and a warning when `include` selects nothing.
Through the real CLI and the embedded worker."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers.cli import CliResult
from tests.helpers.trees import make_tree

PLAN = """
    version: 1
    storages:
      src: {remote: local, root: ./src}
      dst: {remote: local, root: ./dst}
    copies:
      - {id: pick, src: "src:", dst: "dst:", include: ["*.csv", "*.tsv"]}
"""
EXCLUDE_PLAN = """
    version: 1
    storages:
      src: {remote: local, root: ./src}
      dst: {remote: local, root: ./dst}
    copies:
      - {id: pick, src: "src:", dst: "dst:", exclude: ["*.tmp"]}
"""
WARNING = "include (*.csv, *.tsv) selects none of the 3 files in src:"
DURATION = re.compile(r" in \d+\.\ds$")


@pytest.fixture
def no_match(tmp_path: Path, write_plan: Callable[..., Path]) -> Path:
    make_tree(tmp_path / "src", {"a.txt": b"a", "b.txt": b"b", "sub/c.log": b"c"})
    (tmp_path / "dst").mkdir()
    return write_plan(PLAN)


def test_the_preview_warns_when_include_selects_nothing(
    no_match: Path, run_cli: Callable[..., CliResult]
) -> None:
    result = run_cli("plan", no_match)
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    at = lines.index("  = pick  copy  unchanged, 3 filtered out")
    assert lines[at + 1] == f"      warning: {WARNING}"
    assert lines[-1] == "Plan: 0 files (0 B) to copy; 0 unchanged, 3 filtered out."


def test_the_markdown_preview_warns_too(no_match: Path, run_cli: Callable[..., CliResult]) -> None:
    result = run_cli("plan", no_match, "--format", "markdown")
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "| `=` | `pick` | copy | unchanged, 3 filtered out |" in lines
    assert f"> **warning**: `pick`: {WARNING}" in lines


def test_the_run_warns_and_counts_what_was_filtered_out(
    no_match: Path, run_cli: Callable[..., CliResult]
) -> None:
    result = run_cli("run", no_match)
    assert result.code == 0, result.stderr
    lines = [re.sub(r"^\d\d:\d\d:\d\d ", "", line) for line in result.stdout.splitlines()]
    assert "pick (copy): succeeded: 3 filtered out in " in result.stdout
    summary = next(i for i, line in enumerate(lines) if line.startswith("Run "))
    assert DURATION.sub("", lines[summary]).endswith(
        "succeeded: 1 action succeeded, 0 failed, 0 skipped; "
        "0 files copied, 0 unchanged, 3 filtered out, 0 B"
    )
    assert lines[summary + 1] == f"warning: pick (copy): {WARNING}"

    document = json.loads(run_cli("run", no_match, "--format", "json").stdout)
    (pick,) = document["actions"]
    assert (pick["files_filtered"], pick["warnings"]) == (3, [WARNING])
    assert document["totals"]["files_filtered"] == 3


def test_an_exclude_count_is_on_the_action_line_without_a_warning(
    tmp_path: Path, write_plan: Callable[..., Path], run_cli: Callable[..., CliResult]
) -> None:
    make_tree(tmp_path / "src", {"a.csv": b"12345", "b.tmp": b"b"})
    plan = write_plan(EXCLUDE_PLAN)

    preview = run_cli("plan", plan)
    assert "  + pick  copy  1 file (5 B) to copy, 1 filtered out" in preview.stdout.splitlines()
    assert "warning" not in preview.stdout

    result = run_cli("run", plan)
    assert result.code == 0, result.stderr
    assert "pick (copy): succeeded: 1 file copied, 1 filtered out, 5 B in " in result.stdout
    assert "warning" not in result.stdout


def test_the_junit_report_carries_the_warning(
    tmp_path: Path, no_match: Path, run_cli: Callable[..., CliResult]
) -> None:
    report = tmp_path / "junit.xml"
    assert run_cli("run", no_match, "--report", report).code == 0
    assert f"<system-out>3 files filtered out\nwarning: {WARNING}</system-out>" in (
        report.read_text()
    )
