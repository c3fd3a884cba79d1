"""The run journal on real SQLite files: round trips, resume, the plan lock, `planner runs`."""

from __future__ import annotations

import contextlib
import itertools
import random
import re
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from planner.runner.journal import Journal, JournalError, RunCounts
from planner.runner.journal_read import JournalReader
from planner.runner.journal_sql import UPDATE_ACTION
from planner.runner.results import (
    ActionResult,
    ActionState,
    Change,
    ItemRecord,
    ItemRow,
    ItemState,
    RunResult,
)

PLAN = "/plans/plan.yaml"
HOST = socket.gethostname()
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / ".planner" / "state.db"


@pytest.fixture
def journal(state: Path) -> Iterator[Journal]:
    """A journal whose clock advances a minute per reading, with seeded run ids."""
    ticks = itertools.count(1_800_000_000, 60)
    with Journal(state, clock=lambda: float(next(ticks)), rng=random.Random(7)) as opened:
        yield opened


@pytest.fixture
def live_pid() -> Iterator[int]:
    """The pid of a process that stays alive for the test."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        yield child.pid
    finally:
        child.kill()
        child.wait()


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # reaped: no zombie left behind
    return child.pid


def hold_lock(state: Path, pid: int, host: str = HOST, started: float | None = None) -> None:
    """Record a lock on PLAN as another process would have."""
    with contextlib.closing(sqlite3.connect(state)) as conn, conn:
        conn.execute(
            "INSERT INTO locks VALUES (?, ?, ?, ?, 'other-token')",
            (PLAN, pid, host, time.time() if started is None else started),
        )


def actions() -> list[ActionResult]:
    return [ActionResult("make-dir", "mkdir"), ActionResult("copy-data", "copy")]


def item(key: str, state: ItemState = ItemState.SUCCEEDED, size: int = 10) -> ItemRecord:
    return ItemRecord("copy-data", key, "copy", f"data:{key}", f"archive:{key}", size, state)


def start(journal: Journal, digest: str = "sha256:1", plan: str = PLAN) -> RunResult:
    return journal.start_run(plan, "plan.yaml", "demo", digest, actions())


def interrupted_run(journal: Journal) -> RunResult:
    """A run whose mkdir succeeded and whose copy stopped halfway: a, c done, b failed."""
    run = start(journal)
    mkdir, copy = run.actions
    mkdir.state, mkdir.change, mkdir.files_done = ActionState.SUCCEEDED, Change.CREATE, 1
    journal.save_action(run.run_id, mkdir)
    copy.state, copy.attempts, copy.error = ActionState.FAILED, 2, "interrupted"
    journal.save_action(run.run_id, copy)
    failed = item("b", ItemState.FAILED)
    failed.attempts, failed.error = 3, "503 Service Unavailable"
    copy.items = [item("a"), failed, item("c", ItemState.UNCHANGED)]
    journal.save_items(run.run_id, copy.items)
    run.interrupted = True
    journal.finish_run(run)
    return run


# -- round trip -------------------------------------------------------------------------------
def test_a_run_round_trips_every_field(journal: Journal) -> None:
    run = start(journal)
    assert run.started_at == 1_800_000_000.0
    assert re.fullmatch(r"20270115T080000-[0-9a-f]{4}", run.run_id)
    copy = run.actions[1]
    copy.state, copy.change, copy.attempts, copy.error = (
        ActionState.FAILED,
        Change.UPDATE,
        3,
        "2 items failed",
    )
    copy.started_at, copy.ended_at = 1_800_000_001.5, 1_800_000_009.25
    copy.files_done, copy.files_unchanged, copy.bytes_done = 7, 2, 123_456_789_012
    copy.detail = ["copied 7 files", "kept 2 — identical"]
    journal.save_action(run.run_id, copy)
    copy.items = [
        ItemRecord(
            "copy-data",
            "sub/ü.csv",
            "copy",
            "data:sub/ü.csv",
            "archive:x/sub/ü.csv",
            2**40,
            ItemState.FAILED,
            4,
            "permission denied",
            "sha256:ab",
            1_800_000_002.0,
            1_800_000_003.5,
        ),
        item("z", ItemState.PENDING),
    ]
    journal.save_items(run.run_id, copy.items)
    run.ended_at, run.interrupted = 1_800_000_010.0, True
    journal.finish_run(run)

    assert journal.load(run.run_id) == run


def test_a_run_reloads_in_a_new_journal_on_the_same_file(journal: Journal, state: Path) -> None:
    run = interrupted_run(journal)
    journal.close()
    with Journal(state) as reopened:
        assert reopened.load(run.run_id) == run


def test_save_items_updates_an_item_in_place(journal: Journal) -> None:
    run = start(journal)
    journal.save_items(run.run_id, [item("a", ItemState.PENDING), item("b", ItemState.PENDING)])
    journal.save_items(run.run_id, [item("a", ItemState.SUCCEEDED, size=99)])

    items = journal.load(run.run_id).actions[1].items
    assert [(i.key, i.state, i.size) for i in items] == [
        ("a", ItemState.SUCCEEDED, 99),
        ("b", ItemState.PENDING, 10),
    ]


def test_an_action_not_known_at_start_is_loaded_after_the_others(journal: Journal) -> None:
    run = start(journal)
    journal.save_action(run.run_id, ActionResult("late", "check", ActionState.SUCCEEDED))
    assert [a.id for a in journal.load(run.run_id).actions] == ["make-dir", "copy-data", "late"]


def test_saving_many_actions_at_once_updates_known_ones_and_appends_new_ones(
    journal: Journal,
) -> None:
    run = start(journal)
    mkdir, copy = run.actions
    mkdir.state, copy.state, copy.detail = ActionState.SUCCEEDED, ActionState.FAILED, ["why"]
    journal.save_many(run.run_id, [mkdir, copy], [])
    late = ActionResult("late", "check", ActionState.SUCCEEDED)
    copy.attempts = 3
    journal.save_many(run.run_id, [copy, late], [])

    loaded = journal.load(run.run_id).actions
    assert [(a.id, a.state) for a in loaded] == [
        ("make-dir", ActionState.SUCCEEDED),
        ("copy-data", ActionState.FAILED),
        ("late", ActionState.SUCCEEDED),
    ]
    assert (loaded[1].attempts, loaded[1].detail) == (3, ["why"])


def test_saving_an_action_finds_its_row_by_key_not_by_a_scan_of_the_run(
    journal: Journal, state: Path
) -> None:
    """An action is saved at least twice per run (running, then ended): with thousands of
    actions, a statement scanning the run's actions each time would cost actions squared."""
    run = start(journal)
    with contextlib.closing(sqlite3.connect(state)) as conn:
        plan = conn.execute(
            f"EXPLAIN QUERY PLAN {UPDATE_ACTION}", (*["x"] * 11, run.run_id, "copy-data")
        ).fetchall()
    steps = [row[-1] for row in plan]
    assert len(steps) == 1, steps
    assert re.fullmatch(r"SEARCH actions USING INDEX \S+ \(run_id=\? AND action_id=\?\)", steps[0])


def test_ten_thousand_items_load_back(journal: Journal) -> None:
    run = start(journal)
    records = [item(f"dir{n // 100}/file{n:05}", size=n) for n in range(10_000)]
    for first in range(0, len(records), 500):
        journal.save_items(run.run_id, records[first : first + 500])

    items = journal.load(run.run_id).actions[1].items
    assert len(items) == 10_000
    assert items == records
    assert sum(i.size for i in items) == sum(range(10_000))


# -- resume -----------------------------------------------------------------------------------
def test_resume_continues_the_latest_unfinished_run_keeping_what_succeeded(
    journal: Journal,
) -> None:
    interrupted_run(journal)  # superseded by the next one
    old = interrupted_run(journal)

    assert journal.latest_unfinished(PLAN) == old
    new = journal.resume(PLAN, "sha256:1")

    assert new.run_id != old.run_id
    assert (new.plan_file, new.plan_name, new.digest) == ("plan.yaml", "demo", "sha256:1")
    assert new.started_at > old.started_at
    assert (new.ended_at, new.interrupted) == (None, False)
    mkdir, copy = new.actions
    assert mkdir == old.actions[0]
    assert copy == ActionResult("copy-data", "copy", attempts=2, items=copy.items)
    assert [(i.key, i.state) for i in copy.items] == [
        ("a", ItemState.SUCCEEDED),
        ("c", ItemState.UNCHANGED),
    ]
    assert journal.latest_unfinished(PLAN) == new
    summaries = journal.runs(PLAN)
    assert [(s.run_id, s.result, s.resumed_from) for s in summaries[:2]] == [
        (new.run_id, "abandoned", old.run_id),  # nobody holds the plan's lock
        (old.run_id, "interrupted", None),
    ]
    assert summaries[1].superseded_by == new.run_id


def test_resume_refuses_a_plan_that_changed(journal: Journal) -> None:
    old = interrupted_run(journal)
    message = f"the plan changed since run {old.run_id} started; run without --resume"
    with pytest.raises(JournalError, match=f"^{re.escape(message)}$") as caught:
        journal.resume(PLAN, "sha256:2")
    assert caught.value.exit_code == 2
    assert journal.latest_unfinished(PLAN) == old


def test_resume_refuses_a_plan_never_run(journal: Journal) -> None:
    interrupted_run(journal)
    with pytest.raises(
        JournalError,
        match=r"^nothing to resume for /plans/other\.yaml: no unfinished run recorded$",
    ):
        journal.resume("/plans/other.yaml", "sha256:1")


def test_a_successful_run_is_not_resumable(journal: Journal) -> None:
    run = start(journal)
    for action in run.actions:
        action.state = ActionState.SUCCEEDED
    journal.finish_run(run)

    assert journal.latest_unfinished(PLAN) is None
    with pytest.raises(JournalError, match=r"^nothing to resume for /plans/plan\.yaml: "):
        journal.resume(PLAN, "sha256:1")


def test_a_new_run_supersedes_an_unfinished_one(journal: Journal) -> None:
    interrupted_run(journal)
    run = start(journal)
    for action in run.actions:
        action.state = ActionState.SUCCEEDED
    journal.finish_run(run)

    assert journal.latest_unfinished(PLAN) is None


def test_a_run_killed_mid_way_keeps_its_writes_and_can_be_resumed(state: Path) -> None:
    script = textwrap.dedent(
        f"""
        import os, signal
        from pathlib import Path
        from planner.runner.journal import Journal
        from planner.runner.results import ActionResult, ItemRecord, ItemState

        journal = Journal(Path({str(state)!r}))
        with journal.lock({PLAN!r}):
            run = journal.start_run({PLAN!r}, "plan.yaml", "d", "d1", [ActionResult("c", "copy")])
            done = [ItemRecord("c", str(n), "copy", state=ItemState.SUCCEEDED) for n in range(500)]
            journal.save_items(run.run_id, done)
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    killed = subprocess.run([sys.executable, "-c", script], cwd=REPO, check=False)
    assert killed.returncode == -9

    with Journal(state) as journal:
        assert [s.result for s in journal.runs()] == ["abandoned"]
        with journal.lock(PLAN):  # the dead process's lock is stale
            resumed = journal.resume(PLAN, "d1")
        assert len(resumed.actions[0].items) == 500


# -- lock -------------------------------------------------------------------------------------
def test_lock_refuses_a_second_holder_in_the_same_process(journal: Journal, state: Path) -> None:
    with journal.lock(PLAN), Journal(state) as other:
        pattern = (
            rf"^{re.escape(PLAN)} is already being run by process \d+ on host {re.escape(HOST)}"
            rf" since \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d \(lock in {re.escape(str(state))}\)$"
        )
        with pytest.raises(JournalError, match=pattern), other.lock(PLAN):
            pass
        with pytest.raises(JournalError, match="already being run"), journal.lock(PLAN):
            pass


def test_lock_refuses_while_another_live_process_holds_it(
    journal: Journal, state: Path, live_pid: int
) -> None:
    hold_lock(state, live_pid, started=1_800_000_000.0)
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(1_800_000_000.0))
    message = (
        f"{PLAN} is already being run by process {live_pid} on host {HOST} since {since}"
        f" (lock in {state})"
    )
    with pytest.raises(JournalError, match=f"^{re.escape(message)}$"), journal.lock(PLAN):
        pass


def test_lock_of_another_plan_is_independent(journal: Journal, state: Path, live_pid: int) -> None:
    hold_lock(state, live_pid)
    with journal.lock("/plans/other.yaml"):
        pass


def test_lock_from_another_host_is_respected(journal: Journal, state: Path) -> None:
    hold_lock(state, dead_pid(), host="elsewhere.example")
    with pytest.raises(JournalError, match=r"on host elsewhere\.example since"), journal.lock(PLAN):
        pass


def test_stale_lock_of_a_dead_process_is_taken_over(journal: Journal, state: Path) -> None:
    hold_lock(state, dead_pid())
    with journal.lock(PLAN):
        run = start(journal)
    assert journal.runs()[0].run_id == run.run_id


def test_lock_whose_pid_was_reused_by_a_newer_process_is_stale(
    journal: Journal, state: Path, live_pid: int
) -> None:
    if not Path(f"/proc/{live_pid}/stat").exists():
        pytest.skip("process start times come from Linux /proc")
    hold_lock(state, live_pid, started=time.time() - 3600)  # taken before that process began
    with journal.lock(PLAN):
        pass


def test_lock_is_released_after_the_block_even_on_error(journal: Journal, state: Path) -> None:
    with pytest.raises(RuntimeError, match="boom"), journal.lock(PLAN):
        raise RuntimeError("boom")
    with journal.lock(PLAN), Journal(state) as other:
        assert other.runs() == []
    with contextlib.closing(sqlite3.connect(state)) as conn, conn:
        assert conn.execute("SELECT COUNT(*) FROM locks").fetchone() == (0,)


def test_a_run_shows_as_running_while_its_lock_is_held(journal: Journal) -> None:
    with journal.lock(PLAN):
        run = start(journal)
        assert journal.summary(run.run_id).result == "running"
    assert journal.summary(run.run_id).result == "abandoned"


# -- reading ----------------------------------------------------------------------------------
def test_runs_lists_newest_first_with_counts(journal: Journal) -> None:
    first = interrupted_run(journal)
    other = start(journal, plan="/plans/other.yaml")
    for action in other.actions:
        action.state, action.files_done, action.bytes_done = ActionState.SUCCEEDED, 3, 30
    journal.finish_run(other)
    failed = start(journal)
    failed.actions[0].state = ActionState.FAILED
    failed.actions[1].state = ActionState.SKIPPED
    journal.finish_run(failed)

    summaries = journal.runs()
    assert [(s.run_id, s.result) for s in summaries] == [
        (failed.run_id, "failed"),
        (other.run_id, "succeeded"),
        (first.run_id, "interrupted"),
    ]
    # "mkdir" is no kind of action: only the copy's files count per kind (as copied)
    assert summaries[1].counts == RunCounts(2, 2, 0, 0, 6, 0, 60, copied=3)
    assert summaries[2].counts == RunCounts(2, 1, 1, 0, 1, 0, 0)
    assert summaries[0].counts == RunCounts(2, 0, 1, 1, 0, 0, 0)
    assert summaries[1].plan_key == "/plans/other.yaml"
    assert (summaries[1].plan_file, summaries[1].plan_name) == ("plan.yaml", "demo")
    assert summaries[1].duration == 60.0  # the test clock ticks a minute per reading
    assert summaries[2].superseded_by == failed.run_id
    assert [s.run_id for s in journal.runs(PLAN)] == [failed.run_id, first.run_id]
    assert [s.run_id for s in journal.runs(limit=1)] == [failed.run_id]


def test_a_run_without_actions_has_zero_counts(journal: Journal) -> None:
    run = journal.start_run(PLAN, "plan.yaml", "empty", "d", [])
    [summary] = journal.runs()
    assert (summary.run_id, summary.result, summary.ended_at, summary.duration) == (
        run.run_id,
        "abandoned",
        None,
        None,
    )
    assert summary.counts == RunCounts(0, 0, 0, 0, 0, 0, 0)


def test_load_accepts_a_unique_prefix_of_a_run_id(journal: Journal) -> None:
    run = start(journal)
    later = start(journal)
    assert journal.load(run.run_id[:13]).run_id == run.run_id  # 20270115T0800
    assert journal.summary(later.run_id[:13]).run_id == later.run_id
    assert journal.load(run.run_id) == run


def test_load_refuses_an_ambiguous_prefix(journal: Journal) -> None:
    start(journal)
    start(journal)
    with pytest.raises(
        JournalError, match=r"^run id '2027' is ambiguous: it matches 2027\S+, 2027\S+, \.\.\.$"
    ):
        journal.load("2027")


@pytest.mark.parametrize("run_id", ["", "nope", "20270115T080000-zzzz"])
def test_load_refuses_an_unknown_run_id(journal: Journal, state: Path, run_id: str) -> None:
    start(journal)
    with pytest.raises(JournalError, match=f"^no run '{run_id}' in {re.escape(str(state))}$"):
        journal.load(run_id)


# -- the database -----------------------------------------------------------------------------
def test_a_new_journal_is_versioned_and_in_wal_mode(state: Path) -> None:
    Journal(state).close()
    with contextlib.closing(sqlite3.connect(state)) as conn, conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall() == [
            ("1",)
        ]
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_a_file_that_is_not_a_journal_is_refused(state: Path) -> None:
    state.parent.mkdir()
    state.write_text("plans are YAML, not SQLite\n" * 100)
    with pytest.raises(JournalError, match=r"^cannot open the journal .+: file is not a database$"):
        Journal(state)


def test_a_journal_from_a_newer_planner_is_refused_and_left_untouched(state: Path) -> None:
    state.parent.mkdir()
    with contextlib.closing(sqlite3.connect(state)) as conn, conn:
        conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        conn.execute("INSERT INTO meta VALUES ('schema_version', '2')")
    message = (
        f"cannot open the journal {state}: its schema version is 2, this planner reads version 1"
    )
    with pytest.raises(JournalError, match=f"^{re.escape(message)}$"):
        Journal(state)
    with contextlib.closing(sqlite3.connect(state)) as conn, conn:
        tables = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    assert tables == [("meta",)]


def test_a_journal_path_under_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(
        JournalError, match=r"^cannot create the journal .+/file/state\.db: .+/file: File exists$"
    ):
        Journal(tmp_path / "file" / "state.db")


def test_every_journaled_field_of_an_action_and_an_item_reads_back(journal: Journal) -> None:
    run = journal.start_run(PLAN, "plan.yaml", "demo", "sha256:1", actions())
    done = ActionResult(
        "copy-data",
        "copy",
        ActionState.FAILED,
        Change.UPDATE,
        attempts=3,
        error="boom",
        started_at=1_800_000_001.5,
        ended_at=1_800_000_009.25,
        files_done=7,
        files_unchanged=11,
        bytes_done=12_345,
        detail=["2 files filtered out"],
        items=[
            ItemRecord(
                "copy-data",
                "a/b.txt",
                "copy",
                "data:a/b.txt",
                "archive:a/b.txt",
                99,
                ItemState.FAILED,
                attempts=2,
                error="gone (code 404)",
                checksum="0123456789abcdef",
                started_at=1_800_000_002.0,
                ended_at=1_800_000_003.0,
            )
        ],
    )
    journal.save_action(run.run_id, done)
    journal.save_items(run.run_id, done.items)

    loaded = journal.load(run.run_id).actions[1]

    assert loaded == done


def row(key: str, state: str = "succeeded", checksum: str = "", started: float = 5.0) -> ItemRow:
    """A copy-data item as a tree operation's records are journaled: a row, no ItemRecord."""
    copy = ("copy-data", key, "copy", f"data:{key}", f"archive:{key}", 3, state, 1, "")
    return (*copy, checksum, started, started + 1)


def test_item_rows_are_journaled_and_read_back_as_they_are_consumed(
    journal: Journal, state: Path
) -> None:
    run = journal.start_run(PLAN, PLAN, "p", "d1", actions())
    carried = row("old.txt", checksum="c0", started=1.0)  # as --resume copies them in
    rows = [row("b.txt", checksum="c2"), row("a.txt", checksum="c1"), row("x", "failed", "c3")]
    journal.save_many(run.run_id, [], [], [carried])
    journal.save_many(run.run_id, [], [], rows)
    journal.close()

    copy = ActionResult("copy-data", "copy", started_at=5.0)
    read = JournalReader(state, run.run_id)  # the journal closed: it opens its own connection
    assert [i.key for i in read.items(copy)] == ["old.txt", "b.txt", "a.txt", "x"]
    assert next(read.items(copy)) == ItemRecord(
        "copy-data", "old.txt", "copy", "data:old.txt", "archive:old.txt", 3,
        ItemState.SUCCEEDED, 1, "", "c0", 1.0, 2.0,
    )  # fmt: skip
    # succeeded items with a checksum, sorted by key
    assert list(read.checksums(copy)) == [("a.txt", "c1"), ("b.txt", "c2"), ("old.txt", "c0")]
    # a run's own outputs: only what the action recorded since it started (not carried over)
    own = JournalReader(state, run.run_id, own=True)
    assert [i.key for i in own.items(copy)] == ["b.txt", "a.txt", "x"]
    assert list(own.checksums(copy)) == [("a.txt", "c1"), ("b.txt", "c2")]


def test_a_run_loaded_without_items_reads_them_from_the_journal(journal: Journal) -> None:
    run = journal.start_run(PLAN, PLAN, "p", "d1", actions())
    journal.save_items(run.run_id, [item("k1"), item("k2")])
    journal.save_many(run.run_id, [], [], [row("k3")])

    loaded = journal.load(run.run_id, items=False)

    make_dir, copy = loaded.actions
    assert (copy.items, copy.items_journaled, make_dir.items_journaled) == ([], 3, 0)
    assert [i.key for i in loaded.items_of(copy)] == ["k1", "k2", "k3"]
    assert list(loaded.items_of(make_dir)) == []
    assert [i.key for i in journal.load(run.run_id).actions[1].items] == ["k1", "k2", "k3"]
