"""The outputs of `planner run`: the text summary, the JSON document and the JUnit report."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from planner.errors import UsageError
from planner.render.junit import SKIPPED_MESSAGE, write_junit
from planner.render.run_json import render_run_json, run_document
from planner.render.run_text import (
    action_status,
    human_duration,
    human_size,
    summary_lines,
)
from planner.runner.journal import Journal
from planner.runner.results import (
    ActionResult,
    ActionState,
    Change,
    ItemRecord,
    ItemState,
    RunResult,
)

START = datetime(2026, 11, 23, 18, 45, tzinfo=UTC).timestamp()


def _items(action_id: str, n: int, *, failed: int = 0) -> list[ItemRecord]:
    return [
        ItemRecord(
            action_id=action_id,
            key=f"data/f{i:04d}.bin",
            kind="copy",
            src=f"any:/in/data/f{i:04d}.bin",
            dst=f"local:/out/data/f{i:04d}.bin",
            size=1000 + i,
            state=ItemState.FAILED if i < failed else ItemState.SUCCEEDED,
            attempts=3 if i < failed else 1,
            error="permission denied (code EACCES)" if i < failed else "",
            checksum="" if i < failed else f"xxh128:{i:032x}",
            started_at=START + 1,
            ended_at=START + 2,
        )
        for i in range(n)
    ]


def failed_run() -> RunResult:
    """Three actions and 1,000 items: one succeeded, one failed, one skipped because of it."""
    fetch = ActionResult(
        id="fetch",
        kind="copy",
        state=ActionState.SUCCEEDED,
        change=Change.CREATE,
        attempts=1,
        started_at=START,
        ended_at=START + 4.25,
        files_done=990,
        bytes_done=340_200_000,
        items=_items("fetch", 990),
    )
    publish = ActionResult(
        id="publish",
        kind="copy",
        state=ActionState.FAILED,
        change=Change.UPDATE,
        attempts=3,
        error="2 of 10 items failed: data/f0000.bin: permission denied (code EACCES)",
        started_at=START + 4.25,
        ended_at=START + 5.5,
        files_done=8,
        bytes_done=8_000,
        items=_items("publish", 10, failed=2),
    )
    cleanup = ActionResult(
        id="cleanup",
        kind="removal",
        state=ActionState.SKIPPED,
        error="skipped: 'publish' failed",
    )
    return RunResult(
        run_id="20261123T184500-3f2a",
        plan_file="plans/nightly.yaml",
        plan_name="nightly",
        digest="sha256:abc",
        started_at=START,
        ended_at=START + 12.4,
        actions=[fetch, publish, cleanup],
    )


def succeeded_run() -> RunResult:
    actions = [
        ActionResult(
            id=f"step-{i}",
            kind="copy",
            state=ActionState.SUCCEEDED,
            started_at=START,
            ended_at=START + 1,
            files_done=30,
            files_unchanged=22,
            bytes_done=85_050_000,
        )
        for i in range(4)
    ]
    return RunResult(
        run_id="20261123T184500-3f2a",
        plan_file="plan.yaml",
        plan_name="p",
        digest="d",
        started_at=START,
        ended_at=START + 12.4,
        actions=actions,
    )


# -- text ------------------------------------------------------------------------------------


def test_summary_of_a_succeeded_run_states_every_count() -> None:
    assert summary_lines(succeeded_run()) == [
        "Run 20261123T184500-3f2a succeeded: 4 actions succeeded, 0 failed, 0 skipped; "
        "120 files copied, 88 unchanged, 340.2 MB in 12.4s"
    ]


def test_summary_of_a_failed_run_names_each_failed_action_with_its_error() -> None:
    assert summary_lines(failed_run()) == [
        "Run 20261123T184500-3f2a failed: 1 action succeeded, 1 failed, 1 skipped; "
        "998 files copied, 0 unchanged, 340.2 MB in 12.4s",
        "  publish (copy) failed: 2 of 10 items failed: data/f0000.bin: permission denied "
        "(code EACCES)",
    ]


def test_summary_of_an_interrupted_run_says_interrupted_and_counts_what_did_not_run() -> None:
    run = failed_run()
    run.interrupted = True
    run.ended_at = START + 185
    run.actions[2].state = ActionState.PENDING
    run.actions[2].error = ""
    assert summary_lines(run)[0] == (
        "Run 20261123T184500-3f2a interrupted: 1 action succeeded, 1 failed, 0 skipped, "
        "1 not run; 998 files copied, 0 unchanged, 340.2 MB in 3m05s"
    )


def test_summary_is_coloured_only_when_asked() -> None:
    assert not any("\x1b[" in line for line in summary_lines(failed_run()))
    assert all("\x1b[" in line for line in summary_lines(failed_run(), color=True))


@pytest.mark.parametrize(
    ("nbytes", "text"),
    [
        (0, "0 B"),
        (999, "999 B"),
        (1000, "1.0 kB"),
        (999_949, "999.9 kB"),
        (999_960, "1.0 MB"),
        (340_200_000, "340.2 MB"),
        (1_234_000_000, "1.2 GB"),
    ],
)
def test_sizes_use_decimal_units(nbytes: int, text: str) -> None:
    assert human_size(nbytes) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0.0s"), (12.44, "12.4s"), (59.96, "1m00s"), (185, "3m05s"), (3727, "1h02m07s")],
)
def test_durations_read_as_seconds_then_minutes(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_action_status_per_state() -> None:
    fetch, publish, cleanup = failed_run().actions
    assert action_status(fetch) == "succeeded: 990 files copied, 340.2 MB in 4.2s"
    assert action_status(publish).startswith("failed: 2 of 10 items failed")
    assert action_status(cleanup) == "skipped: 'publish' failed"
    assert action_status(ActionResult(id="x", kind="copy", state=ActionState.RUNNING)) == (
        "running"
    )
    check = ActionResult(id="c", kind="check", state=ActionState.SUCCEEDED, started_at=0.0)
    check.ended_at = 0.04
    assert action_status(check) == "succeeded in 0.0s"
    check.files_unchanged = 3
    assert action_status(check) == "succeeded: 3 unchanged in 0.0s"


# -- JSON ------------------------------------------------------------------------------------


def test_json_lists_every_action_and_every_item() -> None:
    document = json.loads(render_run_json(failed_run(), 1))
    assert document["format_version"] == 1
    assert [a["id"] for a in document["actions"]] == ["fetch", "publish", "cleanup"]
    assert sum(len(a["items"]) for a in document["actions"]) == 1000
    fetch = document["actions"][0]
    assert len({i["key"] for i in fetch["items"]}) == 990
    assert fetch["items"][5] == {
        "key": "data/f0005.bin",
        "kind": "copy",
        "src": "any:/in/data/f0005.bin",
        "dst": "local:/out/data/f0005.bin",
        "size": 1005,
        "state": "succeeded",
        "attempts": 1,
        "error": "",
        "checksum": f"xxh128:{5:032x}",
    }
    failed_items = [i for i in document["actions"][1]["items"] if i["state"] == "failed"]
    assert [(i["attempts"], i["error"]) for i in failed_items] == [
        (3, "permission denied (code EACCES)")
    ] * 2


def test_json_of_items_read_from_the_journal_is_json_dumps_of_the_same_items(
    tmp_path: Path,
) -> None:
    # a tree operation's records are journaled as rows, and the document formats them as read
    # (no ItemRecord each): the same bytes as json.dumps(indent=2) of the items in memory,
    # whatever their text holds (quotes, backslashes, control characters, non-ASCII)
    keys = ["plain.txt", 'qu"ote\\back', "ünï/cödé ✓", "tab\tnew\nline\x01\x7f", "d/" * 60 + "f"]
    journal = Journal(tmp_path / "state.db")
    started = journal.start_run("/p.yaml", "/p.yaml", "p", "d", [ActionResult("tree", "copy")])
    rows = [
        ("tree", key, "copy", f"src:{key}", f"dst:{key}", n * 1000, "succeeded", 1, "", f"c{n}")
        for n, key in enumerate(keys)
    ]
    rows.append(("tree", "bad", "copy", "src:bad", "dst:bad", 7, "failed", 3, 'dísk "full"', ""))
    journal.save_many(started.run_id, [], [], [(*r, 5.0, 6.0) for r in rows])
    journaled = journal.load(started.run_id, items=False)
    in_memory = journal.load(started.run_id)
    journal.close()
    in_memory.journaled = None
    assert journaled.actions[0].items_journaled == len(rows)
    assert [i.key for i in in_memory.actions[0].items] == [*keys, "bad"]

    expected = json.dumps(run_document(in_memory, 1), indent=2)
    assert render_run_json(journaled, 1) == expected
    assert render_run_json(in_memory, 1) == expected


def test_json_has_the_documented_keys_in_order() -> None:
    document = json.loads(render_run_json(failed_run(), 1))
    assert list(document) == [
        "format_version",
        "run_id",
        "plan",
        "result",
        "exit_code",
        "started_at",
        "ended_at",
        "duration",
        "totals",
        "actions",
    ]
    assert document["plan"] == {
        "file": "plans/nightly.yaml",
        "name": "nightly",
        "digest": "sha256:abc",
    }
    assert (document["result"], document["exit_code"], document["duration"]) == ("failed", 1, 12.4)
    assert document["totals"] == {
        "actions": 3,
        "succeeded": 1,
        "failed": 1,
        "skipped": 1,
        "not_run": 0,
        "files_done": 998,
        "files_unchanged": 0,
        "files_filtered": 0,
        "files_compared": 0,
        "copied": 998,
        "moved": 0,
        "deleted": 0,
        "directories": 0,
        "metadata_keys": 0,
        "grants": 0,
        "bytes": 340_208_000,
        "api_requests": 0,
    }
    assert list(document["actions"][1]) == [
        "id",
        "kind",
        "state",
        "change",
        "attempts",
        "started_at",
        "ended_at",
        "duration",
        "files_done",
        "files_unchanged",
        "files_filtered",
        "files_compared",
        "files_deleted",
        "bytes",
        "bytes_deleted",
        "error",
        "detail",
        "warnings",
        "checksums",
        "skipped",
        "items",
    ]
    publish = document["actions"][1]
    assert (publish["state"], publish["change"], publish["attempts"]) == ("failed", "update", 3)


def test_json_timestamps_are_rfc3339_utc_and_null_when_never_reached() -> None:
    document = json.loads(render_run_json(failed_run(), 1))
    assert document["started_at"] == "2026-11-23T18:45:00.000Z"
    stamps = [document["started_at"], document["ended_at"]]
    for action in document["actions"][:2]:
        stamps += [action["started_at"], action["ended_at"]]
    for stamp in stamps:
        moment = datetime.fromisoformat(stamp)
        assert moment.utcoffset() == timedelta(0)
    assert datetime.fromisoformat(document["ended_at"]).timestamp() == START + 12.4
    cleanup = document["actions"][2]
    assert (cleanup["started_at"], cleanup["ended_at"], cleanup["duration"]) == (None, None, 0.0)


@pytest.mark.parametrize(
    ("interrupted", "success", "result"),
    [(False, True, "succeeded"), (True, True, "interrupted"), (False, False, "failed")],
)
def test_json_result_word(interrupted: bool, success: bool, result: str) -> None:
    run = succeeded_run() if success else failed_run()
    run.interrupted = interrupted
    assert json.loads(render_run_json(run, 0))["result"] == result


# -- JUnit -----------------------------------------------------------------------------------


def test_junit_has_one_testcase_per_action_with_failure_and_skipped(tmp_path: Path) -> None:
    report = tmp_path / "junit.xml"
    write_junit(failed_run(), report)
    root = ET.parse(report).getroot()
    suites = root.findall("testsuite")
    assert len(suites) == 1
    suite = suites[0]
    assert suite.get("name") == "nightly"
    assert {k: suite.get(k) for k in ("tests", "failures", "errors", "skipped")} == {
        "tests": "3",
        "failures": "1",
        "errors": "0",
        "skipped": "1",
    }
    cases = suite.findall("testcase")
    assert [(c.get("classname"), c.get("name"), c.get("time")) for c in cases] == [
        ("copy", "fetch", "4.250"),
        ("copy", "publish", "1.250"),
        ("removal", "cleanup", "0.000"),
    ]
    assert cases[0].find("failure") is None
    assert cases[0].find("skipped") is None
    failure = cases[1].find("failure")
    assert failure is not None
    assert failure.get("message") == failed_run().actions[1].error
    assert failure.text is not None
    assert failure.text.splitlines() == [
        failed_run().actions[1].error,
        "data/f0000.bin: permission denied (code EACCES)",
        "data/f0001.bin: permission denied (code EACCES)",
    ]
    skipped = cases[2].find("skipped")
    assert skipped is not None
    assert skipped.get("message") == "skipped: 'publish' failed"


def test_junit_skipped_without_a_recorded_reason_says_it_depends_on_a_failure(
    tmp_path: Path,
) -> None:
    run = failed_run()
    run.actions[2].error = ""
    report = tmp_path / "junit.xml"
    write_junit(run, report)
    skipped = ET.parse(report).getroot().find("testsuite/testcase[@name='cleanup']/skipped")
    assert skipped is not None
    assert skipped.get("message") == SKIPPED_MESSAGE == "skipped: depends on a failed action"


def test_junit_stays_parseable_with_control_characters_in_errors(tmp_path: Path) -> None:
    run = failed_run()
    run.actions[1].error = "bad name 'a\x01b' <&>"
    report = tmp_path / "junit.xml"
    write_junit(run, report)
    failure = ET.parse(report).getroot().find("testsuite/testcase[@name='publish']/failure")
    assert failure is not None
    assert failure.get("message") == "bad name 'a\ufffdb' <&>"


def test_junit_replaces_the_report_atomically_and_leaves_no_temp_file(tmp_path: Path) -> None:
    report = tmp_path / "junit.xml"
    report.write_text("old", encoding="utf-8")
    write_junit(succeeded_run(), report)
    assert os.listdir(tmp_path) == ["junit.xml"]
    suite = ET.parse(report).getroot().find("testsuite")
    assert suite is not None
    assert suite.get("failures") == "0"


def test_junit_into_a_missing_directory_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"^--report .*missing/junit\.xml: cannot write: "):
        write_junit(succeeded_run(), tmp_path / "missing" / "junit.xml")
    assert os.listdir(tmp_path) == []


def test_junit_write_failure_removes_the_temp_file(tmp_path: Path) -> None:
    report = tmp_path / "junit.xml"
    report.mkdir()  # os.replace onto a directory fails after the temp file was written
    with pytest.raises(UsageError, match="cannot write"):
        write_junit(succeeded_run(), report)
    assert os.listdir(tmp_path) == ["junit.xml"]


def test_json_of_actions_is_json_dumps_whatever_their_fields_hold() -> None:
    # the actions are written one by one without json's encoder: the same bytes as
    # json.dumps(indent=2), with every list filled, odd text, and with no action at all
    odd = 'qu"ote\\ ünï\ttab\nline\x01 ✓'
    full = ActionResult(
        id=odd,
        kind="copy",
        state=ActionState.FAILED,
        change=Change.UPDATE,
        attempts=2,
        started_at=START,
        ended_at=None,
        files_done=3,
        files_compared=1,
        bytes_done=1 << 40,
        error=odd,
        detail=[odd, "granted read to alice"],
        warnings=["include 'x/**' selects no file"],
        checksums={odd: "9f3c", "b": "00"},
        skipped=[{"path": "run/pipe", "reason": "fifo"}, {"path": odd, "reason": "socket"}],
        items=_items(odd, 3, failed=1),
    )
    empty = ActionResult(id="empty", kind="removal")
    for actions in ([full, empty], [empty], []):
        run = RunResult("r", "p.yaml", "p", "d", START, START + 1.5, actions=actions)
        assert render_run_json(run, 1) == json.dumps(run_document(run, 1), indent=2)
