"""A mirror run killed with SIGKILL mid-way, then `--resume`, through the real CLI in a
subprocess, with tree operations (the embedded worker) and without (a plain worker): nothing was
deleted before the copies ended, and the resumed run leaves the destination exactly the source
plus what the filters protect."""

from __future__ import annotations

import random
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers.cli import CliResult, actions_of, run_json
from tests.helpers.trees import make_tree, temp_files, tree_bytes
from tests.helpers.workers import start_worker
from tests.runner.test_run_resume import SLOW_FILES, RunProcess, assert_no_orphan, regular_files

PLAN = """
    version: 1
    name: mirror-tree
    storages:
      src: {remote: local, root: ./src}
      dst: {remote: local, root: ./dst}
    copies:
      - {id: tree, src: "src:", dst: "dst:", mirror: true, exclude: ["*.tmp"]}
"""
TOTAL = 600
EXTRANEOUS = {f"extra/e{i:02d}.bin": b"e" for i in range(30)} | {
    f"d00/stale{i}.bin": b"s" for i in range(10)
}


@pytest.fixture(params=[True, False], ids=["tree-operations", "plain"])
def api(
    tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, ...]]:
    """The options that send a run to the embedded worker (tree operations, each file slowed
    so that the kill lands mid-way) or to a plain worker in this process (the item path)."""
    if request.param:
        yield ()
        return
    embedded, handle = start_worker(tmp_path / "worker", tree_operations=False)
    monkeypatch.setenv("MIRROR_TEST_TOKEN", handle.token)
    try:
        yield ("--api-url", handle.url, "--token-env", "MIRROR_TEST_TOKEN", "--batch-size", "20")
    finally:
        embedded.stop()


@pytest.fixture
def start_run() -> Iterator[Callable[..., RunProcess]]:
    started: list[RunProcess] = []

    def start(plan: Path, *args: str, faults: str = "") -> RunProcess:
        started.append(RunProcess(plan, *args, faults=faults))
        return started[-1]

    yield start
    for run in started:
        run.stop()


def test_a_killed_mirror_run_resumes_to_the_exact_mirror(
    tmp_path: Path,
    write_plan: Callable[..., Path],
    run_cli: Callable[..., CliResult],
    start_run: Callable[..., RunProcess],
    api: tuple[str, ...],
) -> None:
    rng = random.Random(13)
    files = {f"d{i % 16:02d}/f{i:04d}.bin": rng.randbytes(16 * 1024) for i in range(TOTAL)}
    source = make_tree(tmp_path / "src", files)
    dst = tmp_path / "dst"
    make_tree(dst, EXTRANEOUS | {"keep.tmp": b"protected"})
    plan = write_plan(PLAN)
    run = start_run(plan, "-q", *api, faults=SLOW_FILES if not api else "")
    run.wait_until(lambda: regular_files(dst) >= len(EXTRANEOUS) + 20, "20 files were copied")

    run.proc.send_signal(signal.SIGKILL)
    assert run.proc.wait(timeout=60) == -signal.SIGKILL
    assert_no_orphan(tmp_path / "src")

    copied = regular_files(dst) - len(EXTRANEOUS)
    assert copied < TOTAL, "the kill should have come mid-way"
    assert all((dst / rel).exists() for rel in EXTRANEOUS)  # deletions come after the copies

    code, document = run_json(run_cli, plan, "--resume", *api)

    assert code == 0, document
    assert tree_bytes(dst) == source | {"keep.tmp": b"protected"}
    assert not (dst / "extra").exists()
    assert temp_files(tmp_path / "dst") == []
    tree = actions_of(document)["tree"]
    # extra/ counts as itself and its 30 files
    assert (tree["files_deleted"], tree["bytes_deleted"]) == (41, 40)
    url = api[:4]  # without --batch-size, which `plan` has not
    again = run_cli("plan", plan, *url, "--detailed-exitcode")
    assert again.code == 0, again.stdout


def test_a_mirror_run_killed_while_deleting_resumes_to_the_exact_mirror(
    tmp_path: Path,
    write_plan: Callable[..., Path],
    run_cli: Callable[..., CliResult],
    start_run: Callable[..., RunProcess],
) -> None:
    files = {f"d{i % 4}/f{i:03d}.bin": b"f" * 64 for i in range(40)}
    source = make_tree(tmp_path / "src", files)
    dst = tmp_path / "dst"
    make_tree(dst, files)  # nothing to copy: the run goes straight to its deletions
    extra = {f"extra{i % 5}/e{i:03d}.bin": b"e" for i in range(300)}
    make_tree(dst, extra | {"keep.tmp": b"protected"})
    plan = write_plan(PLAN)
    run = start_run(plan, "-q", faults=SLOW_FILES)
    run.wait_until(
        lambda: regular_files(dst) <= len(files) + len(extra) - 20, "20 paths were deleted"
    )

    run.proc.send_signal(signal.SIGKILL)
    assert run.proc.wait(timeout=60) == -signal.SIGKILL
    assert_no_orphan(tmp_path / "src")
    left = regular_files(dst) - len(files)
    assert 0 < left < len(extra), "the kill should have come mid-way"
    dirs_left = [p for p in dst.iterdir() if p.name.startswith("extra")]

    code, document = run_json(run_cli, plan, "--resume")

    assert code == 0, document
    assert tree_bytes(dst) == source | {"keep.tmp": b"protected"}
    tree = actions_of(document)["tree"]
    assert tree["files_deleted"] == left + len(dirs_left)  # what was left, directories too
    assert not [p for p in dst.iterdir() if p.name.startswith("extra")]
    assert tree["files_unchanged"] == len(files)
