"""`checksum: true` compares content (issue 10, item 4): a side whose checksum the listing does
not carry is hashed by the worker, the preview and the run say how many files were compared by
checksum, the JSON carries the checksums, and a worker that cannot hash fails the action. Through
the real CLI, against the embedded worker and against workers configured without extensions."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import xxhash

from tests.helpers.cli import CliResult, actions_of, run_json
from tests.helpers.trees import make_tree, tree_bytes
from tests.helpers.workers import WorkerHandle, start_worker

PLAN = """
    version: 1
    storages:
      src: {remote: local, root: ./src}
      dst: {remote: local, root: ./dst}
    copies:
      - {id: tree, src: "src:", dst: "dst:", checksum: true}
"""
FILE_PLAN = """
    version: 1
    storages:
      src: {remote: local, root: ./src}
      dst: {remote: local, root: ./dst}
    copies:
      - {id: one, src: "src:a.txt", dst: "dst:a.txt", checksum: true}
"""


def edit_in_place(path: Path, content: bytes) -> None:
    """Rewrite a file with content of the same size and put its mtime back: what size + mtime
    cannot see (the ctime does)."""
    st = path.stat()
    assert len(content) == st.st_size
    path.write_bytes(content)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    while path.stat().st_ctime_ns == st.st_ctime_ns:  # a coarse clock: until the kernel shows it
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def xxh64(data: bytes) -> str:
    return xxhash.xxh64(data).hexdigest()


@pytest.fixture
def first_copy(tmp_path: Path, write_plan: Callable[..., Path]) -> Path:
    make_tree(tmp_path / "src", {"a.txt": b"hello", "b.txt": b"world"})
    (tmp_path / "dst").mkdir()
    return write_plan(PLAN)


def test_a_same_size_same_mtime_edit_is_copied_with_checksum_true(
    tmp_path: Path, first_copy: Path, run_cli: Callable[..., CliResult]
) -> None:
    assert run_cli("run", first_copy).code == 0
    edit_in_place(tmp_path / "src" / "a.txt", b"HELLO")

    code, document = run_json(run_cli, first_copy)

    assert code == 0, document
    assert tree_bytes(tmp_path / "dst") == {"a.txt": b"HELLO", "b.txt": b"world"}
    tree = actions_of(document)["tree"]
    assert (tree["files_done"], tree["files_unchanged"], tree["files_compared"]) == (1, 1, 2)
    assert tree["checksums"] == {"a.txt": xxh64(b"HELLO"), "b.txt": xxh64(b"world")}
    (item,) = tree["items"]
    assert (item["key"], item["checksum"]) == ("a.txt", xxh64(b"HELLO"))
    assert document["totals"]["files_compared"] == 2


def test_an_edit_after_the_worker_recorded_the_sources_checksum_is_copied(
    tmp_path: Path, first_copy: Path, run_cli: Callable[..., CliResult]
) -> None:
    assert run_cli("run", first_copy).code == 0  # copies: the destinations' checksums recorded
    assert run_cli("run", first_copy).code == 0  # hashes the sources: their checksums recorded
    edit_in_place(tmp_path / "src" / "a.txt", b"dddd\n")

    code, document = run_json(run_cli, first_copy)

    assert code == 0, document
    assert tree_bytes(tmp_path / "dst") == {"a.txt": b"dddd\n", "b.txt": b"world"}
    tree = actions_of(document)["tree"]
    assert (tree["files_done"], tree["files_unchanged"]) == (1, 1)
    assert tree["checksums"] == {"a.txt": xxh64(b"dddd\n"), "b.txt": xxh64(b"world")}


def test_a_destination_edited_in_place_after_its_copy_is_copied_again(
    tmp_path: Path, first_copy: Path, run_cli: Callable[..., CliResult]
) -> None:
    assert run_cli("run", first_copy).code == 0  # the copy records the destination's checksum
    edit_in_place(tmp_path / "dst" / "b.txt", b"w0rld")

    code, document = run_json(run_cli, first_copy)

    assert code == 0, document
    assert tree_bytes(tmp_path / "dst") == {"a.txt": b"hello", "b.txt": b"world"}
    assert actions_of(document)["tree"]["files_done"] == 1


def test_the_run_and_the_preview_say_how_many_files_were_compared_by_checksum(
    tmp_path: Path, first_copy: Path, run_cli: Callable[..., CliResult]
) -> None:
    assert run_cli("run", first_copy).code == 0
    edit_in_place(tmp_path / "src" / "a.txt", b"HELLO")

    preview = run_cli("plan", first_copy)
    assert preview.code == 0, preview.stderr
    assert "  ~ tree  copy  1 file (5 B) to overwrite, 1 unchanged, 2 compared by checksum" in (
        preview.stdout.splitlines()
    )
    assert preview.stdout.splitlines()[-1] == (
        "Plan: 1 file (5 B) to overwrite; 1 unchanged, 2 compared by checksum."
    )

    run = run_cli("run", first_copy)
    assert run.code == 0, run.stderr
    assert (
        "tree (copy): succeeded: 1 file copied, 1 unchanged, 2 compared by checksum, 5 B in "
        in run.stdout
    )


def test_a_single_file_copy_hashes_its_source_too(
    tmp_path: Path, write_plan: Callable[..., Path], run_cli: Callable[..., CliResult]
) -> None:
    make_tree(tmp_path / "src", {"a.txt": b"hello"})
    (tmp_path / "dst").mkdir()
    plan = write_plan(FILE_PLAN)
    assert run_cli("run", plan).code == 0
    edit_in_place(tmp_path / "src" / "a.txt", b"jello")

    code, document = run_json(run_cli, plan)

    assert code == 0, document
    assert (tmp_path / "dst" / "a.txt").read_bytes() == b"jello"
    one = actions_of(document)["one"]
    assert (one["files_done"], one["files_compared"]) == (1, 1)
    assert one["checksums"] == {"a.txt": xxh64(b"jello")}


@pytest.fixture
def plain_worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[WorkerHandle]:
    """A worker without planner's recursive listing: it still hashes on metadata:get."""
    embedded, handle = start_worker(
        tmp_path / "worker", recursive_listing=False, tree_operations=False
    )
    monkeypatch.setenv("PLANNER_TOKEN", handle.token)
    try:
        yield handle
    finally:
        embedded.stop()


@pytest.fixture
def unhashing_worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[WorkerHandle]:
    """A worker that gives no checksum, in listings or from metadata:get."""
    embedded, handle = start_worker(
        tmp_path / "worker", recursive_listing=False, tree_operations=False, checksums=False
    )
    monkeypatch.setenv("PLANNER_TOKEN", handle.token)
    try:
        yield handle
    finally:
        embedded.stop()


def test_a_worker_without_recursive_listing_hashes_what_its_listings_lack(
    tmp_path: Path,
    first_copy: Path,
    plain_worker: WorkerHandle,
    run_cli: Callable[..., CliResult],
) -> None:
    url = ("--api-url", plain_worker.url)
    assert run_cli("run", first_copy, *url).code == 0
    edit_in_place(tmp_path / "src" / "b.txt", b"w0rld")

    code, document = run_json(run_cli, first_copy, *url)

    assert code == 0, document
    assert tree_bytes(tmp_path / "dst") == {"a.txt": b"hello", "b.txt": b"w0rld"}
    assert actions_of(document)["tree"]["files_compared"] == 2


def test_a_worker_that_cannot_hash_fails_the_action_instead_of_comparing_less(
    tmp_path: Path,
    first_copy: Path,
    unhashing_worker: WorkerHandle,
    run_cli: Callable[..., CliResult],
) -> None:
    url = ("--api-url", unhashing_worker.url)
    assert run_cli("run", first_copy, *url).code == 0  # nothing to compare yet: all new
    edit_in_place(tmp_path / "src" / "a.txt", b"HELLO")

    result = run_cli("run", first_copy, *url)

    assert result.code == 1
    message = (
        f"checksum: true, but the worker gives no checksum for local:{tmp_path}/src/a.txt "
        "(neither in its "
        "listing nor from metadata:get); use a worker that hashes files, or drop "
        "`checksum: true` to compare sizes and mtimes"
    )
    assert f"tree (copy): failed: {message}" in result.stdout
    assert (tmp_path / "dst" / "a.txt").read_bytes() == b"hello"  # nothing copied silently

    preview = run_cli("plan", first_copy, *url, "--format", "json")
    assert json.loads(preview.stdout)["actions"][0]["error"] == message


CHAIN_PLAN = """
    version: 1
    storages:
      src: {remote: local, root: ./src}
      mid: {remote: local, root: ./mid}
      out: {remote: local, root: ./out}
    copies:
      - {id: stage, src: "src:a.txt", dst: "mid:a.txt"}
      - {id: publish, src: "mid:", dst: "out:", checksum: true}
"""


def test_the_preview_hashes_a_file_an_earlier_action_would_write(
    tmp_path: Path, write_plan: Callable[..., Path], run_cli: Callable[..., CliResult]
) -> None:
    make_tree(tmp_path / "src", {"a.txt": b"fresh"})
    make_tree(tmp_path / "out", {"a.txt": b"stale"})
    (tmp_path / "mid").mkdir()
    plan = write_plan(CHAIN_PLAN)

    preview = run_cli("plan", plan)
    assert preview.code == 0, preview.stdout + preview.stderr
    assert "  ~ publish  copy  1 file (5 B) to overwrite, 1 compared by checksum" in (
        preview.stdout.splitlines()
    )

    code, document = run_json(run_cli, plan)
    assert code == 0, document
    publish = actions_of(document)["publish"]
    assert (publish["files_done"], publish["files_compared"]) == (1, 1)
    assert (tmp_path / "out" / "a.txt").read_bytes() == b"fresh"
