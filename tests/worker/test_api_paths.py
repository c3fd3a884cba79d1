"""Issue 9, item 1: every path of every route (storage paths, metadata paths, permission
resources) is normalised and validated once, before authorization, so the permission check and
what is stored or touched see the same value. Written as an ordinary user would attack it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.worker_api import assert_problem, grant, pair, run, sp, succeeded
from tests.helpers.workers import Users, set_grants, users_worker


@pytest.fixture
def users(tmp_path: Path) -> Iterator[Users]:
    """A fresh worker per test: grants of one test never help another."""
    with users_worker(tmp_path) as found:
        yield found


def _all_grants(users: Users) -> list[tuple[str, str, str | None]]:
    response = users.root.post("/permissions:get", json={"permissions": [{}]})
    assert response.status_code == 200, response.text
    return [
        (p["resource"]["path"], p["role"], p["subject"]["id"])
        for p in response.json()["permissions"]
    ]


@pytest.mark.parametrize(
    "climbing",
    [
        "projects/alice/../..",
        "projects/alice/..",
        "projects/alice/../bob",
        "projects/alice/./../../projects/bob",
        "projects/alice/sub/../../bob",
    ],
)
def test_a_delegated_admin_cannot_grant_itself_more_through_dotdot(
    users: Users, climbing: str
) -> None:
    anyroot = users.worker.roots["any"]
    (anyroot / "projects/bob").mkdir(parents=True)
    (anyroot / "projects/bob/secret.txt").write_text("bob's")
    set_grants(users, grant("projects/alice", "admin", "alice"))

    response = users.alice.post(
        "/permissions:set", json={"permissions": [grant(climbing, "admin", "alice")]}
    )

    body = assert_problem(response, 422)
    assert [e["location"] for e in body["errors"]] == ["body.permissions[0].resource.path"]
    assert _all_grants(users) == [("projects/alice", "admin", "alice")]
    listing = users.alice.post("/storage:list", json={"operations": [sp("projects/bob")]})
    assert_problem(listing, 403)


def test_permissions_get_cannot_read_grants_beside_its_own_through_dotdot(users: Users) -> None:
    set_grants(
        users,
        grant("projects/alice", "reader", "alice"),
        grant("projects/bob", "admin", "bob"),
    )

    response = users.alice.post(
        "/permissions:get",
        json={"permissions": [{"resource": {"path": "projects/alice/../bob"}}]},
    )
    removal = users.alice.post(
        "/permissions:remove",
        json={"permissions": [grant("projects/alice/../bob", "admin", "bob")]},
    )

    assert_problem(response, 422)
    assert "admin" not in response.text
    assert_problem(removal, 422)
    assert ("projects/bob", "admin", "bob") in _all_grants(users)


# Every path field of every route, and every kind of path no route accepts.
BAD_PATHS: dict[str, tuple[str, str]] = {
    "dotdot": ("any", "a/../b"),
    "leading dotdot": ("data", "../outside"),
    "empty segment": ("any", "a//b"),
    "NUL": ("any", "a\x00b"),
    "absolute on a named remote": ("data", "/etc/passwd"),
    "relative on local": ("local", "etc/passwd"),
    "too many segments": ("any", "/".join(["d"] * 600)),
    "too long": ("any", "x/" * 2100),
    "segment too long": ("any", "a/" + "n" * 300),
}


def _label(remote: str, path: str) -> str:
    return path if remote == "any" else f"{remote}:{path}"


def _fields(remote: str, path: str) -> list[tuple[str, dict[str, Any], str]]:
    """(route, body, location of the bad path) for every path field of every route."""
    bad, good = sp(path, remote), sp("fine.txt", "any")
    label = _label(remote, path)
    out: list[tuple[str, dict[str, Any], str]] = [
        (
            f"/storage:{op}",
            {"operations": [{"src": good, "dst": good}, {"src": bad, "dst": good}]},
            "body.operations[1].src.path",
        )
        for op in ("copy", "move")
    ]
    out += [
        (
            f"/storage:{op}",
            {"operations": [{"src": good, "dst": bad}]},
            "body.operations[0].dst.path",
        )
        for op in ("copy", "move")
    ]
    out += [
        (f"/storage:{op}", {"operations": [good, bad]}, "body.operations[1].path")
        for op in ("exists", "list", "mkdir", "remove", "rmdir")
    ]
    out += [
        ("/metadata:get", {"paths": ["fine.txt", label]}, "body.paths[1]"),
        ("/metadata:get", {"operations": [bad]}, "body.operations[0].path"),
        (
            "/metadata:set",
            {"metadata": {label: {"custom": {"k": 1}}}},
            f"body.metadata[{json.dumps(label)}]",
        ),
    ]
    out += [
        (
            f"/permissions:{op}",
            {"permissions": [grant("fine.txt", "reader", "bob"), grant(label, "reader", "bob")]},
            "body.permissions[1].resource.path",
        )
        for op in ("set", "remove", "check", "get")
    ]
    return out


@pytest.mark.parametrize("kind", list(BAD_PATHS))
def test_every_path_field_of_every_route_refuses_an_invalid_path_naming_it(
    users: Users, kind: str
) -> None:
    remote, path = BAD_PATHS[kind]
    before = sorted(users.worker.state_dir.rglob("*"))

    for route, body, location in _fields(remote, path):
        response = users.root.post(route, json=body)  # an admin: validation, not roles, refuses

        problem = assert_problem(response, 422)
        assert [e["location"] for e in problem["errors"]] == [location], (route, problem)
        assert problem["detail"].startswith(f"invalid path at {location}: "), problem
    assert sorted(users.worker.state_dir.rglob("*")) == before  # nothing started, no file made
    assert _all_grants(users) == []


def test_the_check_the_stores_and_the_storage_see_the_same_canonical_path(users: Users) -> None:
    anyroot = users.worker.roots["any"]
    (anyroot / "proj/shared").mkdir(parents=True)
    set_grants(users, grant("proj/./shared/", "writer", "alice"))

    mkdir = run(users.alice, "/storage:mkdir", {"operations": [sp("proj/shared/./new/")]})
    elsewhere = users.alice.post("/storage:mkdir", json={"operations": [sp("proj/other")]})
    (anyroot / "proj/shared/new/f.txt").write_text("f")
    meta_set = run(
        users.alice,
        "/metadata:set",
        {"metadata": {"proj/./shared/new/f.txt": {"custom": {"k": 1}}}},
    )
    meta_get = run(users.alice, "/metadata:get", {"paths": ["proj/shared/./new/f.txt"]})

    assert _all_grants(users) == [("proj/shared", "writer", "alice")]
    succeeded(mkdir)
    assert (anyroot / "proj/shared/new").is_dir()
    assert_problem(elsewhere, 403)
    succeeded(meta_set)
    assert succeeded(meta_get)["result"]["proj/shared/./new/f.txt"]["custom"] == {"k": 1}


def test_a_path_on_any_named_like_another_remote_does_not_borrow_its_grants(
    users: Users,
) -> None:
    (users.worker.roots["data"] / "team").mkdir()
    set_grants(users, grant("data:team", "writer", "alice"))

    on_any = users.alice.post("/storage:mkdir", json={"operations": [sp("data:team/x", "any")]})
    on_data = run(users.alice, "/storage:mkdir", {"operations": [sp("team/x", "data")]})
    copy_out = users.alice.post(
        "/storage:copy", json={"operations": [pair("team/x", "data:team/y", "data", "any")]}
    )

    assert_problem(on_any, 403)
    assert "any:data:team/x" in on_any.json()["detail"]
    succeeded(on_data)
    assert_problem(copy_out, 403)
    assert not (users.worker.roots["any"] / "data:team").exists()


def test_permissions_check_about_someone_else_needs_read_access_to_the_resource(
    users: Users,
) -> None:
    set_grants(
        users,
        grant("projects/alice", "reader", "alice"),
        grant("projects/bob", "admin", "bob"),
    )

    about_bob_there = users.alice.post(
        "/permissions:check", json={"permissions": [grant("projects/bob", "admin", "bob")]}
    )
    about_a_group_there = users.alice.post(
        "/permissions:check",
        json={"permissions": [grant("projects/bob", "reader", "release", "group")]},
    )
    about_herself_there = users.alice.post(
        "/permissions:check", json={"permissions": [grant("projects/bob", "reader", "alice")]}
    )
    about_bob_here = users.alice.post(
        "/permissions:check",
        json={"permissions": [grant("projects/alice/x", "reader", "bob")]},
    )

    body = assert_problem(about_bob_there, 403)
    assert [e["location"] for e in body["errors"]] == ["body.permissions[0].resource.path"]
    assert_problem(about_a_group_there, 403)
    assert about_herself_there.json() == {"allowed": False}
    assert about_bob_here.json() == {"allowed": False}
