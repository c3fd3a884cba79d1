"""`--api-url` as a newcomer types it, through the real CLI and a real worker: a URL without the
API path is probed at `/api/v1` (issue 10 item 10), a URL that is no worker fails naming the
expected form, and a worker that wants a token when none is set says so and how to send one
(item 16)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers.cli import CliResult, actions_of, run_json
from tests.helpers.workers import WorkerHandle

PLAN = """
    version: 1
    storages:
      data: {remote: data}
    copies:
      - {id: publish, src: "data:in.txt", dst: "data:out/in.txt"}
"""


@pytest.fixture
def plan(worker: WorkerHandle, write_plan: Callable[..., Path]) -> Path:
    (worker.roots["data"] / "in.txt").write_text("payload")
    return write_plan(PLAN)


def root_of(worker: WorkerHandle) -> str:
    assert worker.url.endswith("/api/v1")
    return worker.url.removesuffix("/api/v1")


def test_an_api_url_without_the_api_path_finds_the_worker_below_it(
    worker: WorkerHandle,
    plan: Path,
    run_cli: Callable[..., CliResult],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PLANNER_TOKEN", worker.token)
    root = root_of(worker)
    previewed = run_cli("plan", plan, "--api-url", root)
    assert previewed.code == 0, previewed.stderr
    assert "  + publish  copy  1 file (7 B) to copy\n" in previewed.stdout

    code, document = run_json(run_cli, plan, "--api-url", root + "/")
    assert code == 0, document
    assert actions_of(document)["publish"]["state"] == "succeeded"
    assert (worker.roots["data"] / "out" / "in.txt").read_text() == "payload"


def test_an_api_url_that_is_no_worker_names_the_expected_form(
    worker: WorkerHandle,
    plan: Path,
    run_cli: Callable[..., CliResult],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PLANNER_TOKEN", worker.token)
    root = root_of(worker)
    wrong = run_cli("plan", plan, "--api-url", f"{root}/v2")
    assert (wrong.code, wrong.stdout) == (3, "")
    assert wrong.stderr == (
        f"planner: error: cannot reach the API at {root}/v2: GET /v2/: HTTP 404 Not Found: "
        "Not Found: GET /v2/ (not a Data Transfer API, and neither is "
        f"{root}/v2/api/v1: the API URL has the form http(s)://HOST:PORT/api/v1)\n"
    )
    wrong = run_cli("run", plan, "--api-url", f"{root}/v2/api/v1")
    assert wrong.code == 3
    assert wrong.stderr == (
        f"planner: error: cannot reach the API at {root}/v2/api/v1: GET /v2/api/v1/: HTTP 404 "
        "Not Found: Not Found: GET /v2/api/v1/ (not a Data Transfer API: the API URL has the "
        "form http(s)://HOST:PORT/api/v1)\n"
    )
    assert not (worker.roots["data"] / "out").exists()


def no_token(url: str, variable: str) -> str:
    return (
        f"planner: error: the API at {url} wants a token, and none was sent: {variable} is unset "
        f"or empty; export {variable}=TOKEN, or name the variable holding it with --token-env "
        "NAME (GET /api/v1/storage: HTTP 401 Unauthorized: missing or invalid credentials "
        "(check the token or API key))\n"
    )


def test_without_a_token_the_message_says_none_was_sent_and_how_to_send_one(
    worker: WorkerHandle, plan: Path, run_cli: Callable[..., CliResult]
) -> None:
    ran = run_cli("run", plan, "--api-url", worker.url)
    assert (ran.code, ran.stderr) == (3, no_token(worker.url, "PLANNER_TOKEN"))
    previewed = run_cli("plan", plan, "--api-url", worker.url, "--token-env", "CI_TOKEN")
    assert (previewed.code, previewed.stderr) == (3, no_token(worker.url, "CI_TOKEN"))
    assert not (worker.roots["data"] / "out").exists()


def test_a_wrong_token_is_still_refused_credentials(
    worker: WorkerHandle,
    plan: Path,
    run_cli: Callable[..., CliResult],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PLANNER_TOKEN", "not-the-token")
    ran = run_cli("run", plan, "--api-url", worker.url)
    assert ran.code == 3
    assert ran.stderr == (
        f"planner: error: the API at {worker.url} refused the credentials: GET /api/v1/storage: "
        "HTTP 401 Unauthorized: missing or invalid credentials (check the token or API key)\n"
    )
