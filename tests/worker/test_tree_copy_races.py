"""`storage:copy_tree` against a destination changed while the tree is copied, as an attacker
with write access to the destination would change it: between the listing of a destination
directory and the copy of a file into it, something takes the file's name, or the directory
itself is swapped. Whatever appears is replaced atomically (a symlink itself, never followed)
or the file fails; nothing is ever written outside the root, half-written or left behind as a
temporary file."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from planner.worker import treeops
from tests.helpers.worker_api import run, succeeded
from tests.helpers.workers import WorkerHandle, running_worker

COPY = "/storage:copy_tree"
BODY = {
    "operations": [
        {"src": {"path": "src", "remote": "data"}, "dst": {"path": "dst", "remote": "data"}}
    ]
}


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[WorkerHandle]:
    with running_worker(tmp_path) as handle:
        yield handle


@pytest.fixture
def client(worker: WorkerHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=worker.url, headers=worker.headers, timeout=10.0) as c:
        yield c


def before_each_copy(monkeypatch: pytest.MonkeyPatch, act: Callable[[Path], None]) -> None:
    """Run `act(destination)` right before each file of a tree is copied: after its directory
    was listed on both sides and the policy decided."""
    copy = treeops.copy_opened  # type: ignore[attr-defined]

    def acting(*args: Any, **kwargs: Any) -> Any:
        act(Path(args[2].dir_path) / args[2].name)
        return copy(*args, **kwargs)

    monkeypatch.setattr(treeops, "copy_opened", acting)


def rows_of(client: httpx.Client, op_id: str) -> list[tuple[str, str, int | None]]:
    """(path, state, code) of each row of an operation."""
    response = client.get(f"/operations/{op_id}/files", params={"offset": 0, "limit": 100})
    assert response.status_code == 200
    return [(row[0], row[4], row[6]) for row in response.json()["rows"]]


def no_temporary_files(top: Path) -> bool:
    return not [p for p in top.rglob("*") if ".planner-tmp-" in p.name]


def source(data: Path, files: dict[str, bytes]) -> None:
    for rel, content in files.items():
        path = data / "src" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


def test_a_file_appearing_at_the_destination_is_replaced_whole(
    worker: WorkerHandle, client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = worker.roots["data"]
    source(data, {"a.bin": b"A" * 5000, "b.bin": b"B" * 10})
    (data / "dst").mkdir()

    def plant(target: Path) -> None:
        target.write_bytes(b"planted by someone else, and longer than the copy")

    before_each_copy(monkeypatch, plant)
    op = succeeded(run(client, COPY, BODY))

    assert op["result"]["copied"] == 2
    assert (data / "dst" / "a.bin").read_bytes() == b"A" * 5000
    assert (data / "dst" / "b.bin").read_bytes() == b"B" * 10
    assert no_temporary_files(data)


def test_a_symlink_leading_outside_placed_at_the_destination_is_replaced_not_followed(
    worker: WorkerHandle, client: httpx.Client, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    data = worker.roots["data"]
    source(data, {"sub/f.txt": b"the copy", "g.txt": b"the other copy"})
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret.txt"
    secret.write_bytes(b"not yours")
    os.chmod(secret, 0o600)

    def plant(target: Path) -> None:
        os.symlink(secret, target)

    before_each_copy(monkeypatch, plant)
    op = succeeded(run(client, COPY, BODY))

    assert op["result"]["copied"] == 2
    assert secret.read_bytes() == b"not yours"
    assert os.stat(secret).st_mode & 0o777 == 0o600
    for copied, content in (
        (data / "dst" / "sub" / "f.txt", b"the copy"),
        (data / "dst" / "g.txt", b"the other copy"),
    ):
        assert not copied.is_symlink()
        assert copied.read_bytes() == content
    assert no_temporary_files(data)


def test_a_directory_appearing_at_the_destination_fails_only_that_file(
    worker: WorkerHandle, client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = worker.roots["data"]
    source(data, {"a.txt": b"a", "b.txt": b"b"})

    def plant(target: Path) -> None:
        if target.name == "a.txt":
            target.mkdir()
            (target / "kept").write_bytes(b"theirs")

    before_each_copy(monkeypatch, plant)
    op = run(client, COPY, BODY)

    assert op["state"] == "failed"
    assert (op["result"]["copied"], op["result"]["failed"]) == (1, 1)
    assert rows_of(client, op["id"]) == [("a.txt", "failed", 409), ("b.txt", "done", None)]
    assert (data / "dst" / "a.txt" / "kept").read_bytes() == b"theirs"
    assert (data / "dst" / "b.txt").read_bytes() == b"b"
    assert no_temporary_files(data)


def test_a_destination_directory_swapped_after_its_listing_is_examined_again(
    worker: WorkerHandle, client: httpx.Client, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The listing of dst/sub said it holds nothing named f.txt; the directory is then replaced
    by another whose f.txt is a link leading outside: that link is seen and refused, as on the
    single-file path, not taken for a name nobody holds."""
    data = worker.roots["data"]
    source(data, {"sub/f.txt": b"the copy"})
    (data / "dst" / "sub").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"not yours")
    listing = treeops.list_level  # type: ignore[attr-defined]

    def swapping(root: Any, fd: int, current: Any) -> Any:
        listed = listing(root, fd, current)
        if current[0] == str(data / "dst" / "sub"):
            shutil.rmtree(data / "dst" / "sub")
            (data / "dst" / "sub").mkdir()
            os.symlink(outside / "secret.txt", data / "dst" / "sub" / "f.txt")
        return listed

    monkeypatch.setattr(treeops, "list_level", swapping)
    op = run(client, COPY, BODY)

    assert op["state"] == "failed"
    assert rows_of(client, op["id"]) == [("sub/f.txt", "failed", 403)]
    assert (outside / "secret.txt").read_bytes() == b"not yours"
    assert (data / "dst" / "sub" / "f.txt").is_symlink()
    assert no_temporary_files(data)


def test_a_destination_directory_swapped_for_a_link_outside_writes_nothing_there(
    worker: WorkerHandle, client: httpx.Client, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    data = worker.roots["data"]
    source(data, {"a.txt": b"a", "sub/f.txt": b"f"})
    (data / "dst" / "sub").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()

    def swap(target: Path) -> None:
        if target.name == "a.txt":  # the top directory's files come before its subdirectories
            (data / "dst" / "sub").rmdir()
            os.symlink(outside, data / "dst" / "sub")

    before_each_copy(monkeypatch, swap)
    op = run(client, COPY, BODY)

    assert op["state"] == "failed"
    assert os.listdir(outside) == []
    assert rows_of(client, op["id"]) == [("a.txt", "done", None), ("sub/f.txt", "failed", 403)]


def test_a_destination_directory_made_a_link_to_its_source_leaves_the_source_alone(
    worker: WorkerHandle, client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dst/sub did not exist when dst was listed; it is then made a link to src/sub (inside the
    root): each file is found to be itself and only hashed, not written over itself."""
    data = worker.roots["data"]
    source(data, {"a.txt": b"a", "sub/f.txt": b"the source"})
    before = os.stat(data / "src" / "sub" / "f.txt")

    def alias(target: Path) -> None:
        if target.name == "a.txt":
            os.symlink(data / "src" / "sub", data / "dst" / "sub")

    before_each_copy(monkeypatch, alias)
    op = succeeded(run(client, COPY, BODY))

    assert rows_of(client, op["id"]) == [("a.txt", "done", None), ("sub/f.txt", "done", None)]
    after = os.stat(data / "src" / "sub" / "f.txt")
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert (data / "src" / "sub" / "f.txt").read_bytes() == b"the source"
    assert no_temporary_files(data)


def test_a_source_file_replaced_after_its_listing_fails_as_changed(
    worker: WorkerHandle, client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the copy is checked against the listing's stat (not a stat of its own after the open):
    # another file under the name, even of the same size, is not copied as if it were listed
    data = worker.roots["data"]
    source(data, {"a.txt": b"listed", "b.txt": b"b"})
    open_listed = treeops.open_listed  # type: ignore[attr-defined]

    def replacing(name: str, dir_fd: int, listed: os.stat_result | None) -> Any:
        if name == "a.txt":
            (data / "src" / "new").write_bytes(b"theirs")
            os.replace(data / "src" / "new", data / "src" / "a.txt")
        return open_listed(name, dir_fd, listed)

    monkeypatch.setattr(treeops, "open_listed", replacing)
    op = run(client, COPY, BODY)

    assert op["state"] == "failed"
    assert (op["result"]["copied"], op["result"]["failed"]) == (1, 1)
    assert rows_of(client, op["id"]) == [("a.txt", "failed", 503), ("b.txt", "done", None)]
    assert not (data / "dst" / "a.txt").exists()
    assert (data / "dst" / "b.txt").read_bytes() == b"b"
    assert no_temporary_files(data)
