"""Summaries count what happened (issue 10, item 7): the run's summary line, `planner runs` and
the JSON count copied, moved, deleted, created directories, metadata keys and grants each on
its own; the preview's totals give each kind its own bytes. Through the real CLI and the
embedded worker."""

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
      s: {remote: local, root: ./s}
    directories:
      - {id: mk, path: "s:made"}
    copies:
      - {id: cp, src: "s:in/a.bin", dst: "s:out/a.bin"}
    moves:
      - {id: mv, src: "s:old/x.bin", dst: "s:new/x.bin"}
    removals:
      - {id: rm, path: "s:junk/*.tmp"}
    metadata:
      - {id: tag, path: "s:made", set: {k1: "v", k2: "w"}}
    permissions:
      - {id: share, path: "s:made", grant: [{user: alice, role: reader}]}
"""
STAMP = re.compile(r"^\d\d:\d\d:\d\d ")
DURATION = re.compile(r" in \d+\.\ds$")


@pytest.fixture
def every_kind(tmp_path: Path, write_plan: Callable[..., Path]) -> Path:
    make_tree(
        tmp_path / "s",
        {
            "in/a.bin": b"a" * 1000,
            "old/x.bin": b"x" * 10,
            "junk/1.tmp": b"1",
            "junk/2.tmp": b"2",
            "junk/keep.txt": b"k",
        },
    )
    return write_plan(PLAN)


def test_the_run_summary_counts_each_kind_of_change(
    every_kind: Path, run_cli: Callable[..., CliResult]
) -> None:
    result = run_cli("run", every_kind)
    assert result.code == 0, result.stdout + result.stderr
    summary = next(STAMP.sub("", s) for s in result.stdout.splitlines() if s.startswith("Run "))
    assert DURATION.sub("", summary.split(": ", 1)[1]) == (
        "6 actions succeeded, 0 failed, 0 skipped; 1 file copied, 1 path moved, "
        "2 paths deleted, 1 directory created, 2 keys changed, 1 grant changed, 0 unchanged, "
        "1.0 kB"
    )
    assert "rm (removal): succeeded: 2 paths deleted in " in result.stdout


def test_the_json_and_runs_count_each_kind_of_change(
    every_kind: Path, run_cli: Callable[..., CliResult]
) -> None:
    document = json.loads(run_cli("run", every_kind, "--format", "json").stdout)
    totals = document["totals"]
    assert {
        k: totals[k]
        for k in ("copied", "moved", "deleted", "directories", "metadata_keys", "grants")
    } == {"copied": 1, "moved": 1, "deleted": 2, "directories": 1, "metadata_keys": 2, "grants": 1}

    listed = json.loads(run_cli("runs", "--plan", every_kind, "--format", "json").stdout)
    (run,) = listed["runs"]
    assert run["totals"] == {
        "actions": 6,
        "succeeded": 6,
        "failed": 0,
        "skipped": 0,
        "files_done": 8,
        "files_unchanged": 0,
        "copied": 1,
        "moved": 1,
        "deleted": 2,
        "directories": 1,
        "metadata_keys": 2,
        "grants": 1,
        "bytes": 1010,
    }
    table = run_cli("runs", "--plan", every_kind).stdout.splitlines()
    assert table[1].endswith(
        "6/6 ok, 0 failed, 0 skipped; 1 file copied, 1 path moved, 2 paths deleted, "
        "1 directory created, 2 keys changed, 1 grant changed, 0 unchanged, 1.0 kB"
    )
    shown = run_cli("runs", "show", document["run_id"], "--plan", every_kind).stdout
    assert "rm (removal): succeeded in " in shown
    assert "; 2 paths deleted, 0 unchanged, 0 B" in shown


def test_the_preview_gives_overwrites_their_own_bytes(
    tmp_path: Path, write_plan: Callable[..., Path], run_cli: Callable[..., CliResult]
) -> None:
    make_tree(tmp_path / "src", {"new.bin": b"n" * 2000, "old1.bin": b"1" * 30, "old2.bin": b"2"})
    make_tree(tmp_path / "dst", {"old1.bin": b"one", "old2.bin": b"two, longer"})
    plan = write_plan(
        """
        version: 1
        storages:
          src: {remote: local, root: ./src}
          dst: {remote: local, root: ./dst}
        copies:
          - {id: tree, src: "src:", dst: "dst:"}
        """
    )
    result = run_cli("plan", plan)
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "  ~ tree  copy  1 file (2.0 kB) to copy, 2 (31 B) to overwrite" in lines
    assert lines[-1] == "Plan: 1 file (2.0 kB) to copy, 2 (31 B) to overwrite; 0 unchanged."
    totals = json.loads(run_cli("plan", plan, "--format", "json").stdout)["totals"]
    assert (totals["bytes_to_copy"], totals["bytes_to_overwrite"]) == (2000, 31)
