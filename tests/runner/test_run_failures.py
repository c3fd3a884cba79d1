"""`planner run` when things go wrong, through the real CLI and real workers: a permanent failure
(exit 1, dependants skipped, the JSON and JUnit outputs agree), `--keep-going`, retries through
an unreliable worker (`--inject-faults`), and the exit codes for usage and API problems."""

from __future__ import annotations

import os
import random
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.cli import CliResult, actions_of, copied_keys, run_json
from tests.helpers.processes import WorkerProcess, processes_mentioning
from tests.helpers.trees import make_tree, temp_files, tree_bytes

# -- a permanent failure ----------------------------------------------------------------------
# `fetch` reads a missing file (permanent: not found). `publish` reads what `fetch` writes and
# `published` checks what `publish` writes, so both depend on it (inferred edges). `other`
# is independent; its priority puts it after `fetch`, and --concurrency 1 makes that the order.
FAILING_PLAN = """
    version: 1
    name: failing
    storages:
      src: {remote: local, root: ./src}
      dst: {remote: local, root: ./dst}
    defaults:
      retry: {attempts: 5, delay: 10ms, max_delay: 50ms}
    copies:
      - {id: fetch, src: "src:missing.bin", dst: "dst:stage/missing.bin", priority: 0}
      - {id: publish, src: "dst:stage/missing.bin", dst: "dst:final/missing.bin"}
      - {id: other, src: "src:present.txt", dst: "dst:other/present.txt", priority: 200}
    checks:
      - {id: published, exists: "dst:final/missing.bin"}
"""


@pytest.fixture
def failing_plan(tmp_path: Path, write_plan: Callable[..., Path]) -> Path:
    make_tree(tmp_path / "src", {"present.txt": b"independent\n"})
    return write_plan(FAILING_PLAN)


def junit_cases(report: Path) -> tuple[ET.Element, dict[str, ET.Element]]:
    root = ET.parse(report).getroot()
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    return root, {case.get("name", ""): case for case in suite.findall("testcase")}


def assert_junit_matches(report: Path, document: Any) -> None:
    """One testcase per action; failures and skips where the JSON document has them."""
    root, cases = junit_cases(report)
    totals = document["totals"]
    assert root.get("tests") == str(totals["actions"])
    assert root.get("failures") == str(totals["failed"])
    assert root.get("skipped") == str(totals["skipped"] + totals["not_run"])
    assert set(cases) == {a["id"] for a in document["actions"]}
    for action in document["actions"]:
        case = cases[action["id"]]
        assert case.get("classname") == action["kind"]
        failure, skipped = case.find("failure"), case.find("skipped")
        if action["state"] == "failed":
            assert failure is not None, action["id"]
            assert failure.get("message") == action["error"].splitlines()[0]
            assert skipped is None
        elif action["state"] == "succeeded":
            assert failure is None, action["id"]
            assert skipped is None, action["id"]
        else:
            assert failure is None, action["id"]
            assert skipped is not None, action["id"]


def test_permanent_failure_exits_1_and_skips_everything_after_it(
    tmp_path: Path, run_cli: Callable[..., CliResult], failing_plan: Path
) -> None:
    report = tmp_path / "junit.xml"
    code, document = run_json(run_cli, failing_plan, "--concurrency", "1", "--report", str(report))

    assert code == 1
    assert document["result"] == "failed"
    a = actions_of(document)
    assert {k: v["state"] for k, v in a.items()} == {
        "fetch": "failed",
        "publish": "skipped",
        "other": "skipped",  # not started: a failure stops dispatching without --keep-going
        "published": "skipped",
    }
    assert "src:missing.bin" in a["fetch"]["error"]
    assert "no such file" in a["fetch"]["error"]
    assert a["fetch"]["attempts"] == 1  # permanent: not retried although 5 attempts are allowed
    for skipped in ("publish", "other", "published"):
        assert a[skipped]["error"].startswith("skipped"), a[skipped]
        assert a[skipped]["started_at"] is None
    totals = document["totals"]
    assert (totals["succeeded"], totals["failed"], totals["skipped"]) == (0, 1, 3)
    assert not (tmp_path / "dst").exists()
    assert_junit_matches(report, document)
    _, cases = junit_cases(report)
    failure = cases["fetch"].find("failure")
    assert failure is not None
    assert "src:missing.bin" in (failure.text or "")


def test_keep_going_runs_the_independent_branch_and_still_exits_1(
    tmp_path: Path, run_cli: Callable[..., CliResult], failing_plan: Path
) -> None:
    report = tmp_path / "junit.xml"
    code, document = run_json(
        run_cli, failing_plan, "--concurrency", "1", "--keep-going", "--report", str(report)
    )

    assert code == 1
    assert document["result"] == "failed"
    a = actions_of(document)
    assert {k: v["state"] for k, v in a.items()} == {
        "fetch": "failed",
        "publish": "skipped",
        "other": "succeeded",
        "published": "skipped",
    }
    assert "fetch" in a["publish"]["error"]
    assert tree_bytes(tmp_path / "dst") == {"other/present.txt": b"independent\n"}
    assert_junit_matches(report, document)


def test_text_output_names_the_failure_and_the_skipped_actions(
    run_cli: Callable[..., CliResult], failing_plan: Path
) -> None:
    result = run_cli("run", failing_plan, "--concurrency", "1")

    assert result.code == 1
    assert "fetch (copy): failed" in result.stdout
    assert "src:missing.bin" in result.stdout
    for skipped in ("publish", "other", "published"):
        assert f"{skipped} (" in result.stdout
    assert "0 actions succeeded, 1 failed, 3 skipped" in result.stdout


def test_failing_check_fails_the_run(
    tmp_path: Path, run_cli: Callable[..., CliResult], write_plan: Callable[..., Path]
) -> None:
    make_tree(tmp_path / "data", {"LOCK": b""})
    plan = write_plan(
        """
        version: 1
        storages:
          data: {remote: local, root: ./data}
        checks:
          - {id: unlocked, absent: "data:LOCK"}
        """
    )

    code, document = run_json(run_cli, plan)

    assert code == 1
    unlocked = actions_of(document)["unlocked"]
    assert (unlocked["state"], unlocked["change"]) == ("failed", "fail")
    assert "data:LOCK exists" in unlocked["error"]


# -- retries through an unreliable worker -----------------------------------------------------
@pytest.fixture
def faulty_worker(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A `planner worker serve` subprocess failing 20% of requests (503) and 20% of operation
    items (transient), reproducibly; yields its URL and token. SIGTERM afterwards."""
    token = "faulty-token-0123456789"
    (tmp_path / "token").write_text(token, encoding="utf-8")
    worker = WorkerProcess(
        tmp_path,
        "faulty-worker",
        "--state-dir",
        str(tmp_path / "worker-state"),
        "--token-file",
        str(tmp_path / "token"),
        "--inject-faults",
        "http=0.2,operation=0.2,seed=7",
    )
    try:
        yield worker.url, token
    finally:
        try:
            assert worker.terminate() == 0, worker.output()
        finally:
            worker.kill()


def test_transient_faults_are_retried_until_the_tree_is_byte_exact(
    tmp_path: Path,
    run_cli: Callable[..., CliResult],
    write_plan: Callable[..., Path],
    faulty_worker: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, token = faulty_worker
    monkeypatch.setenv("FAULTY_TOKEN", token)
    rng = random.Random(3)
    tree = make_tree(
        tmp_path / "src" / "data",
        {f"d{i % 4}/f{i:03d}.bin": rng.randbytes(rng.randrange(0, 40_000)) for i in range(80)},
    )
    single = make_tree(tmp_path / "src", {"single.bin": rng.randbytes(300_000)})["single.bin"]
    report = make_tree(tmp_path / "src", {"outbox/report.txt": b"moved\n"})["outbox/report.txt"]
    make_tree(tmp_path / "src" / "trash", {"a.tmp": b"x", "b/c.tmp": b"y"})
    plan = write_plan(
        """
        version: 1
        storages:
          src: {remote: local, root: ./src}
          dst: {remote: local, root: ./dst}
        defaults:
          retry: {attempts: 10, delay: 10ms, max_delay: 50ms}
        directories:
          - dst:out
        copies:
          - {id: tree, src: "src:data/", dst: "dst:out/data/"}
          - {id: single, src: "src:single.bin", dst: "dst:out/single.bin"}
        moves:
          - {id: move, src: "src:outbox/report.txt", dst: "dst:out/moved/report.txt"}
        removals:
          - {id: trash, path: "src:trash/"}
        metadata:
          - {id: tag, path: "dst:out/data", set: {origin: faults}}
        checks:
          - {id: moved, exists: "dst:out/moved/report.txt"}
        """
    )
    api = ("--api-url", url, "--token-env", "FAULTY_TOKEN")

    code, document = run_json(run_cli, plan, *api)

    assert code == 0, [(a["id"], a["error"]) for a in document["actions"] if a["error"]]
    out = tmp_path / "dst" / "out"
    assert tree_bytes(out) == {
        **{f"data/{k}": v for k, v in tree.items()},
        "single.bin": single,
        "moved/report.txt": report,
    }
    assert not (tmp_path / "src" / "outbox" / "report.txt").exists()
    assert temp_files(tmp_path) == []
    assert not (tmp_path / "src" / "trash").exists()
    assert all(a["state"] == "succeeded" for a in document["actions"]), document
    assert copied_keys(document, "tree") == set(tree)
    # the faults did happen: some items (file items, probes, or a whole tree operation) needed
    # more than one attempt
    attempts = [i["attempts"] for a in document["actions"] for i in a["items"]]
    assert max(attempts + [a["attempts"] for a in document["actions"]]) > 1

    # and the same faulty worker sees an idempotent re-run: nothing to do
    code, again = run_json(run_cli, plan, *api)
    assert code == 0, [(a["id"], a["error"]) for a in again["actions"] if a["error"]]
    assert again["totals"]["files_done"] == 0
    assert {a["change"] for a in again["actions"]} == {"unchanged"}


# -- usage and API exit codes -----------------------------------------------------------------
SIMPLE_PLAN = """
    version: 1
    storages:
      data: {remote: local, root: ./data}
    directories:
      - data:made
"""


def test_unreachable_api_exits_3(
    run_cli: Callable[..., CliResult], write_plan: Callable[..., Path], unused_port: int
) -> None:
    url = f"http://127.0.0.1:{unused_port}/api/v1"
    result = run_cli("run", write_plan(SIMPLE_PLAN), "--api-url", url)

    assert result.code == 3
    assert url in result.stderr


def test_refused_token_exits_3(
    tmp_path: Path,
    run_cli: Callable[..., CliResult],
    write_plan: Callable[..., Path],
    worker: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WRONG_TOKEN", "not-the-token-0000000000")
    result = run_cli(
        "run", write_plan(SIMPLE_PLAN), "--api-url", worker.url, "--token-env", "WRONG_TOKEN"
    )

    assert result.code == 3
    assert not (tmp_path / "data" / "made").exists()


def test_invalid_plan_exits_2_and_touches_nothing(
    tmp_path: Path, run_cli: Callable[..., CliResult], write_plan: Callable[..., Path]
) -> None:
    plan = write_plan(SIMPLE_PLAN + "    copies:\n      - {src: 'nowhere:x', dst: 'data:y'}\n")
    result = run_cli("run", plan)

    assert result.code == 2
    assert "nowhere" in result.stderr
    assert not (tmp_path / "data").exists()
    assert not (tmp_path / ".planner").exists()
    # the worker started while the plan was loading is gone too
    assert processes_mentioning("planner.worker.child", parent=os.getpid()) == []


def test_resume_with_nothing_to_resume_exits_2(
    tmp_path: Path, run_cli: Callable[..., CliResult], write_plan: Callable[..., Path]
) -> None:
    plan = write_plan(SIMPLE_PLAN)
    assert run_cli("run", plan).code == 0

    result = run_cli("run", plan, "--resume")

    assert result.code == 2
    assert "nothing to resume" in result.stderr
    assert os.path.isdir(tmp_path / "data" / "made")


def test_an_unwritable_report_path_is_refused_before_running(tmp_path, write_plan, run_cli) -> None:
    (tmp_path / "src").mkdir()
    plan = write_plan(
        """
        version: 1
        storages:
          s: {remote: local, root: .}
        directories: [s:made]
        """
    )
    result = run_cli("run", plan, "--report", tmp_path / "missing" / "junit.xml")
    assert result.code == 2
    assert "--report" in result.stderr
    assert not (tmp_path / "made").exists()


def test_a_timed_out_action_leaves_nothing_running_on_the_worker(
    tmp_path, write_plan, run_cli, monkeypatch
) -> None:
    import time

    import httpx

    from planner.worker.faults import FaultSpec
    from tests.helpers.workers import start_worker

    embedded, worker = start_worker(tmp_path / "w", faults=FaultSpec(item_delay=30), pool_size=1)
    try:
        (tmp_path / "src").mkdir()
        (tmp_path / "src" / "a.bin").write_bytes(b"a")
        plan = write_plan(
            """
            version: 1
            storages:
              s: {remote: local, root: .}
            copies:
              - {id: slow, src: "s:src/", dst: "s:dst/", timeout: 300ms}
            """
        )
        monkeypatch.setenv("WTOKEN", worker.token)
        result = run_cli("run", plan, "--api-url", worker.url, "--token-env", "WTOKEN")
        assert result.code == 1
        assert "timed out after 0.3s" in result.stdout
        with httpx.Client(base_url=worker.url, headers=worker.headers) as client:
            deadline = time.monotonic() + 5
            while True:
                ops = client.get("/operations", params={"limit": 50}).json()["operations"]
                if ops and all(o["state"] == "failed" for o in ops):
                    break
                assert time.monotonic() < deadline, f"still running: {ops}"
                time.sleep(0.02)
        assert all(o["error_detail"]["code"] == 499 for o in ops)
    finally:
        embedded.stop()


def test_a_copy_from_a_missing_storage_root_fails(
    tmp_path: Path, write_plan: Callable[..., Path], run_cli: Callable[..., CliResult]
) -> None:
    plan = write_plan(
        """
        version: 1
        storages:
          gone: {remote: local, root: ./not-there}
          dst: {remote: local, root: ./dst}
        copies:
          - {id: everything, src: "gone:", dst: "dst:"}
        """
    )
    code, document = run_json(run_cli, plan)

    assert code == 1
    assert actions_of(document)["everything"]["error"] == (
        f"gone: (root ./not-there → {tmp_path.resolve() / 'not-there'}): no such file or "
        "directory; storage roots are relative to the plan file's directory"
    )
    assert not (tmp_path / "dst").exists()
