"""Operations belong to their caller, over HTTP against a real worker with a users file: a user
who is not an admin sees and acts on its own operations only, and another user's id answers
exactly as an unknown id does (GET by id, polling by ids, child ids, cancel, delete, the listing
cursor), before and after a restart; admins see all. Operation ids cannot be predicted from
the ones a user has seen."""

from __future__ import annotations

import random
import re
import secrets
from pathlib import Path
from typing import Any

import httpx

from planner.worker.faults import parse_faults
from tests.helpers.worker_api import (
    TERMINAL,
    assert_aware_timestamp,
    failed_with,
    sp,
    submit,
    succeeded,
    wait_all,
)
from tests.helpers.workers import WorkerHandle, team_worker

ID = re.compile(r"^[0-9a-f]{24}$")
STAMPS = ("queued_at", "started_at", "ended_at")


def unknown_like(op_id: str) -> str:
    """A fresh id of the same shape (a group id, or a child id `<group>-<n>`)."""
    base, dash, index = op_id.partition("-")
    return secrets.token_hex(len(base) // 2) + dash + index


def normalised(value: Any, op_id: str) -> Any:
    """A JSON answer with the id replaced by `<ID>` and timestamps by `<T>` (both checked)."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key in STAMPS and item is not None:
                assert_aware_timestamp(item)
                out[key] = "<T>"
            else:
                out[key] = normalised(item, op_id)
        return out
    if isinstance(value, list):
        return [normalised(item, op_id) for item in value]
    if isinstance(value, str):
        return value.replace(op_id, "<ID>")
    return value


def assert_same_answer(
    foreign: httpx.Response, foreign_id: str, unknown: httpx.Response, unknown_id: str
) -> None:
    """Field by field, the same answer, ids and timestamps aside."""
    assert foreign.status_code == unknown.status_code, (foreign.text, unknown.text)
    assert foreign.headers.get("content-type") == unknown.headers.get("content-type")
    if unknown.content:
        assert normalised(foreign.json(), foreign_id) == normalised(unknown.json(), unknown_id)
    else:
        assert not foreign.content


def probe(client: httpx.Client, foreign_id: str) -> dict[str, int]:
    """Everything a client can do with an id it does not own, each answer compared with the one
    for an unknown id of the same shape; returns the statuses seen."""
    unknown_id = unknown_like(foreign_id)
    statuses: dict[str, int] = {}
    for name, method, path in (
        ("get", "GET", "/operations/{}"),
        ("get expanded", "GET", "/operations/{}?expand=true"),
        ("cancel", "POST", "/operations/{}:cancel"),
        ("delete", "DELETE", "/operations/{}"),
    ):
        foreign = client.request(method, path.format(foreign_id))
        unknown = client.request(method, path.format(unknown_id))
        assert_same_answer(foreign, foreign_id, unknown, unknown_id)
        statuses[name] = foreign.status_code
    polled = client.get("/operations", params={"ids": [foreign_id, unknown_id], "expand": True})
    assert polled.status_code == 200, polled.text
    mine, theirs = polled.json()["operations"]
    assert normalised(mine, foreign_id) == normalised(theirs, unknown_id)
    assert mine["error"] == "unknown operation"
    assert mine["user_id"] is None
    listed = [client.get("/operations", params={"after": i}) for i in (foreign_id, unknown_id)]
    assert listed[0].json() == listed[1].json()
    return statuses


def visible_ids(client: httpx.Client) -> set[str]:
    response = client.get("/operations", params={"limit": 1000})
    assert response.status_code == 200, response.text
    return {op["id"] for op in response.json()["operations"]}


def test_another_users_operations_answer_as_unknown_ids_before_and_after_a_restart(
    tmp_path: Path,
) -> None:
    with team_worker(tmp_path) as team:
        group = submit(team.alice, "/storage:mkdir", {"operations": [sp("alice/a"), sp("alice/b")]})
        single = submit(team.alice, "/storage:mkdir", {"operations": [sp("alice/c")]})
        bobs = submit(team.bob, "/storage:mkdir", {"operations": [sp("bob/mine")]})
        done = wait_all(team.root, [group, single, bobs])
        assert [op["state"] for op in done] == ["succeeded"] * 3
        alices = [group, single, f"{group}-0", f"{group}-1", f"{group}-2"]

        for op_id in alices:
            statuses = probe(team.bob, op_id)
            assert statuses == {"get": 200, "get expanded": 200, "cancel": 404, "delete": 404}
        assert visible_ids(team.bob) == {bobs}
        seen_by_root = team.root.get(f"/operations/{group}").json()
        assert succeeded(seen_by_root)["user_id"] == "alice"

    with team_worker(tmp_path) as team:  # the records are read back from SQLite
        for op_id in alices:
            probe(team.bob, op_id)
        assert visible_ids(team.bob) == {bobs}
        assert visible_ids(team.alice) == {group, single}
        assert {group, single, bobs} <= visible_ids(team.root)
        # nothing bob did changed alice's operations: she still sees them, and deletes them
        mine = team.alice.get("/operations", params={"ids": alices[:4], "expand": True}).json()
        assert [op["state"] for op in mine["operations"]] == ["succeeded"] * 4
        assert {op["user_id"] for op in mine["operations"]} == {"alice"}
        assert team.alice.delete(f"/operations/{single}").status_code == 204
        assert team.root.delete(f"/operations/{group}").status_code == 204
        assert visible_ids(team.alice) == set()


def test_another_users_running_operation_is_neither_seen_nor_cancelled_nor_deleted(
    tmp_path: Path,
) -> None:
    # every item waits (cancellably) before it runs: what is submitted stays unfinished
    with team_worker(tmp_path, faults=parse_faults("item_delay=120s")) as team:
        group = submit(team.alice, "/storage:mkdir", {"operations": [sp("alice/x"), sp("alice/y")]})
        single = submit(team.alice, "/storage:mkdir", {"operations": [sp("alice/z")]})

        for op_id in (group, single, f"{group}-1"):
            statuses = probe(team.bob, op_id)
            # a delete of an unfinished operation of one's own is 409: never for another's
            assert statuses["cancel"] == statuses["delete"] == 404

        ops = team.root.get("/operations", params={"ids": [group, single], "expand": True})
        for op in ops.json()["operations"]:
            assert op["user_id"] == "alice"
            assert op["state"] not in TERMINAL, op
            assert op["error"] is None
        children = ops.json()["operations"][0]["children_detail"]
        assert [(c["state"] in TERMINAL, c["error"]) for c in children] == [(False, None)] * 2
        assert team.alice.delete(f"/operations/{single}").status_code == 409
        assert team.root.post(f"/operations/{single}:cancel").status_code == 200  # an admin may
        assert team.alice.post(f"/operations/{group}:cancel").status_code == 200
        for op in wait_all(team.alice, [group, single]):
            failed_with(op, 499)
        assert not (team.worker.roots["any"] / "alice").exists()


def test_operation_ids_cannot_be_predicted_from_earlier_ones(worker: WorkerHandle) -> None:
    # 208 ids of 96 bits are 624 outputs of 32 bits: the whole state of a Mersenne Twister
    with httpx.Client(base_url=worker.url, headers=worker.headers, timeout=10.0) as client:
        seen = [submit(client, "/storage:exists", {"operations": [sp("x")]}) for _ in range(208)]
        predicted = f"{_clone_mersenne_twister(seen).getrandbits(96):024x}"
        following = submit(client, "/storage:exists", {"operations": [sp("x")]})

    assert all(ID.match(op_id) for op_id in [*seen, following]), following
    assert len(set(seen)) == len(seen)
    assert following != predicted


def _clone_mersenne_twister(ids: list[str]) -> random.Random:
    """The generator that produced `ids` if they were `getrandbits(96)` of a `random.Random`."""
    words = []
    for op_id in ids:
        value = int(op_id, 16)
        words += [(value >> shift) & 0xFFFFFFFF for shift in (0, 32, 64)]
    clone = random.Random()
    clone.setstate((3, (*(_untemper(w) for w in words[-624:]), 624), None))
    return clone


def _untemper(y: int) -> int:
    """The Mersenne Twister state word behind one 32-bit output (the tempering undone)."""
    y ^= y >> 18
    y ^= (y << 15) & 0xEFC60000
    x = y
    for _ in range(5):
        x = y ^ ((x << 7) & 0x9D2C5680)
    y = x
    for _ in range(3):
        x = y ^ (x >> 11)
    return x & 0xFFFFFFFF
