"""Backpressure over HTTP against a real worker (issue 9, item 9): items queued or running are
bounded (`max_queued_items`); a submission beyond the bound, or beyond its user's fair share, is a
503 problem with Retry-After and starts nothing; one larger than the whole bound is a 413; the
queue drains and accepts again; planner's client and the official client wait and retry; the
admin's listing of recent operations runs off the event loop.

Items are held deterministically with `FaultSpec(item_delay=...)`: every item waits that long
before it runs unless its operation is cancelled, so cancelling an operation frees its slots.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from ansys.hps.data_transfer.client.api import retry as client_retry
from ansys.hps.data_transfer.client.models import StoragePath

from planner.api import wire
from planner.api.client import ApiClient
from planner.worker.auth import Authenticator
from planner.worker.faults import FaultSpec
from planner.worker.operations import OperationStore
from tests.helpers.cli import CliResult
from tests.helpers.official_client import close, make_api
from tests.helpers.processes import WorkerProcess
from tests.helpers.worker_api import assert_problem, failed_with, grant, sp, submit, wait_all
from tests.helpers.workers import WorkerHandle, running_worker, start_worker

HOLD = FaultSpec(item_delay=600.0)  # items wait until their operation is cancelled
ALICE, BOB, ROOT = "alice-token-0123456789", "bob-token-0123456789", "root-token-0123456789"


@contextmanager
def bounded_worker(
    tmp_path: Path, max_queued_items: int, **options: object
) -> Iterator[WorkerHandle]:
    """A worker whose items are held, bounded to `max_queued_items`, one item thread."""
    with running_worker(
        tmp_path, faults=HOLD, pool_size=1, max_queued_items=max_queued_items, **options
    ) as handle:
        yield handle


def client_for(worker: WorkerHandle, token: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else worker.headers
    return httpx.Client(base_url=worker.url, headers=headers, timeout=10.0)


def mkdir(client: httpx.Client, *paths: str) -> httpx.Response:
    return client.post("/storage:mkdir", json={"operations": [sp(p) for p in paths]})


def accepted(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


def assert_busy(response: httpx.Response) -> int:
    """A 503 problem with a Retry-After of whole seconds (1..30); returns them."""
    body = assert_problem(response, 503)
    assert body["detail"].startswith("the worker is busy: "), body
    seconds = int(response.headers["retry-after"])
    assert 1 <= seconds <= 30
    assert f"retry after {seconds} s" in body["detail"]
    return seconds


def release(client: httpx.Client, op_id: str) -> None:
    """Cancel a held operation and wait until it has ended (its slots are then free)."""
    assert client.post(f"/operations/{op_id}:cancel").status_code == 200
    failed_with(wait_all(client, [op_id])[0], 499)


def queued_ops(client: httpx.Client) -> list[dict[str, Any]]:
    response = client.get("/operations", params={"limit": 100})
    assert response.status_code == 200, response.text
    ops: list[dict[str, Any]] = response.json()["operations"]
    return ops


def users_file(tmp_path: Path) -> Authenticator:
    path = tmp_path / "users.yaml"
    path.write_text(
        "users:\n"
        f"  - {{name: alice, token: {ALICE}}}\n"
        f"  - {{name: bob, token: {BOB}}}\n"
        f"  - {{name: root, token: {ROOT}, admin: true}}\n",
        encoding="utf-8",
    )
    return Authenticator.from_users_file(path)


# -- the bound ---------------------------------------------------------------------------------
def test_a_full_queue_answers_503_with_retry_after_then_drains_and_accepts_again(
    tmp_path: Path,
) -> None:
    with bounded_worker(tmp_path, 3) as worker, client_for(worker) as client:
        group = accepted(mkdir(client, "held/a", "held/b"))  # one running, one queued
        single = accepted(mkdir(client, "held/c"))
        refused = mkdir(client, "refused")
        refused_copy = client.post(
            "/storage:copy", json={"operations": [{"src": sp("x"), "dst": sp("y")}]}
        )
        refused_metadata = client.post("/metadata:get", json={"paths": ["x"]})
        listed = queued_ops(client)
        release(client, single)
        again = accepted(mkdir(client, "again"))
        release(client, group)
        release(client, again)

    assert "(--max-queued-items)" in assert_problem(refused, 503)["detail"]
    for response in (refused, refused_copy, refused_metadata):
        assert_busy(response)
    assert sorted(op["id"] for op in listed) == sorted([group, single])  # nothing was started
    assert not (worker.roots["any"] / "refused").exists()


def test_a_request_larger_than_the_whole_bound_is_a_413_naming_the_limit(tmp_path: Path) -> None:
    with bounded_worker(tmp_path, 3) as worker, client_for(worker) as client:
        too_big = mkdir(client, "a", "b", "c", "d")
        fits = accepted(mkdir(client, "a", "b", "c"))
        release(client, fits)

    body = assert_problem(too_big, 413)
    assert body["detail"] == (
        "this request has 4 items; the worker queues at most 3 items at once "
        "(--max-queued-items): split it into smaller requests"
    )
    assert "retry-after" not in too_big.headers


def test_one_user_filling_the_queue_cannot_starve_another(tmp_path: Path) -> None:
    with (
        bounded_worker(tmp_path, 4, authenticator=users_file(tmp_path)) as worker,
        client_for(worker, ALICE) as alice,
        client_for(worker, BOB) as bob,
        client_for(worker, ROOT) as root,
    ):
        grants = [grant("alice", "writer", "alice"), grant("bob", "writer", "bob")]
        assert root.post("/permissions:set", json={"permissions": grants}).is_success
        alice_ops = [accepted(mkdir(alice, f"alice/{i}")) for i in range(4)]  # alone: all of it
        bob_full = mkdir(bob, "bob/0")  # no room at all: bob now waits for room
        release(alice, alice_ops[0])
        alice_over_share = mkdir(alice, "alice/4")  # 3 items, share 2: the slot is bob's
        bob_in = accepted(mkdir(bob, "bob/1"))
        alice_still = mkdir(alice, "alice/5")  # full again
        everyone = queued_ops(root)
        for op_id in alice_ops[1:]:
            release(alice, op_id)
        alice_back = accepted(mkdir(alice, "alice/6"))  # under her share again
        release(alice, alice_back)
        release(bob, bob_in)

    assert "items are queued or running, at most 4" in assert_problem(bob_full, 503)["detail"]
    assert_busy(alice_over_share)
    assert (
        "'alice' has 3 items queued or running and its share of the queue is 2 while 2 "
        in (alice_over_share.json()["detail"])
    )
    assert_busy(alice_still)
    assert sorted(op["user_id"] for op in everyone if op["state"] != "failed") == [
        "alice",
        "alice",
        "alice",
        "bob",
    ]


# -- clients wait and retry ---------------------------------------------------------------------
def test_planner_client_waits_the_retry_after_of_a_busy_worker_then_submits(
    tmp_path: Path,
) -> None:
    with bounded_worker(tmp_path, 1) as worker, client_for(worker) as client:
        holder = accepted(mkdir(client, "held"))
        retry_after = assert_busy(mkdir(client, "probe"))
        slept: list[float] = []

        async def sleep(seconds: float) -> None:  # the client's wait: free the queue instead
            slept.append(seconds)
            await asyncio.to_thread(release, client, holder)

        async def submit_mkdir() -> tuple[str, int]:
            async with ApiClient(
                worker.url, token=worker.token, sleep=sleep, rng=random.Random(7)
            ) as api:
                op_id = await api.mkdir([wire.StoragePath(path="waited")])
                return op_id, api.requests_sent

        op_id, sent = asyncio.run(submit_mkdir())
        release(client, op_id)

    assert sent == 2
    assert len(slept) == 1
    assert slept[0] >= retry_after


def test_the_official_client_retries_a_busy_worker_until_it_accepts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # its `@retry()` reads its limits through os.getenv (see test_official_client.py)
    limits = {client_retry.max_tries_env_name: 50, client_retry.max_time_env_name: 60}
    monkeypatch.setattr(client_retry, "os", types.SimpleNamespace(getenv=limits.get))
    requests: list[tuple[str, str]] = []
    with (
        bounded_worker(tmp_path, 1, request_log=requests) as worker,
        client_for(worker) as client,
    ):
        holder = accepted(mkdir(client, "held"))
        refusals_before = requests.count(("POST", "/api/v1/storage:mkdir"))

        def free_after_the_first_refusal() -> None:
            deadline = time.monotonic() + 30
            while requests.count(("POST", "/api/v1/storage:mkdir")) <= refusals_before:
                assert time.monotonic() < deadline
                time.sleep(0.005)
            release(client, holder)

        freeing = threading.Thread(target=free_after_the_first_refusal)
        freeing.start()
        api = make_api(worker.url, worker.token)
        try:
            answer = api.mkdir([StoragePath(path="official")])
        finally:
            close(api)
            freeing.join()
        attempts = requests.count(("POST", "/api/v1/storage:mkdir")) - refusals_before
        release(client, answer.id)

    assert attempts >= 2  # refused at least once, then accepted
    assert answer.id


# -- the listing -------------------------------------------------------------------------------
def test_the_recent_operations_listing_runs_off_the_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[str] = []
    original = OperationStore.recent

    def recording(self: OperationStore, *args: Any) -> list[dict[str, Any]]:
        threads.append(threading.current_thread().name)
        return original(self, *args)

    monkeypatch.setattr(OperationStore, "recent", recording)
    embedded, worker = start_worker(tmp_path)
    try:
        with client_for(worker) as client:
            op_id = submit(client, "/storage:mkdir", {"operations": [sp("listed")]})
            wait_all(client, [op_id])
            listed = client.get("/operations", params={"limit": 5}).json()["operations"]
    finally:
        embedded.stop()

    assert [op["id"] for op in listed] == [op_id]
    assert threads
    assert all(name.startswith("planner-db") for name in threads), threads


# -- the option --------------------------------------------------------------------------------
def test_serve_applies_max_queued_items_and_refuses_a_bound_below_one(
    tmp_path: Path, run_cli: Callable[..., CliResult]
) -> None:
    token = "bound-token-0123456789"
    (tmp_path / "token").write_text(token, encoding="utf-8")
    serving = WorkerProcess(
        tmp_path,
        "serve",
        *("--state-dir", str(tmp_path / "state"), "--token-file", str(tmp_path / "token")),
        *("--max-queued-items", "1", "--inject-faults", "item_delay=600s"),
    )
    try:
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=serving.url, headers=headers, timeout=10.0) as client:
            held = mkdir(client, "held")
            refused = mkdir(client, "refused")
        code = serving.terminate()
    finally:
        serving.kill()
    zero = run_cli("worker", "serve", "--max-queued-items", "0", "--state-dir", tmp_path / "s")

    accepted(held)
    assert_busy(refused)
    assert code == 0, serving.output()
    assert zero.code == 2
    assert "Invalid value for '--max-queued-items': 0 is not in the range x>=1." in zero.stderr
