"""Long polls (`GET /operations?ids=...&wait=S`, planner.operations.wait): held until a listed
operation ends, bounded, per user; against a real worker, and the waiting itself on a real
operation store (where the moment the wait is registered can be known)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from planner.api import wire
from planner.api.client import ApiClient
from planner.api.codes import ItemCode
from planner.worker.db import StateDB
from planner.worker.faults import parse_faults
from planner.worker.operations import OperationStore
from planner.worker.waits import EndWaits
from tests.helpers.worker_api import TERMINAL, failed_with, sp, submit
from tests.helpers.workers import running_worker, team_worker

# The clients' read timeout is below the waits asked for: an answer that only came when the
# wait passed fails the test with a timeout instead.
LONG = 60
CLIENT_TIMEOUT = 10.0


@pytest.fixture
def store(tmp_path: Path) -> Iterator[OperationStore]:
    opened = OperationStore(StateDB(tmp_path / "worker.db"))
    yield opened
    opened.db.close()


async def _never() -> None:
    await asyncio.Event().wait()


async def _registered(waits: EndWaits, count: int) -> None:
    """Let the waiting tasks run their first step, in which a wait registers."""
    await asyncio.sleep(0)
    assert waits.waiting == count


def test_a_wait_ends_when_a_listed_operation_ends_on_another_thread(
    store: OperationStore,
) -> None:
    async def scenario() -> None:
        waits = EndWaits(store)
        group = store.create("alice", "mkdir 2 items", ["mkdir a", "mkdir b"])
        waiting = asyncio.create_task(waits.wait([group.id], "alice", "alice", LONG, _never))
        await _registered(waits, 1)
        cancelled = (group.items[1], ItemCode.CANCELLED, "cancelled")
        ending = threading.Thread(target=store.fail_if_queued, args=cancelled)
        ending.start()
        ending.join()
        await asyncio.sleep(0)
        assert not waiting.done()  # a child ended, the listed group did not
        cancelled = (group.items[0], ItemCode.CANCELLED, "cancelled")
        ending = threading.Thread(target=store.fail_if_queued, args=cancelled)
        ending.start()
        ending.join()
        await asyncio.wait_for(waiting, CLIENT_TIMEOUT)
        assert waits.waiting == 0
        assert store.watched == {}

    asyncio.run(scenario())


def test_a_wait_ends_on_a_listed_child_on_close_and_when_the_client_leaves(
    store: OperationStore,
) -> None:
    async def scenario() -> None:
        waits = EndWaits(store)
        group = store.create("alice", "mkdir 2 items", ["mkdir a", "mkdir b"])
        child = f"{group.id}-1"
        on_child = asyncio.create_task(waits.wait([child], "alice", "alice", LONG, _never))
        left = asyncio.Event()
        leaving = asyncio.create_task(waits.wait([group.id], "alice", "alice", LONG, left.wait))
        closing = asyncio.create_task(waits.wait([group.id], "alice", "alice", LONG, _never))
        await _registered(waits, 3)
        store.fail_if_queued(group.items[1], ItemCode.CANCELLED, "cancelled")
        await asyncio.wait_for(on_child, CLIENT_TIMEOUT)
        left.set()
        await asyncio.wait_for(leaving, CLIENT_TIMEOUT)
        assert not closing.done()
        waits.close()
        await asyncio.wait_for(closing, CLIENT_TIMEOUT)
        assert waits.waiting == 0
        assert store.watched == {}
        # closed (shutting down): answered at once
        await asyncio.wait_for(waits.wait([group.id], "alice", "alice", LONG, _never), 5)

    asyncio.run(scenario())


def test_waits_are_bounded_per_user_and_in_all(store: OperationStore) -> None:
    async def scenario() -> None:
        waits = EndWaits(store, max_waits=3, max_per_user=2)
        mine = store.create("alice", "mkdir", ["mkdir a"]).id
        theirs = store.create("bob", "mkdir", ["mkdir b"]).id
        held = [
            asyncio.create_task(waits.wait([mine], "alice", "alice", LONG, _never))
            for _ in range(2)
        ]
        await _registered(waits, 2)
        # past alice's share: a plain poll, answered at once; bob still waits
        await asyncio.wait_for(waits.wait([mine], "alice", "alice", LONG, _never), 5)
        bobs = asyncio.create_task(waits.wait([theirs], "bob", "bob", LONG, _never))
        await _registered(waits, 3)
        # past the bound of all users: at once too
        await asyncio.wait_for(waits.wait([theirs], "carol", None, LONG, _never), 5)
        # another user's operation is an unknown one to alice: answered at once
        await asyncio.wait_for(waits.wait([theirs], "alice", "alice", LONG, _never), 5)
        assert waits.waiting == 3
        waits.close()
        await asyncio.wait_for(asyncio.gather(*held, bobs), CLIENT_TIMEOUT)

    asyncio.run(scenario())


def test_a_long_poll_answers_when_the_operation_is_cancelled(tmp_path: Path) -> None:
    # every item waits (cancellably) before it runs: what is submitted stays unfinished
    with team_worker(tmp_path, faults=parse_faults("item_delay=120s")) as team:
        features = team.alice.get("/").json()["features"]["operation_plugins"]
        assert wire.FEATURE_WAIT in features
        op_id = submit(team.alice, "/storage:mkdir", {"operations": [sp("alice/x")]})
        other = submit(team.bob, "/storage:mkdir", {"operations": [sp("bob/y")]})
        answers: list[httpx.Response] = []
        waiting = threading.Thread(
            target=lambda: answers.append(
                team.alice.get("/operations", params={"ids": [op_id], "wait": LONG})
            )
        )
        waiting.start()
        assert team.alice.post(f"/operations/{op_id}:cancel").status_code == 200
        waiting.join()
        [op] = answers[0].json()["operations"]
        failed_with(op, 499)

        # bob's operation is unknown to alice, and so ended for her wait: answered at once
        answer = team.alice.get("/operations", params={"ids": [other], "wait": LONG})
        [op] = answer.json()["operations"]
        assert (op["state"], op["error"]) == ("failed", "unknown operation")
        assert (
            team.root.get("/operations", params={"ids": [other]}).json()["operations"][0]["state"]
            not in TERMINAL
        )


@pytest.mark.parametrize("wait", ["-1", "soon", "nan", "inf"])
def test_a_malformed_wait_is_400(tmp_path: Path, wait: str) -> None:
    with (
        running_worker(tmp_path) as worker,
        httpx.Client(base_url=worker.url, headers=worker.headers) as client,
    ):
        op_id = submit(client, "/storage:exists", {"operations": [sp("x")]})
        answer = client.get("/operations", params={"ids": [op_id], "wait": wait})
    assert answer.status_code == 400, answer.text
    assert "wait" in answer.json()["detail"]


def test_a_worker_without_the_extension_ignores_wait_and_the_client_does_not_send_it(
    tmp_path: Path,
) -> None:
    seen: list[httpx.Request] = []

    async def scenario(url: str, token: str) -> None:
        async def log(request: httpx.Request) -> None:
            seen.append(request)

        async with ApiClient(url, token=token) as api:
            api._http.event_hooks["request"].append(log)
            op_id = await api.mkdir([wire.StoragePath(path="d")])
            [op] = await api.operations([op_id], wait=LONG)
            while not op.state.is_terminal:  # answered at once: the client polls on
                [op] = await api.operations([op_id], wait=LONG)

    with running_worker(tmp_path, operation_waits=False) as worker:
        with httpx.Client(base_url=worker.url, headers=worker.headers) as client:
            assert wire.FEATURE_WAIT not in client.get("/").json()["features"]["operation_plugins"]
        asyncio.run(scenario(worker.url, worker.token))
    polls = [r for r in seen if r.url.path.endswith("/operations")]
    assert polls
    assert all("wait" not in r.url.params for r in polls)
