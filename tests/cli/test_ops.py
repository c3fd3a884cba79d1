"""`planner ops` against the real embedded worker."""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers.cli import CliResult
from tests.helpers.worker_api import sp, submit, wait_all
from tests.helpers.workers import TOKENS, Team, team_worker


def _submit_copy(worker, tmp_path) -> str:
    (worker.roots["data"] / "a.txt").write_bytes(b"hello")
    with httpx.Client(base_url=worker.url, headers=worker.headers) as client:
        body = {
            "operations": [
                {
                    "src": {"remote": "data", "path": "a.txt"},
                    "dst": {"remote": "any", "path": "b.txt"},
                }
            ]
        }
        op_id = client.post("/storage:copy", json=body).json()["id"]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            op = client.get(f"/operations/{op_id}").json()
            if op["state"] in ("succeeded", "failed"):
                return str(op_id)
            time.sleep(0.01)
    raise AssertionError("the copy did not finish")


@pytest.fixture
def api_env(worker, monkeypatch):
    monkeypatch.setenv("PLANNER_API_URL", worker.url)
    monkeypatch.setenv("PLANNER_TOKEN", worker.token)
    return worker


def test_list_shows_the_recent_operation(api_env, tmp_path, run_cli) -> None:
    op_id = _submit_copy(api_env, tmp_path)
    result = run_cli("ops", "list")
    assert result.code == 0, result.stderr
    assert result.stdout.splitlines()[0].split() == ["ID", "STATE", "DONE", "QUEUED", "DESCRIPTION"]
    lines = result.stdout.splitlines()
    assert any(line.startswith(op_id) and "succeeded" in line for line in lines)


def test_show_prints_one_operation_as_json(api_env, tmp_path, run_cli) -> None:
    op_id = _submit_copy(api_env, tmp_path)
    result = run_cli("ops", "show", op_id, "--format", "json")
    assert result.code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["format_version"] == 1
    assert document["operation"]["id"] == op_id
    assert document["operation"]["state"] == "succeeded"
    assert document["operation"]["progress"] == 1.0


def test_show_of_an_unknown_operation_exits_1(api_env, run_cli) -> None:
    result = run_cli("ops", "show", "no-such-operation")
    assert result.code == 1
    assert "error:       unknown operation (code 404)" in result.stdout


def test_cancel_of_a_finished_operation_leaves_it_unchanged(api_env, tmp_path, run_cli) -> None:
    op_id = _submit_copy(api_env, tmp_path)
    result = run_cli("ops", "cancel", op_id)
    assert result.code == 0, result.stderr
    assert result.stdout.strip() == f"{op_id}: succeeded"


def test_without_an_api_url_exits_2(run_cli, monkeypatch) -> None:
    monkeypatch.delenv("PLANNER_API_URL", raising=False)
    result = run_cli("ops", "list")
    assert result.code == 2
    assert "give --api-url URL or set PLANNER_API_URL" in result.stderr


def test_a_wrong_token_exits_3_without_showing_it(worker, run_cli, monkeypatch) -> None:
    monkeypatch.setenv("WRONG", "not-the-token-secret")
    result = run_cli("ops", "list", "--api-url", worker.url, "--token-env", "WRONG")
    assert result.code == 3
    assert "401" in result.stderr
    assert "not-the-token-secret" not in result.stderr + result.stdout


def test_an_unreachable_worker_exits_3(run_cli, unused_port) -> None:
    result = run_cli("ops", "list", "--api-url", f"http://127.0.0.1:{unused_port}/api/v1")
    assert result.code == 3
    assert result.stderr.startswith("planner: error:")


# -- a worker shared by several users ----------------------------------------------------------
@pytest.fixture
def team(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Team]:
    with team_worker(tmp_path) as running:
        monkeypatch.setenv("PLANNER_API_URL", running.worker.url)
        yield running


def _as(monkeypatch: pytest.MonkeyPatch, user: str) -> None:
    monkeypatch.setenv("PLANNER_TOKEN", TOKENS[user])


STAMP = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(\+00:00|Z)?")


def _same_output(foreign: CliResult, foreign_id: str, unknown: CliResult, unknown_id: str) -> None:
    def shown(result: CliResult, op_id: str) -> tuple[int, str, str]:
        return (
            result.code,
            STAMP.sub("<T>", result.stdout.replace(op_id, "<ID>")),
            STAMP.sub("<T>", result.stderr.replace(op_id, "<ID>")),
        )

    assert shown(foreign, foreign_id) == shown(unknown, unknown_id)


def test_a_restricted_user_lists_and_reaches_only_its_own_operations(
    team: Team, run_cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    alices = submit(team.alice, "/storage:mkdir", {"operations": [sp("alice/a"), sp("alice/b")]})
    bobs = submit(team.bob, "/storage:mkdir", {"operations": [sp("bob/b")]})
    wait_all(team.root, [alices, bobs])
    unknown = secrets.token_hex(12)

    _as(monkeypatch, "bob")
    listing = run_cli("ops", "list", "--format", "json")
    text = run_cli("ops", "list")
    shows = [run_cli("ops", "show", i) for i in (alices, unknown, f"{alices}-1", f"{unknown}-1")]
    cancels = [run_cli("ops", "cancel", i) for i in (alices, unknown)]
    _as(monkeypatch, "root")
    everyone = run_cli("ops", "list", "--format", "json")

    assert listing.code == 0, listing.stderr
    assert [op["id"] for op in json.loads(listing.stdout)["operations"]] == [bobs]
    assert alices not in text.stdout
    assert bobs in text.stdout
    assert shows[0].code == 1
    assert "error:       unknown operation (code 404)" in shows[0].stdout
    _same_output(shows[0], alices, shows[1], unknown)
    _same_output(shows[2], alices, shows[3], unknown)
    assert cancels[0].code != 0
    _same_output(cancels[0], alices, cancels[1], unknown)
    assert everyone.code == 0, everyone.stderr
    seen = {op["id"]: op["user_id"] for op in json.loads(everyone.stdout)["operations"]}
    assert seen == {alices: "alice", bobs: "bob"}
