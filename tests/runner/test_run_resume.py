"""`planner run` cut short, through the real CLI in subprocesses with their embedded workers: a
run killed with SIGKILL leaves no half-written destination and `--resume` completes it byte for
byte, redoing nothing; the plan's lock refuses a second run; SIGINT exits 130."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers.cli import CliResult, actions_of, copied_keys, run_json
from tests.helpers.processes import processes_mentioning
from tests.helpers.trees import make_tree, temp_files, tree_bytes, tree_stats

TREE_PLAN = """
    version: 1
    name: big-tree
    storages:
      src: {remote: local, root: ./src}
      dst: {remote: local, root: ./dst}
    copies:
      - {id: tree, src: "src:", dst: "dst:"}
"""


def many_files(root: Path, count: int, size: int, seed: int) -> dict[str, bytes]:
    rng = random.Random(seed)
    files = {f"d{i % 16:02d}/f{i:04d}.bin": rng.randbytes(size) for i in range(count)}
    return make_tree(root, files)


# the embedded worker waits this long before each file of a directory copy (docs/worker.md,
# "Fault injection"), so an interruption lands part-way through the tree operation
SLOW_FILES = "file_delay=20ms"


class RunProcess:
    """`python -m planner run PLAN ARGS...` as a subprocess, output in files beside the plan;
    `faults` are injected into its embedded worker (PLANNER_WORKER_FAULTS)."""

    def __init__(self, plan: Path, *args: str, faults: str = "") -> None:
        self.out = plan.parent / "run.stdout"
        self.err = plan.parent / "run.stderr"
        env = {k: v for k, v in os.environ.items() if k not in ("PLANNER_API_URL", "PLANNER_TOKEN")}
        with open(self.out, "wb") as out, open(self.err, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "planner", "run", str(plan), *args],
                stdout=out,
                stderr=err,
                cwd=plan.parent,
                env={**env, "PYTHONUNBUFFERED": "1", "PLANNER_WORKER_FAULTS": faults},
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        return self.out.read_text(errors="replace") + self.err.read_text(errors="replace")

    def wait_until(self, predicate: Callable[[], bool], what: str, timeout: float = 60) -> None:
        """Poll `predicate` (under a deadline) while the run is still going."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"the run exited {self.proc.returncode} before {what}: {self.output()}"
                )
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.002)  # a polling interval, not a synchronisation

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=60)


@pytest.fixture
def start_run() -> Iterator[Callable[..., RunProcess]]:
    """Start `planner run` subprocesses; any still running afterwards is killed."""
    started: list[RunProcess] = []

    def start(plan: Path, *args: str, faults: str = "") -> RunProcess:
        started.append(RunProcess(plan, *args, faults=faults))
        return started[-1]

    yield start
    for run in started:
        run.stop()


def regular_files(root: Path) -> int:
    if not root.is_dir():
        return 0
    return sum(1 for p in root.rglob("*.bin") if not p.name.startswith("."))


def assert_no_orphan(tmp_path: Path, timeout: float = 15) -> None:
    """Nothing the killed run started (its worker) outlives it for long (docs/run.md, "The
    embedded worker")."""
    deadline = time.monotonic() + timeout
    while orphans := processes_mentioning(str(tmp_path)):
        assert time.monotonic() < deadline, f"processes outlived the killed run: {orphans}"
        time.sleep(0.01)  # a polling interval, not a synchronisation


def assert_no_partial_file(src: Path, dst: Path) -> dict[str, bytes]:
    """Every destination file (temporary copies aside) equals its source; returns them."""
    copied = tree_bytes(dst)
    source = tree_bytes(src)
    for rel, content in copied.items():
        assert content == source.get(rel), f"{rel} is not its source's exact copy"
    return copied


# -- kill -9 and --resume ---------------------------------------------------------------------
def test_run_killed_mid_way_resumes_to_a_byte_exact_tree_redoing_nothing(
    tmp_path: Path,
    run_cli: Callable[..., CliResult],
    write_plan: Callable[..., Path],
    start_run: Callable[..., RunProcess],
) -> None:
    total = 1200
    source = many_files(tmp_path / "src", total, 64 * 1024, seed=4)
    plan = write_plan(TREE_PLAN)
    dst = tmp_path / "dst"
    run = start_run(plan, "-q")
    run.wait_until(lambda: regular_files(dst) >= 20, "20 files were copied")

    run.proc.send_signal(signal.SIGKILL)
    assert run.proc.wait(timeout=60) == -signal.SIGKILL
    assert_no_orphan(tmp_path)

    done_before = assert_no_partial_file(tmp_path / "src", dst)
    assert 20 <= len(done_before) < total, "the kill should have come mid-way"
    stats_before = tree_stats(dst)

    code, document = run_json(run_cli, plan, "--resume")

    assert code == 0, document
    assert tree_bytes(dst) == source
    assert temp_files(tmp_path) == []
    tree = actions_of(document)["tree"]
    assert tree["state"] == "succeeded"
    # redoing nothing that succeeded: exactly the missing files are copied
    assert copied_keys(document, "tree") == set(source) - set(done_before)
    assert (tree["files_done"], tree["files_unchanged"]) == (
        total - len(done_before),
        len(done_before),
    )
    after = tree_stats(dst)
    assert all(after[rel] == stat for rel, stat in stats_before.items() if rel in done_before)


def journaled_copies(state: Path) -> set[str]:
    """The keys of the copies a run's journal recorded as succeeded (read while it runs)."""
    if not state.exists():
        return set()
    try:
        with contextlib.closing(sqlite3.connect(f"file:{state}?mode=ro", uri=True)) as db:
            rows = db.execute(
                "SELECT key FROM items WHERE kind = 'copy' AND state = 'succeeded'"
            ).fetchall()
    except sqlite3.OperationalError:  # not created yet
        return set()
    return {str(key) for (key,) in rows}


def test_resume_with_overwrite_always_copies_nothing_the_journal_recorded_again(
    tmp_path: Path,
    run_cli: Callable[..., CliResult],
    write_plan: Callable[..., Path],
    start_run: Callable[..., RunProcess],
) -> None:
    total = 1200
    source = many_files(tmp_path / "src", total, 16 * 1024, seed=5)
    plan = write_plan(TREE_PLAN.replace('dst: "dst:"}', 'dst: "dst:", overwrite: always}'))
    state = tmp_path / ".planner" / "state.db"
    run = start_run(plan, "-q", "--batch-size", "50", faults=SLOW_FILES)
    run.wait_until(lambda: len(journaled_copies(state)) >= 100, "100 copies were journaled")
    run.proc.send_signal(signal.SIGKILL)
    assert run.proc.wait(timeout=60) == -signal.SIGKILL
    recorded = journaled_copies(state)
    assert 100 <= len(recorded) < total, "the kill should have come mid-way"
    stats_before = tree_stats(tmp_path / "dst")

    code, document = run_json(run_cli, plan, "--resume")

    assert code == 0, document
    assert tree_bytes(tmp_path / "dst") == source
    copied = copied_keys(document, "tree")
    # `always` copies everything, except what this run already did (as far as it recorded)
    assert copied.isdisjoint(recorded)
    assert copied | recorded == set(source)
    assert actions_of(document)["tree"]["files_unchanged"] == len(recorded)
    after = tree_stats(tmp_path / "dst")
    assert all(after[rel] == stats_before[rel] for rel in recorded)


def test_run_killed_while_writing_large_files_leaves_no_partial_file(
    tmp_path: Path,
    run_cli: Callable[..., CliResult],
    write_plan: Callable[..., Path],
    start_run: Callable[..., RunProcess],
) -> None:
    source = many_files(tmp_path / "src", 4, 24 * 1024 * 1024, seed=5)
    plan = write_plan(TREE_PLAN)
    dst = tmp_path / "dst"
    run = start_run(plan, "-q")
    run.wait_until(lambda: dst.is_dir() and bool(temp_files(dst)), "a copy was being written")

    run.proc.send_signal(signal.SIGKILL)
    assert run.proc.wait(timeout=60) == -signal.SIGKILL
    assert_no_orphan(tmp_path)

    done_before = assert_no_partial_file(tmp_path / "src", dst)
    assert len(done_before) < len(source)

    result = run_cli("run", plan, "--resume", "-q")

    assert result.code == 0, result.stdout + result.stderr
    assert tree_bytes(dst) == source
    assert temp_files(tmp_path) == []  # the leftovers of the killed run are cleaned up


# -- the lock ---------------------------------------------------------------------------------
HOLD_LOCK = """
import sys
from pathlib import Path
from planner.runner.journal import Journal

with Journal(Path(sys.argv[1])).lock(sys.argv[2]):
    print("locked", flush=True)
    sys.stdin.read()
"""


def test_a_second_run_is_refused_while_the_lock_is_held_and_a_dead_holder_is_ignored(
    tmp_path: Path, run_cli: Callable[..., CliResult], write_plan: Callable[..., Path]
) -> None:
    make_tree(tmp_path / "src", {"a.bin": b"a"})
    plan = write_plan(TREE_PLAN)
    state = tmp_path / ".planner" / "state.db"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(state), str(plan.resolve())],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "locked\n"

        refused = run_cli("run", plan)

        assert refused.code == 2
        assert f"already being run by process {holder.pid}" in refused.stderr
        assert not (tmp_path / "dst").exists()
    finally:
        holder.kill()  # dies holding the lock: a stale lock the next run takes over
        holder.communicate(timeout=60)

    result = run_cli("run", plan)

    assert result.code == 0, result.stdout + result.stderr
    assert tree_bytes(tmp_path / "dst") == {"a.bin": b"a"}


# -- SIGINT ---------------------------------------------------------------------------------
def test_sigint_stops_dispatching_exits_130_and_resume_completes(
    tmp_path: Path,
    run_cli: Callable[..., CliResult],
    write_plan: Callable[..., Path],
    start_run: Callable[..., RunProcess],
) -> None:
    total = 600
    source = many_files(tmp_path / "src", total, 64 * 1024, seed=6)
    plan = write_plan(TREE_PLAN)
    dst = tmp_path / "dst"
    # small batches one at a time: many batches are still to go when the signal arrives
    run = start_run(
        plan, "--format", "json", "--batch-size", "20", "--concurrency", "1", faults=SLOW_FILES
    )
    run.wait_until(lambda: regular_files(dst) >= 1, "a file was copied")

    # while it runs, the same plan is refused, naming the process that runs it
    refused = run_cli("run", plan)
    assert refused.code == 2
    assert f"already being run by process {run.pid}" in refused.stderr

    run.proc.send_signal(signal.SIGINT)
    assert run.proc.wait(timeout=60) == 130, run.output()

    document = json.loads(run.out.read_text())
    assert (document["result"], document["exit_code"]) == ("interrupted", 130)
    copied = assert_no_partial_file(tmp_path / "src", dst)
    assert temp_files(tmp_path) == []  # in-flight copies were let finish (--grace 30s)
    assert copied_keys(document, "tree") == set(copied)
    stats_before = tree_stats(dst)

    code, resumed = run_json(run_cli, plan, "--resume")

    assert code == 0, resumed
    assert tree_bytes(dst) == source
    after = tree_stats(dst)
    assert all(after[rel] == stat for rel, stat in stats_before.items())  # none copied twice
    # "stop dispatching" (docs/run.md, "Interruption"): after the signal only the batch in flight
    # may finish; the run must not go on submitting the rest of the tree for up to --grace.
    assert len(copied) < total, (
        f"SIGINT did not stop dispatching: all {total} files were copied before exit 130"
    )


def test_interrupt_without_grace_cancels_and_reports_what_was_copied(
    tmp_path: Path,
    run_cli: Callable[..., CliResult],
    write_plan: Callable[..., Path],
    start_run: Callable[..., RunProcess],
) -> None:
    total = 600
    source = many_files(tmp_path / "src", total, 64 * 1024, seed=7)
    plan = write_plan(TREE_PLAN)
    dst = tmp_path / "dst"
    run = start_run(
        plan,
        *("--format", "json", "--batch-size", "20", "--concurrency", "1", "--grace", "0s"),
        faults=SLOW_FILES,
    )
    run.wait_until(lambda: regular_files(dst) >= 1, "a file was copied")

    run.proc.send_signal(signal.SIGINT)
    assert run.proc.wait(timeout=60) == 130, run.output()

    copied = assert_no_partial_file(tmp_path / "src", dst)
    assert 1 <= len(copied) < total
    # the document tells what happened: the files copied before the cancellation
    document = json.loads(run.out.read_text())
    assert (document["result"], document["exit_code"]) == ("interrupted", 130)
    tree = actions_of(document)["tree"]
    assert tree["state"] != "succeeded"
    assert (tree["files_done"], document["totals"]["files_done"]) == (len(copied), len(copied))
    assert copied_keys(document, "tree") == set(copied)

    code, resumed = run_json(run_cli, plan, "--resume")

    assert code == 0, resumed
    assert tree_bytes(dst) == source
    assert temp_files(tmp_path) == []
    assert copied_keys(resumed, "tree") == set(source) - set(copied)
