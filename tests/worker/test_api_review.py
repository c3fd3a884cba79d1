"""What an adversarial review of the shared worker found, each through the real HTTP path (a real
worker on 127.0.0.1 with a users file, real files under tmp_path), written as the attacker with
an ordinary account does it: a move that hands its mover the admin role on the destination,
metadata requests that pass the queue bound as one item, remote names that dodge authorization
or hold megabytes, and removals and moves that reach the metadata and grants of other paths
(names differing in case, or extending a name that ends with `:`)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from planner.worker.service import WorkerConfig
from tests.helpers.cli import CliResult
from tests.helpers.worker_api import (
    assert_problem,
    grant,
    pair,
    run,
    sp,
    submit,
    succeeded,
    wait_all,
)
from tests.helpers.workers import Team, team_worker


def set_grants(team: Team, *grants: dict[str, Any]) -> None:
    response = team.root.post("/permissions:set", json={"permissions": list(grants)})
    assert response.status_code == 200, response.text


def grants_on(team: Team, path: str) -> list[tuple[str, str]]:
    response = team.root.post(
        "/permissions:get", json={"permissions": [{"resource": {"path": path}}]}
    )
    assert response.status_code == 200, response.text
    return sorted((g["subject"]["id"], g["role"]) for g in response.json()["permissions"])


def custom_of(client: httpx.Client, label: str) -> dict[str, Any]:
    op = succeeded(run(client, "/metadata:get", {"paths": [label]}))
    custom: dict[str, Any] = op["result"][label]["custom"]
    return custom


def set_custom(client: httpx.Client, label: str, custom: dict[str, Any]) -> None:
    succeeded(run(client, "/metadata:set", {"metadata": {label: {"custom": custom}}}))


# -- a move carries grants only where its caller could have set them ----------------------------
def test_a_writer_cannot_become_admin_of_a_path_by_moving_a_granted_one_onto_it(
    tmp_path: Path,
) -> None:
    with team_worker(tmp_path) as team:
        set_grants(
            team,
            grant("shared", "writer", "alice"),
            grant("shared", "writer", "bob"),
            grant("alice", "admin", "alice"),
            grant("shared/report", "admin", "bob"),
            grant("shared/report", "reader", "carol"),
        )
        (team.worker.roots["any"] / "shared" / "report").mkdir(parents=True)
        (team.worker.roots["any"] / "alice" / "x").mkdir(parents=True)
        # alice is admin of her own tree, so she may grant herself admin on alice/x ...
        granted = team.alice.post(
            "/permissions:set", json={"permissions": [grant("alice/x", "admin", "alice")]}
        )
        assert granted.status_code == 200, granted.text
        # ... and as a writer of shared/ she may replace bob's (empty) directory
        moved = run(
            team.alice,
            "/storage:move",
            {"operations": [pair("alice/x", "shared/report", "any", "any")]},
        )
        succeeded(moved)
        # but her admin grant does not travel there: she still cannot manage its grants
        removed = team.alice.post(
            "/permissions:remove", json={"permissions": [grant("shared/report", "admin", "bob")]}
        )
        assert_problem(removed, 403)
        assert grants_on(team, "shared/report") == [("bob", "admin"), ("carol", "reader")]
        assert grants_on(team, "alice/x") == []


def test_a_move_by_an_admin_of_the_destination_carries_the_grants(tmp_path: Path) -> None:
    with team_worker(tmp_path) as team:
        set_grants(team, grant("alice", "admin", "alice"), grant("alice/a", "reader", "bob"))
        (team.worker.roots["any"] / "alice" / "a").mkdir(parents=True)
        succeeded(
            run(
                team.alice,
                "/storage:move",
                {"operations": [pair("alice/a", "alice/b", "any", "any")]},
            )
        )
        assert grants_on(team, "alice/b") == [("bob", "reader")]
        assert grants_on(team, "alice/a") == []


# -- metadata requests count every path against the queue bound --------------------------------
def test_metadata_requests_count_each_path_against_the_queue_bound(tmp_path: Path) -> None:
    with team_worker(tmp_path, max_queued_items=100) as team:
        (team.worker.roots["any"] / "alice" / "f").parent.mkdir(parents=True)
        (team.worker.roots["any"] / "alice" / "f").write_bytes(b"x")
        for route, body in (
            ("/metadata:get", {"paths": ["alice/f"] * 101}),
            ("/metadata:set", {"metadata": {f"alice/f{i}": {"custom": {}} for i in range(101)}}),
        ):
            problem = assert_problem(team.alice.post(route, json=body), 413)
            assert "--max-queued-items" in problem["detail"], problem
        # within the bound, one operation as before
        op = succeeded(run(team.alice, "/metadata:get", {"paths": ["alice/f"] * 100}))
        assert op["result"]["alice/f"]["size"] == 1


# -- remote names ------------------------------------------------------------------------------
def test_a_remote_name_that_could_not_name_a_remote_is_refused_at_submission(
    tmp_path: Path,
) -> None:
    with team_worker(tmp_path) as team:
        for remote in ("alice/" + "x" * 1_000_000, "alice/x", "a:b", "x" * 256):
            body = {"operations": [sp("a", remote)]}
            problem = assert_problem(team.alice.post("/storage:exists", json=body), 422)
            assert problem["errors"][0]["location"] == "body.operations[0].remote", problem
            assert len(problem["detail"]) < 1000, problem["detail"][:300]
        body = {"operations": [pair("alice/a", "b", "any", "alice/x")]}
        problem = assert_problem(team.alice.post("/storage:copy", json=body), 422)
        assert problem["errors"][0]["location"] == "body.operations[0].dst.remote", problem
        # a well-formed unknown remote is still a failed item (for an admin) or a 403
        op = run(team.root, "/storage:exists", {"operations": [sp("a", "nowhere")]})
        assert op["state"] == "failed", op
        assert_problem(
            team.alice.post("/storage:exists", json={"operations": [sp("a", "nowhere")]}), 403
        )


def test_remote_names_holding_a_key_separator_are_refused_at_start(
    tmp_path: Path, run_cli: Any
) -> None:
    for name in ("team/scratch", "scratch:old"):
        result: CliResult = run_cli(
            "worker",
            "serve",
            "--no-auth",
            "--state-dir",
            str(tmp_path / "s"),
            "--remote",
            f"{name}={tmp_path / 'r'}",
            "--retention",
            "never",  # a refusal too: the remote is refused first, before the worker starts
        )
        assert result.code == 2, result
        assert f"--remote {name}" in result.stderr, result
        assert "'/' or ':'" in result.stderr, result
    with pytest.raises(ValueError, match="'/' or ':'"):
        WorkerConfig(state_dir=tmp_path / "s", remotes={"team/scratch": tmp_path / "r"})


# -- removals and moves reach exactly the paths below them --------------------------------------
def test_a_move_or_removal_leaves_the_metadata_of_paths_differing_in_case(
    tmp_path: Path,
) -> None:
    with team_worker(tmp_path) as team:
        set_grants(team, grant("ALICE", "writer", "bob"))
        storage = team.worker.roots["any"]
        for path in ("alice/sub/g", "ALICE/sub/g", "alice/gone/f", "ALICE/GONE/f"):
            (storage / path).parent.mkdir(parents=True, exist_ok=True)
            (storage / path).write_bytes(b"x")
        set_custom(team.bob, "ALICE/sub/g", {"secret": "bob's"})
        set_custom(team.bob, "ALICE/GONE/f", {"kept": True})
        # alice moves her sub/ away and removes gone/: bob's metadata stays his
        succeeded(
            run(
                team.alice,
                "/storage:move",
                {"operations": [pair("alice/sub", "alice/new", "any", "any")]},
            )
        )
        succeeded(run(team.alice, "/storage:rmdir", {"operations": [sp("alice/gone")]}))
        assert custom_of(team.alice, "alice/new/g") == {}
        assert custom_of(team.bob, "ALICE/sub/g") == {"secret": "bob's"}
        assert custom_of(team.bob, "ALICE/GONE/f") == {"kept": True}


def test_removing_a_name_ending_with_a_colon_leaves_the_names_that_extend_it(
    tmp_path: Path,
) -> None:
    with team_worker(tmp_path) as team:
        storage = team.worker.roots["any"]
        for path in ("x:", "x:y"):
            (storage / path).write_bytes(b"x")
        set_grants(team, grant("x:", "admin", "alice"), grant("x:y", "reader", "carol"))
        set_custom(team.root, "x:y", {"kept": True})
        succeeded(run(team.alice, "/storage:remove", {"operations": [sp("x:")]}))
        assert custom_of(team.root, "x:y") == {"kept": True}
        assert grants_on(team, "x:y") == [("carol", "reader")]


# -- polling by ids costs one read per stored operation ---------------------------------------
def test_polling_many_children_of_a_stored_group_reads_the_group_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1,000 child ids of a 10,000-item group (or its id 1,000 times), each read and parsed
    from the database, held the database thread (every user's polls and listings) for 12 s
    per request."""
    import planner.worker.operations as operations

    parsed = [0]
    real_loads = json.loads

    def counting_loads(text: str) -> Any:
        parsed[0] += 1
        return real_loads(text)

    monkeypatch.setattr(operations, "ENDED_TEXT_IN_MEMORY", 0)  # ended groups: read from disk
    monkeypatch.setattr(operations, "json", SimpleNamespace(loads=counting_loads, dumps=json.dumps))
    with team_worker(tmp_path) as team:
        paths = [sp(f"alice/p{i}") for i in range(1500)]
        big = submit(team.alice, "/storage:exists", {"operations": paths})
        wait_all(team.alice, [big], expand=False)
        # a later group pushes the big one out of memory once both are written
        deadline = time.monotonic() + 20
        while True:
            wait_all(
                team.alice, [submit(team.alice, "/storage:exists", {"operations": [sp("alice/q")]})]
            )
            before = parsed[0]
            assert team.alice.get(f"/operations/{big}").status_code == 200
            if parsed[0] > before:
                break
            assert time.monotonic() < deadline, "the big group never left memory"
        ids = [f"{big}-{i}" for i in range(997)] + [big] * 3
        before = parsed[0]
        response = team.alice.get("/operations", params={"ids": ids})
        assert response.status_code == 200, response.text
        ops = response.json()["operations"]
        assert [op["id"] for op in ops] == ids
        assert all(op["state"] == "succeeded" for op in ops)
        assert parsed[0] - before == 1


def test_an_expanded_poll_may_not_detail_more_children_than_one_request_may_hold(
    tmp_path: Path,
) -> None:
    """1,000 copies of a 10,000-item group's id with expand=true made a 5 GB answer."""
    with team_worker(tmp_path) as team:
        paths = [sp(f"alice/p{i}") for i in range(1500)]
        big = submit(team.alice, "/storage:exists", {"operations": paths})
        wait_all(team.alice, [big], expand=False)

        too_many = team.alice.get("/operations", params={"ids": [big] * 7, "expand": "true"})
        within = team.alice.get("/operations", params={"ids": [big] * 6, "expand": "true"})
        unexpanded = team.alice.get("/operations", params={"ids": [big] * 1000})

    body = assert_problem(too_many, 413)
    assert "10,500 children" in body["detail"]
    assert "at most 10,000" in body["detail"]
    assert within.status_code == 200
    assert [len(op["children_detail"]) for op in within.json()["operations"]] == [1500] * 6
    assert unexpanded.status_code == 200
