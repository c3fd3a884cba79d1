"""Confinement without a check-then-use window (issue 9, item 4), attacked over HTTP by an
ordinary user: a directory swapped for a symlink through the API itself, on disk between two
requests, and (through a test hook) between the moment a path is checked and the moment it is
used. No storage operation may read or write outside its root, whatever the timing."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from planner.worker import confine
from planner.worker.auth import Authenticator
from tests.helpers.trees import tree_contents
from tests.helpers.worker_api import grant, run, sp
from tests.helpers.workers import WorkerHandle, start_worker

SECRET = b"OUTSIDE-SECRET"
INSIDE = b"inside content"


@dataclass
class Attack:
    """A worker with an ordinary user `mallory`, writer on `any:<ns>` only."""

    worker: WorkerHandle
    mallory: httpx.Client
    admin: httpx.Client


@pytest.fixture(scope="module")
def attack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Attack]:
    tmp = tmp_path_factory.mktemp("confinement")
    users_file = tmp / "users.yaml"
    users_file.write_text(
        "users:\n  - {name: mallory, token: mallory-token}\n"
        "  - {name: root, token: root-token, admin: true}\n",
        encoding="utf-8",
    )
    embedded, handle = start_worker(tmp, authenticator=Authenticator.from_users_file(users_file))
    clients = [
        httpx.Client(base_url=handle.url, headers={"Authorization": f"Bearer {t}"}, timeout=10.0)
        for t in ("mallory-token", "root-token")
    ]
    try:
        yield Attack(handle, *clients)
    finally:
        for client in clients:
            client.close()
        embedded.stop()


@pytest.fixture
def ns(attack: Attack, request: pytest.FixtureRequest) -> str:
    """This test's own directory in `any`, where mallory is a writer."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", request.node.name)
    (attack.worker.roots["any"] / name).mkdir(parents=True)
    granted = attack.admin.post(
        "/permissions:set", json={"permissions": [grant(name, "writer", "mallory")]}
    )
    assert granted.is_success, granted.text
    return name


def state_files(state_dir: Path) -> dict[str, bytes | str | None]:
    """The state directory but for the database files the worker itself keeps writing and the
    default storage (which is a root)."""
    return {
        name: value
        for name, value in tree_contents(state_dir).items()
        if not name.startswith(("worker.db", "storage"))
    }


def code_of(op: dict[str, Any]) -> int | None:
    return None if op["state"] == "succeeded" else (op["error_detail"] or {}).get("code")


def test_a_symlink_moved_over_a_directory_through_the_api_never_leads_to_the_state_dir(
    attack: Attack, ns: str
) -> None:
    """The issue's sequence with ordinary calls: a link that points inside the root where it
    lies (`deep/up -> ../..`, the root) is moved where the same text leads to the state dir,
    over a directory the worker has just used, and used at once."""
    state = attack.worker.state_dir
    top = attack.worker.roots["any"] / ns
    (top / "seed.txt").write_bytes(INSIDE)
    (top / "deep").mkdir()
    (top / "deep" / "up").symlink_to("../..")
    (state / "sentinel.txt").write_bytes(SECRET)
    (state / "sentinel-dir").mkdir()
    (state / "sentinel-dir" / "keep.txt").write_bytes(SECRET)
    before = state_files(state)
    user = attack.mallory

    def op(route: str, body: Any) -> dict[str, Any]:
        return run(user, route, body)

    def pair(src: str, dst: str) -> dict[str, Any]:
        return {"operations": [{"src": sp(f"{ns}/{src}"), "dst": sp(f"{ns}/{dst}")}]}

    assert code_of(op("/storage:mkdir", {"operations": [sp(f"{ns}/x")]})) is None
    assert code_of(op("/storage:copy", pair("seed.txt", "x/warm.txt"))) is None
    assert code_of(op("/storage:move", pair("x", "gone"))) is None
    assert code_of(op("/storage:move", pair("deep/up", "x"))) is None
    assert os.readlink(top / "x") == "../.."  # now x leads to the state directory

    through_x: dict[str, tuple[str, Any]] = {
        "read worker.db": ("/storage:copy", pair("x/worker.db", "loot.db")),
        "write into the state dir": ("/storage:copy", pair("seed.txt", "x/planted.txt")),
        "list": ("/storage:list", {"operations": [sp(f"{ns}/x")]}),
        "list recursive": ("/storage:list?recursive=true", {"operations": [sp(f"{ns}/x")]}),
        "mkdir": ("/storage:mkdir", {"operations": [sp(f"{ns}/x/made")]}),
        "remove": ("/storage:remove", {"operations": [sp(f"{ns}/x/sentinel.txt")]}),
        "rmdir": ("/storage:rmdir", {"operations": [sp(f"{ns}/x/sentinel-dir")]}),
        "move out": ("/storage:move", pair("x/sentinel.txt", "stolen.txt")),
        "move in": ("/storage:move", pair("seed.txt", "x/moved.txt")),
        "metadata:get": ("/metadata:get", {"paths": [f"{ns}/x/worker.db"]}),
    }
    outcomes = {name: code_of(op(route, body)) for name, (route, body) in through_x.items()}

    assert outcomes == dict.fromkeys(through_x, 403)
    assert state_files(state) == before
    assert sorted(os.listdir(top)) == ["deep", "gone", "seed.txt", "x"]


# -- a directory replaced by a symlink to outside, between two requests or at the worst moment --
@dataclass(frozen=True)
class Case:
    """One request through `<ns>/dir`, which gets replaced by a link to the outside directory."""

    route: str
    body: Callable[[str], Any]
    label: str  # the path (as the worker labels it) whose opening triggers the swap


def _pair(src: str, dst: str) -> Callable[[str], Any]:
    return lambda ns: {"operations": [{"src": sp(f"{ns}/{src}"), "dst": sp(f"{ns}/{dst}")}]}


def _single_path(route: str, path: str) -> tuple[str, Callable[[str], Any]]:
    return route, lambda ns: {"operations": [sp(f"{ns}/{path}")]}


CASES: dict[str, Case] = {
    "copy src": Case("/storage:copy", _pair("dir/f.txt", "out.txt"), "dir/f.txt"),
    "copy dst": Case("/storage:copy", _pair("seed.txt", "dir/new.txt"), "dir/new.txt"),
    "list": Case(*_single_path("/storage:list", "dir"), "dir"),
    "list recursive": Case(*_single_path("/storage:list?recursive=true", ""), ""),
    "mkdir": Case(*_single_path("/storage:mkdir", "dir/sub/deeper"), "dir/sub/deeper"),
    "remove": Case(*_single_path("/storage:remove", "dir/f.txt"), "dir/f.txt"),
    "rmdir": Case(*_single_path("/storage:rmdir", "dir/sub2"), "dir/sub2"),
    "move src": Case("/storage:move", _pair("dir/f.txt", "moved.txt"), "dir/f.txt"),
    "move dst": Case("/storage:move", _pair("seed.txt", "dir/new.txt"), "dir/new.txt"),
    "metadata:get": Case("/metadata:get", lambda ns: {"paths": [f"{ns}/dir/f.txt"]}, "dir/f.txt"),
}


@pytest.fixture
def layout(attack: Attack, ns: str, tmp_path: Path) -> tuple[Path, Path]:
    """`<ns>/dir` (f.txt, sub2/) and `<ns>/seed.txt` inside; `outside` (f.txt, sub2/, and a
    file only it has) beside the roots, holding what must never be read or changed."""
    top = attack.worker.roots["any"] / ns
    (top / "dir" / "sub2").mkdir(parents=True)
    (top / "dir" / "f.txt").write_bytes(INSIDE)
    (top / "seed.txt").write_bytes(INSIDE)
    outside = tmp_path / "outside"
    (outside / "sub2").mkdir(parents=True)
    (outside / "sub2" / "keep.txt").write_bytes(SECRET)
    (outside / "f.txt").write_bytes(SECRET)
    (outside / "only-outside.txt").write_bytes(SECRET)
    return top, outside


def swap(directory: Path, outside: Path) -> None:
    """Replace `directory` by a symlink to `outside` (the directory itself moves aside)."""
    directory.rename(directory.with_name(directory.name + ".away"))
    directory.symlink_to(outside)


def nothing_leaked(op: dict[str, Any], outside: Path, before: dict[str, Any], top: Path) -> None:
    """The request neither changed `outside` nor returned or copied anything from it."""
    assert tree_contents(outside) == before
    assert "only-outside" not in str(op["result"]), op
    assert "sub2/keep.txt" not in str(op["result"]), op
    for path in top.rglob("*"):
        if path.is_file() and not path.is_symlink():
            assert path.read_bytes() != SECRET, path


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_directory_swapped_for_a_symlink_between_two_requests_is_not_followed_out(
    attack: Attack, ns: str, layout: tuple[Path, Path], case: str
) -> None:
    top, outside = layout
    before = tree_contents(outside)
    # the worker has just used `dir` (a worker that remembered resolutions would reuse it)
    warm = run(attack.mallory, "/metadata:get", {"paths": [f"{ns}/dir/f.txt"]})
    assert warm["state"] == "succeeded", warm

    swap(top / "dir", outside)
    op = run(attack.mallory, CASES[case].route, CASES[case].body(ns))

    nothing_leaked(op, outside, before, top)
    if case != "list recursive":  # the link is left out of the listing of its parent
        assert code_of(op) == 403, op


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_directory_swapped_for_a_symlink_after_the_check_and_before_the_use_is_not_followed(
    attack: Attack,
    ns: str,
    layout: tuple[Path, Path],
    case: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The worst moment: the path's parent directory is open and checked, the operation has not
    used it yet. Whatever it then does happens in the directory that was checked (now
    `dir.away`), or fails; never outside."""
    top, outside = layout
    before = tree_contents(outside)
    label = f"any:{ns}/{CASES[case].label}".rstrip("/")
    opened = confine.Place.__init__
    swapped: list[str] = []

    def then_swap(place: confine.Place, *args: Any) -> None:
        opened(place, *args)
        if place.label.rstrip("/") == label and not swapped:
            swap(top / "dir", outside)
            swapped.append(place.label)

    monkeypatch.setattr(confine.Place, "__init__", then_swap)
    op = run(attack.mallory, CASES[case].route, CASES[case].body(ns))
    monkeypatch.undo()

    assert swapped, "the hook never ran"
    nothing_leaked(op, outside, before, top)
    assert code_of(op) in (None, 403, 404), op
