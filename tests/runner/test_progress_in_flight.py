"""`planner run` without a terminal (issue 10, item 21): the periodic progress line advances
while a slow batch is still running (files and bytes done, rate, ETA), from the progress the
worker reports on every poll, and the final counts stay exact. Through the real CLI and a real
worker whose items each wait (`item_delay`), one at a time (`pool_size=1`), on the item path (a
worker without tree operations); and on the tree path, where the directory copy is one tree
operation whose files each wait (`file_delay`). The progress line is printed on every movement
(`--progress-interval 0s`), so nothing sleeps to synchronise."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from planner.worker.faults import FaultSpec
from tests.helpers.cli import CliResult
from tests.helpers.workers import WorkerHandle, start_worker

FILES = 6
SIZE = 1_000
PROGRESS = re.compile(
    r"progress: \d+/1 actions done, (?P<files>[\d,]+)/6 files, "
    r"(?P<done>[\d.]+ k?B)/6\.0 kB, [\d.]+ [kMG]?B/s(?:, ETA (?:\?|\S+))?$"
)
PLAN = """
    version: 1
    storages:
      r: {remote: r, root: .}
    copies:
      - {id: slow, src: "r:src/", dst: "r:dst/"}
"""


@pytest.fixture
def slow_worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[WorkerHandle]:
    """A worker on remote `r` that runs one item at a time, each after a pause: a batch of six
    copies stays in flight for a few polls (the dispatcher polls at least every 2 s)."""
    root = tmp_path / "r"
    embedded, handle = start_worker(
        tmp_path / "worker",
        roots={"r": root},
        faults=FaultSpec(item_delay=0.5),
        pool_size=1,
        tree_operations=False,
    )
    monkeypatch.setenv("PLANNER_TOKEN", handle.token)
    try:
        yield handle
    finally:
        embedded.stop()


@pytest.fixture
def slow_tree_worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[WorkerHandle]:
    """A worker on remote `r` with tree operations, which wait before each file they copy: the
    directory copy, one operation, stays in flight for a few polls."""
    root = tmp_path / "r"
    embedded, handle = start_worker(
        tmp_path / "worker", roots={"r": root}, faults=FaultSpec(file_delay=0.5)
    )
    monkeypatch.setenv("PLANNER_TOKEN", handle.token)
    try:
        yield handle
    finally:
        embedded.stop()


def test_the_progress_line_advances_during_a_tree_operation_and_ends_exact(
    tmp_path: Path,
    slow_tree_worker: WorkerHandle,
    write_plan: Callable[..., Path],
    run_cli: Callable[..., CliResult],
) -> None:
    src = slow_tree_worker.roots["r"] / "src"
    src.mkdir()
    for i in range(FILES):
        (src / f"f{i}.bin").write_bytes(bytes([i]) * SIZE)
    plan = write_plan(PLAN)

    result = run_cli(
        "run", plan, "--api-url", slow_tree_worker.url, "--progress-interval", "0s", "-v"
    )

    assert result.code == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    ended = next(i for i, line in enumerate(lines) if "slow (copy): succeeded" in line)
    during = [m for line in lines[:ended] if (m := PROGRESS.search(line))]
    files_seen = [int(m["files"]) for m in during]
    # the tree is one operation: before it ends, its progress and its rows read so far tell
    partial = [m for m in during if 0 < int(m["files"]) < FILES]
    assert partial, lines
    assert any(m["done"] != "0 B" for m in partial), lines
    assert any("ETA" in m.group(0) for m in partial), lines
    assert files_seen == sorted(files_seen), lines
    # its files are listed (-v) as their rows are read, some while the operation still runs
    first_file = next(i for i, line in enumerate(lines) if "f0.bin" in line)
    later = [m for line in lines[first_file:ended] if (m := PROGRESS.search(line))]
    assert any(int(m["files"]) < FILES for m in later), lines
    assert "slow (copy): succeeded: 6 files copied, 6.0 kB" in result.stdout
    assert "6 files copied" in lines[-1]  # the summary
    copied = {p.name: p.read_bytes() for p in (slow_tree_worker.roots["r"] / "dst").iterdir()}
    assert copied == {p.name: p.read_bytes() for p in src.iterdir()}


def test_the_progress_line_advances_during_a_slow_batch_and_ends_exact(
    tmp_path: Path,
    slow_worker: WorkerHandle,
    write_plan: Callable[..., Path],
    run_cli: Callable[..., CliResult],
) -> None:
    src = slow_worker.roots["r"] / "src"
    src.mkdir()
    for i in range(FILES):
        (src / f"f{i}.bin").write_bytes(bytes([i]) * SIZE)
    plan = write_plan(PLAN)

    result = run_cli("run", plan, "--api-url", slow_worker.url, "--progress-interval", "0s")

    assert result.code == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    ended = next(i for i, line in enumerate(lines) if "slow (copy): succeeded" in line)
    during = [m for line in lines[:ended] if (m := PROGRESS.search(line))]
    files_seen = [int(m["files"]) for m in during]
    # the batch of six is one operation: before it ends, only the worker's progress tells
    partial = [m for m in during if 0 < int(m["files"]) < FILES]
    assert partial, lines
    assert all(m["done"] != "0 B" for m in partial), lines
    assert any("ETA" in m.group(0) for m in partial), lines
    # the estimate never runs ahead of what the outcomes then count exactly
    assert files_seen == sorted(files_seen), lines
    assert "slow (copy): succeeded: 6 files copied, 6.0 kB" in result.stdout
    assert "6 files copied" in lines[-1]  # the summary
    assert sorted(p.name for p in (slow_worker.roots["r"] / "dst").iterdir()) == sorted(
        p.name for p in src.iterdir()
    )


def test_a_progress_interval_that_is_not_a_duration_is_a_usage_error(
    write_plan: Callable[..., Path], run_cli: Callable[..., CliResult]
) -> None:
    plan = write_plan(PLAN)
    result = run_cli("run", plan, "--progress-interval", "often")
    assert result.code == 2
    assert "--progress-interval 'often': not a duration" in result.stderr
    assert "Traceback" not in result.stderr
