"""Security of the worker over HTTP: credentials (401), roles checked at submission (403, users
file, groups, inheritance, `anyone`, admins), confinement of every path to its storage root, and
tokens kept out of the worker's output."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.processes import WorkerProcess
from tests.helpers.worker_api import (
    assert_problem,
    failed_with,
    grant,
    pair,
    run,
    sp,
    submit,
    succeeded,
    wait_all,
)
from tests.helpers.workers import (
    Users,
    WorkerHandle,
    running_worker,
    set_grants,
    users_worker,
)

URL_LINE = re.compile(r"^http://127\.0\.0\.1:\d+/api/v1$")


# -- credentials -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def token_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerHandle]:
    with running_worker(tmp_path_factory.mktemp("api-security")) as handle:
        yield handle


REQUESTS: list[tuple[str, str, Any]] = [
    ("GET", "/storage", None),
    ("GET", "/operations?limit=5", None),
    ("GET", "/operations?ids=abc", None),
    ("GET", "/operations/abc", None),
    ("POST", "/storage:mkdir", {"operations": [sp("unauthenticated")]}),
    ("POST", "/storage:copy", {"operations": [pair("a", "unauthenticated/b")]}),
    ("POST", "/metadata:get", {"paths": ["a"]}),
    ("POST", "/permissions:check", {"permissions": [grant("a", "reader", "x")]}),
    ("POST", "/permissions:set", {"permissions": [grant("a", "admin", "intruder")]}),
    ("POST", "/operations/abc:cancel", None),
    ("DELETE", "/operations/abc", None),
    ("POST", "/shutdown", None),
]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic dGVzdC10b2tlbi0wMTIzNDU2Nzg5"},
        {"X-API-Key": "wrong-token"},
    ],
    ids=["none", "wrong-bearer", "empty-bearer", "basic", "wrong-api-key"],
)
def test_requests_without_a_valid_credential_are_401(
    token_worker: WorkerHandle, headers: dict[str, str]
) -> None:
    with httpx.Client(base_url=token_worker.url, headers=headers, timeout=10.0) as client:
        for method, path, body in REQUESTS:
            response = client.request(method, path, json=body)

            assert_problem(response, 401)
            assert response.json()["title"] == "Unauthorized"
    assert not (token_worker.roots["any"] / "unauthenticated").exists()


def test_the_token_is_accepted_as_bearer_and_as_api_key(token_worker: WorkerHandle) -> None:
    for headers in (token_worker.headers, {"X-API-Key": token_worker.token}):
        with httpx.Client(base_url=token_worker.url, headers=headers, timeout=10.0) as client:
            assert client.get("/storage").status_code == 200
            op_id = submit(client, "/storage:mkdir", {"operations": [sp("via-key")]})
            succeeded(wait_all(client, [op_id])[0])


# -- roles, with a users file ------------------------------------------------------------------


@pytest.fixture(scope="module")
def users(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Users]:
    with users_worker(tmp_path_factory.mktemp("api-users")) as found:
        yield found


def test_a_path_without_a_grant_is_403_at_submission_naming_the_item(users: Users, ns: str) -> None:
    anyroot = users.worker.roots["any"]
    set_grants(users, grant(f"{ns}/proj", "writer", "alice"))
    (anyroot / ns / "proj").mkdir(parents=True)
    (anyroot / ns / "proj/in.txt").write_text("in")

    mkdir = users.alice.post("/storage:mkdir", json={"operations": [sp(f"{ns}/secret/x")]})
    copy = users.alice.post(
        "/storage:copy",
        json={
            "operations": [
                pair(f"{ns}/proj/in.txt", f"{ns}/proj/out.txt", "any", "any"),
                pair(f"{ns}/proj/in.txt", f"{ns}/secret/out.txt", "any", "any"),
            ]
        },
    )
    meta = users.alice.post("/metadata:get", json={"paths": [f"{ns}/proj/in.txt", f"{ns}/x"]})
    meta_set = users.alice.post(
        "/metadata:set", json={"metadata": {f"{ns}/secret/in.txt": {"custom": {"k": 1}}}}
    )

    assert_problem(mkdir, 403)
    assert mkdir.json()["title"] == "Forbidden"
    assert [e["location"] for e in mkdir.json()["errors"]] == ["body.operations[0].path"]
    assert_problem(copy, 403)
    assert [e["location"] for e in copy.json()["errors"]] == ["body.operations[1].dst.path"]
    assert_problem(meta, 403)
    assert [e["location"] for e in meta.json()["errors"]] == ["body.paths[1]"]
    assert_problem(meta_set, 403)
    assert [e["location"] for e in meta_set.json()["errors"]] == [
        f'body.metadata["{ns}/secret/in.txt"]'
    ]
    # a refused request starts nothing, not even its allowed items
    assert not (anyroot / ns / "secret").exists()
    assert not (anyroot / ns / "proj/out.txt").exists()


def test_a_group_grant_on_a_parent_directory_allows_paths_below_it(users: Users, ns: str) -> None:
    data = users.worker.roots["data"] / ns
    data.mkdir()
    (data / "in.txt").write_text("from data")
    set_grants(
        users,
        grant(f"{ns}/proj", "writer", "cfd", "group"),
        grant(f"data:{ns}", "reader", "cfd", "group"),
    )

    mkdir = run(users.alice, "/storage:mkdir", {"operations": [sp(f"{ns}/proj/a/b")]})
    copy = run(
        users.alice,
        "/storage:copy",
        {"operations": [pair(f"{ns}/in.txt", f"{ns}/proj/a/b/in.txt", "data", "any")]},
    )
    listing = run(users.alice, "/storage:list", {"operations": [sp(ns, "data")]})
    writing_data = users.alice.post("/storage:mkdir", json={"operations": [sp(f"{ns}/x", "data")]})
    outsider = users.bob.post("/storage:mkdir", json={"operations": [sp(f"{ns}/proj/c")]})

    succeeded(mkdir)
    succeeded(copy)
    assert (users.worker.roots["any"] / ns / "proj/a/b/in.txt").read_text() == "from data"
    assert succeeded(listing)["result"] == {f"data:{ns}": ["in.txt"]}
    assert_problem(writing_data, 403)  # reader does not imply writer
    assert_problem(outsider, 403)  # bob is not in cfd
    allowed = users.alice.post(
        "/permissions:check",
        json={"permissions": [grant(f"{ns}/proj/a/b/in.txt", "writer", "alice")]},
    )
    assert allowed.json() == {"allowed": True}


def test_an_anyone_grant_applies_to_every_user(users: Users, ns: str) -> None:
    pub = users.worker.roots["any"] / ns / "pub"
    pub.mkdir(parents=True)
    (pub / "doc.txt").write_text("public")
    set_grants(users, grant(f"{ns}/pub", "reader", None, "any"))

    exists = run(users.bob, "/storage:exists", {"operations": [sp(f"{ns}/pub/doc.txt")]})
    meta = run(users.bob, "/metadata:get", {"paths": [f"{ns}/pub/doc.txt"]})
    write = users.bob.post("/storage:mkdir", json={"operations": [sp(f"{ns}/pub/new")]})
    beside = users.bob.post("/storage:exists", json={"operations": [sp(f"{ns}/private")]})

    assert succeeded(exists)["result"] is True
    assert succeeded(meta)["result"][f"{ns}/pub/doc.txt"]["size"] == 6
    assert_problem(write, 403)
    assert_problem(beside, 403)


def test_admins_bypass_grants_and_only_admin_roles_change_permissions(
    users: Users, ns: str
) -> None:
    anywhere = run(users.root, "/storage:mkdir", {"operations": [sp(f"{ns}/anywhere/deep")]})
    not_admin = users.alice.post(
        "/permissions:set", json={"permissions": [grant(f"{ns}/anywhere", "writer", "alice")]}
    )
    shutdown = users.alice.post("/shutdown")
    set_grants(users, grant(f"{ns}/delegated", "admin", "alice"))
    delegated = users.alice.post(
        "/permissions:set", json={"permissions": [grant(f"{ns}/delegated/x", "reader", "bob")]}
    )

    succeeded(anywhere)
    assert_problem(not_admin, 403)
    assert_problem(shutdown, 403)
    assert delegated.is_success, delegated.text
    check = users.root.post(
        "/permissions:check",
        json={"permissions": [grant(f"{ns}/delegated/x/y", "reader", "bob")]},
    )
    assert check.json() == {"allowed": True}


def test_recent_operations_of_a_user_are_only_their_own(users: Users, ns: str) -> None:
    set_grants(users, grant(f"{ns}/mine", "writer", "bob"))
    bobs = submit(users.bob, "/storage:mkdir", {"operations": [sp(f"{ns}/mine")]})
    roots = submit(users.root, "/storage:mkdir", {"operations": [sp(f"{ns}/theirs")]})
    wait_all(users.root, [bobs, roots])

    seen_by_bob = users.bob.get("/operations", params={"limit": 1000}).json()["operations"]
    seen_by_root = users.root.get("/operations", params={"limit": 1000}).json()["operations"]

    assert bobs in [op["id"] for op in seen_by_bob]
    assert {op["user_id"] for op in seen_by_bob} == {"bob"}
    assert roots in [op["id"] for op in seen_by_root]


# -- confinement -------------------------------------------------------------------------------
def snapshot(top: Path) -> dict[str, tuple[bool, bytes, int]]:
    """Every path below `top` with its kind, content and mtime."""
    out: dict[str, tuple[bool, bytes, int]] = {}
    for path in [top, *sorted(top.rglob("*"))]:
        st = path.lstat()
        content = path.read_bytes() if path.is_file() and not path.is_symlink() else b""
        out[str(path.relative_to(top))] = (path.is_dir(), content, st.st_mtime_ns)
    return out


def test_paths_escaping_their_root_fail_and_nothing_is_written_outside(
    worker: WorkerHandle, tmp_path: Path
) -> None:
    data, anyroot = worker.roots["data"], worker.roots["any"]
    anyroot.mkdir(parents=True, exist_ok=True)
    sentinel = tmp_path / "sentinel"
    (sentinel / "subdir").mkdir(parents=True)
    (sentinel / "secret.txt").write_text("secret")
    (data / "src.txt").write_text("payload")
    (data / "inside").mkdir()
    (data / "link_file").symlink_to(sentinel / "secret.txt")
    (data / "link_dir").symlink_to(sentinel)
    (anyroot / "link_dir").symlink_to(sentinel)
    stray = f"planner-confinement-{secrets.token_hex(6)}"
    before = snapshot(sentinel)
    top_before = sorted(p.name for p in tmp_path.iterdir())

    def copy(src: tuple[str, str], dst: tuple[str, str]) -> tuple[str, Any]:
        return "/storage:copy", {"operations": [{"src": sp(*src), "dst": sp(*dst)}]}

    def path_op(op: str, path: str, remote: str) -> tuple[str, Any]:
        return f"/storage:{op}", {"operations": [sp(path, remote)]}

    # refused at submission (422, located): nothing about them depends on the disk
    lexical: dict[str, tuple[str, Any, str]] = {
        "dotdot dst": (*copy(("src.txt", "data"), ("../sentinel/evil", "data")), "dst"),
        "dotdot inside dst": (
            *copy(("src.txt", "data"), ("inside/../../sentinel/evil", "data")),
            "dst",
        ),
        "dotdot src": (*copy(("../sentinel/secret.txt", "data"), ("stolen1", "any")), "src"),
        "dotdot on any": (*copy(("src.txt", "data"), ("../../sentinel/evil", "any")), "dst"),
        "absolute on data": (*copy(("src.txt", "data"), (str(sentinel / "evil"), "data")), "dst"),
        "absolute on any": (*copy(("src.txt", "data"), (str(sentinel / "evil"), "any")), "dst"),
        "absolute src on data": (
            *copy((str(sentinel / "secret.txt"), "data"), ("stolen2", "any")),
            "src",
        ),
        "relative on local": (*copy(("src.txt", "data"), (f"{stray}/evil", "local")), "dst"),
        "mkdir dotdot": (*path_op("mkdir", "../sentinel/made", "data"), ""),
        "mkdir relative on local": (*path_op("mkdir", f"{stray}/made", "local"), ""),
        "rmdir dotdot": (*path_op("rmdir", "../sentinel", "data"), ""),
    }
    # accepted, then failed by the storage (400/403): symlinks are only seen on disk
    cases: dict[str, tuple[str, Any]] = {
        "file link as src": copy(("link_file", "data"), ("stolen3", "any")),
        "file link as dst": copy(("src.txt", "data"), ("link_file", "data")),
        "dir link as src": copy(("link_dir/secret.txt", "data"), ("stolen4", "any")),
        "dir link as dst": copy(("src.txt", "data"), ("link_dir/evil", "data")),
        "dir link on any as dst": copy(("src.txt", "data"), ("link_dir/evil", "any")),
        "dir link below dst": copy(("src.txt", "data"), ("link_dir/subdir/new/evil", "data")),
        "move into dir link": (
            "/storage:move",
            {"operations": [pair("src.txt", "link_dir/moved", "data", "data")]},
        ),
        "move out of dir link": (
            "/storage:move",
            {"operations": [pair("link_dir/secret.txt", "stolen5", "data", "any")]},
        ),
        "mkdir through dir link": path_op("mkdir", "link_dir/made/deeper", "data"),
        "remove through dir link": path_op("remove", "link_dir/secret.txt", "data"),
        "rmdir through dir link": path_op("rmdir", "link_dir/subdir", "data"),
        "list through dir link": path_op("list", "link_dir", "data"),
        "exists through dir link": path_op("exists", "link_dir/secret.txt", "data"),
        "metadata:get file link": ("/metadata:get", {"paths": ["data:link_file"]}),
        "metadata:set file link": (
            "/metadata:set",
            {"metadata": {"data:link_file": {"custom": {"k": "v"}}}},
        ),
    }
    with httpx.Client(base_url=worker.url, headers=worker.headers, timeout=10.0) as client:
        refusals = {
            name: client.post(route, json=body) for name, (route, body, _) in lexical.items()
        }
        ids = {name: submit(client, route, body) for name, (route, body) in cases.items()}
        ops = dict(zip(ids, wait_all(client, list(ids.values())), strict=True))

    for name, (_, _, end) in lexical.items():
        located = assert_problem(refusals[name], 422)["errors"][0]["location"]
        assert located == f"body.operations[0]{'.' + end if end else ''}.path", name
    outcomes = {
        name: (op["state"], (op["error_detail"] or {}).get("code")) for name, op in ops.items()
    }
    assert {name: state for name, (state, _) in outcomes.items()} == dict.fromkeys(
        cases, "failed"
    ), outcomes
    unexpected = {name: code for name, (_, code) in outcomes.items() if code not in (400, 403)}
    assert unexpected == {}, outcomes
    assert snapshot(sentinel) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == top_before
    assert not Path("/", stray).exists()
    assert not (Path.cwd() / stray).exists()
    assert not list(anyroot.glob("stolen*"))
    assert (data / "src.txt").read_text() == "payload"


# -- tokens stay out of the output --------------------------------------------------------------


def test_the_token_never_appears_in_the_output_of_a_verbose_worker(tmp_path: Path) -> None:
    token = f"tok-{secrets.token_hex(16)}"
    (tmp_path / "token").write_text(token + "\n", encoding="utf-8")
    worker = WorkerProcess(
        tmp_path,
        "worker",
        "--state-dir",
        str(tmp_path / "state"),
        "--token-file",
        str(tmp_path / "token"),
        "-v",
    )
    try:
        with httpx.Client(
            base_url=worker.url, headers={"Authorization": f"Bearer {token}"}, timeout=10.0
        ) as client:
            assert client.get("").status_code == 200
            assert client.get("/storage").status_code == 200
            op_id = submit(client, "/storage:mkdir", {"operations": [sp("logged")]})
            succeeded(wait_all(client, [op_id])[0])
            copy = submit(client, "/storage:copy", {"operations": [pair("missing", "x", "any")]})
            failed_with(wait_all(client, [copy])[0], 404)
            assert client.post("/storage:copy", content=b"{").status_code == 400
            assert client.post("/storage:copy", json={"operations": [{}]}).status_code == 422
            assert client.get("/nowhere").status_code == 404
        with httpx.Client(base_url=worker.url, headers={"X-API-Key": token}) as client:
            assert client.get("/storage").status_code == 200
        assert httpx.get(f"{worker.url}/storage").status_code == 401
        code = worker.terminate()
    finally:
        worker.kill()

    output = worker.output()
    assert code == 0, output
    assert token not in output
    assert URL_LINE.match(worker.out.read_text().splitlines()[0])
    assert "/api/v1/storage" in output  # -v logged the requests
