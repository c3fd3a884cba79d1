"""`planner run -v` lists every file action as it ends, like `rsync -v` (issue 10, item 21):
`+ copied`, `~ overwritten`, `- deleted`. Through the real CLI and the embedded worker."""

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
      - {id: tree, src: "src:", dst: "dst:"}
    removals:
      - {id: prune, path: "dst:*.tmp"}
"""
STAMP = re.compile(r"^\d\d:\d\d:\d\d ")


def file_lines(result: CliResult) -> list[str]:
    """The output lines that list one file action, without their stamp."""
    lines = (STAMP.sub("", line) for line in result.stdout.splitlines())
    return [line for line in lines if line[:2] in ("+ ", "~ ", "- ")]


@pytest.fixture
def plan(tmp_path: Path, write_plan: Callable[..., Path]) -> Path:
    make_tree(tmp_path / "src", {"a.txt": b"hello", "sub/b.txt": b"b"})
    make_tree(tmp_path / "dst", {"old.tmp": b"xx"})
    return write_plan(PLAN)


def test_verbose_lists_each_copy_and_deletion(
    tmp_path: Path, plan: Path, run_cli: Callable[..., CliResult]
) -> None:
    result = run_cli("run", "-v", plan)
    assert result.code == 0, result.stdout + result.stderr
    dst = tmp_path / "dst"
    assert sorted(file_lines(result)) == [
        f"+ copied local:{dst}/a.txt (5 B)",
        f"+ copied local:{dst}/sub/b.txt (1 B)",
        f"- deleted local:{dst}/old.tmp",
    ]

    (tmp_path / "src" / "a.txt").write_bytes(b"hello, again")
    again = run_cli("run", "--verbose", plan)
    assert again.code == 0, again.stdout + again.stderr
    assert file_lines(again) == [f"~ overwritten local:{dst}/a.txt (12 B)"]


def test_the_global_verbose_flag_lists_them_too(
    tmp_path: Path, plan: Path, run_cli: Callable[..., CliResult]
) -> None:
    result = run_cli("-v", "run", plan)
    assert result.code == 0, result.stdout + result.stderr
    assert len(file_lines(result)) == 3


def test_without_verbose_no_file_is_listed(plan: Path, run_cli: Callable[..., CliResult]) -> None:
    result = run_cli("run", plan)
    assert result.code == 0, result.stdout + result.stderr
    assert file_lines(result) == []


def test_a_name_with_control_characters_is_one_escaped_line(
    tmp_path: Path, write_plan: Callable[..., Path], run_cli: Callable[..., CliResult]
) -> None:
    # a newline in a name must not split the log line (nor an escape sequence reach the terminal)
    make_tree(tmp_path / "src", {"new\nline.txt": b"nl", "esc\x1b[31m.txt": b"e"})
    plan = write_plan(PLAN)

    result = run_cli("run", "-v", plan)

    assert result.code == 0, result.stdout + result.stderr
    dst = tmp_path / "dst"
    assert sorted(file_lines(result)) == [
        f"+ copied local:{dst}/esc\\x1b[31m.txt (1 B)",
        f"+ copied local:{dst}/new\\nline.txt (2 B)",
    ]
    assert (dst / "new\nline.txt").read_bytes() == b"nl"
    listed = run_cli("runs", "--plan", plan, "--format", "json")
    run_id = json.loads(listed.stdout)["runs"][0]["run_id"]
    shown = run_cli("runs", "show", "--plan", plan, run_id)
    assert f"local:{dst}/new\\nline.txt, 2 B\n" in shown.stdout
    assert "\x1b" not in shown.stdout
