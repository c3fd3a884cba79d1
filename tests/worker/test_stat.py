"""`storage:stat` (the `planner.stat` extension): one path's entry exactly as a one-level listing
of its parent shows it, so the runner can probe a path without listing its directory. Checked on
a real filesystem under tmp_path against the listing itself (files, directories, symlinks that
lead in, out, nowhere or in circles, special and temporary files, names that are not UTF-8), and
over HTTP on a real worker: entries, a recorded checksum, per-item 404s, the advertisement."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from planner.api.names import escape_name
from planner.worker.file_info import FileInfo
from planner.worker.fileops import temp_name_for
from planner.worker.storage import MemoryTempRegistry, StorageError, Storages
from tests.helpers.worker_api import run, sp, succeeded
from tests.helpers.workers import start_worker


@pytest.fixture
def storages(tmp_path: Path) -> Storages:
    return Storages({"data": tmp_path / "data"}, MemoryTempRegistry())


def _varied_directory(top: Path, outside: Path) -> list[str]:
    """Every kind of name a listing shows or leaves out, in `top`; their names on the wire."""
    top.mkdir(parents=True)
    outside.mkdir()
    (outside / "secret").write_text("outside the root")
    (top / "file.txt").write_text("content")
    (top / "sub").mkdir()
    (top / "sub" / "inner").write_text("x")
    (top / "to-file").symlink_to("file.txt")
    (top / "to-sub").symlink_to("sub")
    (top / "dangling").symlink_to("nothing-there")
    (top / "escaping").symlink_to(outside / "secret")
    (top / "loop-a").symlink_to("loop-b")
    (top / "loop-b").symlink_to("loop-a")
    (top / "itself").symlink_to(".")
    os.mkfifo(top / "pipe")
    (top / temp_name_for("file.txt")).write_text("half written")
    raw = os.fsdecode(b"caf\xe9.txt")
    (top / raw).write_text("latin-1 name")
    return sorted(escape_name(name) for name in os.listdir(top))


def _probed(storages: Storages, path: str) -> FileInfo | int:
    try:
        return storages.probe("data", path)
    except StorageError as exc:
        return int(exc.code)


def test_a_probe_answers_as_the_listing_of_the_parent_does(
    storages: Storages, tmp_path: Path
) -> None:
    names = _varied_directory(tmp_path / "data" / "top", tmp_path / "outside")
    listed = {e.name: e for e in storages.list("data", "top")}
    assert {"file.txt", "to-sub"} <= set(listed)  # the listing is the reference

    for name in names:
        probed = _probed(storages, f"top/{name}")
        if name in listed:
            assert probed == listed[name], name
            assert isinstance(probed, FileInfo)
            assert probed.is_link == listed[name].is_link, name
        else:
            assert probed == 404, name


def test_a_probe_of_what_is_not_there_is_a_404(storages: Storages, tmp_path: Path) -> None:
    (tmp_path / "data" / "file.txt").write_text("x")
    assert _probed(storages, "missing") == 404
    assert _probed(storages, "missing/deeper") == 404
    assert _probed(storages, "file.txt/below") == 404  # a parent that is a file
    root = _probed(storages, "")
    assert isinstance(root, FileInfo)
    assert root.type == "dir"


@pytest.fixture
def worker_client(tmp_path: Path) -> Iterator[tuple[httpx.Client, Path]]:
    embedded, handle = start_worker(tmp_path)
    try:
        with httpx.Client(base_url=handle.url, headers=handle.headers, timeout=10.0) as client:
            yield client, handle.roots["data"]
    finally:
        embedded.stop()


def _stat(client: httpx.Client, *paths: str) -> dict[str, Any]:
    return run(client, "/storage:stat", {"operations": [sp(p, "data") for p in paths]})


def test_stat_answers_each_path_s_entry_or_a_404_item(
    worker_client: tuple[httpx.Client, Path],
) -> None:
    client, data = worker_client
    (data / "in").mkdir()
    (data / "in" / "a.txt").write_bytes(b"12345")
    succeeded(
        run(
            client,
            "/storage:copy",
            {"operations": [{"src": sp("in/a.txt", "data"), "dst": sp("out/a.txt", "data")}]},
        )
    )

    op = _stat(client, "in/a.txt", "out/a.txt", "in", "in/missing")

    assert op["state"] == "failed"  # one item of four failed, as a group of items does
    first, copied, folder, missing = op["children_detail"]
    entry = succeeded(first)["result"]["data:in/a.txt"]
    assert entry["name"] == "a.txt"
    assert (entry["type"], entry["size"]) == ("file", 5)
    assert "checksum" not in entry  # never hashed by a probe
    assert succeeded(copied)["result"]["data:out/a.txt"]["checksum"]  # recorded by the copy
    assert succeeded(folder)["result"]["data:in"]["type"] == "dir"
    assert missing["state"] == "failed"
    assert missing["error_detail"]["code"] == 404
    assert not (data / "in" / "missing").exists()


def test_one_stat_batch_gives_each_path_its_own_recorded_checksum_unless_stale(
    worker_client: tuple[httpx.Client, Path],
) -> None:
    client, data = worker_client
    (data / "in").mkdir()
    names = [f"f{i}.txt" for i in range(6)]
    for i, name in enumerate(names):
        (data / "in" / name).write_bytes(b"x" * (i + 1))
    pairs = [{"src": sp(f"in/{n}", "data"), "dst": sp(f"out/{n}", "data")} for n in names]
    succeeded(run(client, "/storage:copy", {"operations": pairs}))
    copied = succeeded(_stat(client, *(f"out/{n}" for n in names)))
    sums = [
        c["result"][f"data:out/{n}"]["checksum"]
        for c, n in zip(copied["children_detail"], names, strict=True)
    ]
    (data / "out" / "f2.txt").write_bytes(b"changed")  # its record is stale now

    again = succeeded(_stat(client, "out/f2.txt", *(f"out/{n}" for n in names), "in/f0.txt"))

    entries = [next(iter(c["result"].values())) for c in again["children_detail"]]
    assert "checksum" not in entries[0]
    assert [e.get("checksum") for e in entries[1:-1]] == [*sums[:2], None, *sums[3:]]
    assert len(set(sums)) == len(sums)  # each its own file's
    assert "checksum" not in entries[-1]  # never recorded


def test_stat_is_advertised_and_absent_from_a_worker_without_it(tmp_path: Path) -> None:
    for enabled in (True, False):
        embedded, handle = start_worker(tmp_path / str(enabled), stat=enabled)
        try:
            with httpx.Client(base_url=handle.url, headers=handle.headers) as client:
                features = client.get("/").json()["features"]["operation_plugins"]
                response = client.post("/storage:stat", json={"operations": [sp("", "data")]})
        finally:
            embedded.stop()
        assert ("planner.stat" in features) is enabled
        assert response.status_code == (200 if enabled else 404), response.text
