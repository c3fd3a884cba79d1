"""`planner ops` against the real embedded worker."""

from __future__ import annotations

import json
import time

import httpx
import pytest


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
