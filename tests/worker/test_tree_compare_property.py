"""Property: for random small trees, filters and policies, the rows of `storage:compare_tree`
are exactly the decisions of planner/tree/decide.py (expand_directory, directories_to_make) on
the recursive listings of the same trees, as the runner's item path takes them."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.tree.decide import directories_to_make, expand_directory
from planner.tree.entry import Entry, Problems, listing_from_wire, split_listing
from planner.tree.filters import Filters
from tests.helpers.worker_api import run, succeeded
from tests.helpers.workers import WorkerHandle, start_worker

NAMES = ["a.txt", "b.h5", "c", "d/e.txt", "d/f.h5", "d/g/h.txt", "k/l.txt", "m/"]
PATTERNS = [[], ["*.txt"], ["d/"], ["*.h5", "!d/f.h5"], ["/c"]]
_examples = itertools.count()


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[WorkerHandle, httpx.Client]]:
    embedded, handle = start_worker(tmp_path_factory.mktemp("property"))
    with httpx.Client(base_url=handle.url, headers=handle.headers, timeout=10.0) as client:
        yield handle, client
    embedded.stop()


files = st.dictionaries(st.sampled_from(NAMES), st.integers(0, 3), max_size=len(NAMES))
there = st.dictionaries(
    st.sampled_from([*NAMES, "d", "k/l.txt/"]), st.sampled_from(["same", "other", "newer"]),
    max_size=5,
)  # fmt: skip


def _write(root: Path, name: str, size: int, mtime: int) -> None:
    path = root / name
    if name.endswith("/"):
        path.mkdir(parents=True, exist_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    os.utime(path, ns=(mtime, mtime))


def _listing(client: httpx.Client, path: str) -> tuple[list[Entry], Problems]:
    body = {"operations": [{"path": path, "remote": "data"}]}
    op = succeeded(run(client, "/storage:list", body, {"recursive": "true", "mode": "extended"}))
    problems = Problems()
    raw = next(iter(op["result"].values()))
    return listing_from_wire(split_listing(raw, problems)), problems


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    src=files,
    dst=there,
    include=st.sampled_from(PATTERNS),
    exclude=st.sampled_from(PATTERNS),
    overwrite=st.sampled_from(["always", "never", "if-newer", "if-different"]),
    checksum=st.booleans(),
    empty_dirs=st.booleans(),
)
def test_compare_rows_are_the_shared_decisions(
    shared: tuple[WorkerHandle, httpx.Client],
    src: dict[str, int],
    dst: dict[str, str],
    include: list[str],
    exclude: list[str],
    overwrite: str,
    checksum: bool,
    empty_dirs: bool,
) -> None:
    worker, client = shared
    case = f"case{next(_examples)}"
    top = worker.roots["data"] / case
    base = 1_700_000_000_000_000_000
    for name, size in src.items():
        _write(top / "src", name, size, base)
    (top / "src").mkdir(parents=True, exist_ok=True)
    (top / "dst").mkdir(parents=True, exist_ok=True)
    for name, how in sorted(dst.items()):  # "d" (a file where src may have a directory) first
        size = src.get(name, 1) + (how == "other")
        mtime = base + (10**9 if how == "newer" else 0)
        try:  # an entry below a file written before, or above a directory, is left out
            _write(top / "dst", name, size, mtime)
        except (IsADirectoryError, FileExistsError, NotADirectoryError):
            continue
    options: dict[str, Any] = {
        "include": include, "exclude": exclude, "overwrite": overwrite,
        "checksum": checksum, "empty_dirs": empty_dirs,
    }  # fmt: skip
    body = {
        "operations": [
            {"src": {"path": f"{case}/src", "remote": "data"},
             "dst": {"path": f"{case}/dst", "remote": "data"}} | options
        ]
    }  # fmt: skip

    op = succeeded(run(client, "/storage:compare_tree", body))
    rows = client.get(f"/operations/{op['id']}/files").json()["rows"]

    source, _ = _listing(client, f"{case}/src")
    existing = _listing(client, f"{case}/dst")[0]
    if checksum:  # the runner hashes what the listings do not know: the worker does too
        source = [_hashed(e, top / "src") for e in source]
        existing = [_hashed(e, top / "dst") for e in existing]
    filters = Filters(include, exclude)
    expected = expand_directory(
        source, existing, filters=filters, overwrite=overwrite,  # type: ignore[arg-type]
        checksum=checksum, symlinks="follow",
    )  # fmt: skip
    assert sorted((r[0], r[2], r[3]) for r in rows if r[1] == "file") == [
        (d.path, d.size, d.reason) for d in expected.to_copy
    ]
    made = directories_to_make(
        source, existing, filters=filters, symlinks="follow", holding=expected.directories
    ) if empty_dirs else []  # fmt: skip
    assert sorted(r[0] for r in rows if r[1] == "dir") == made
    assert op["result"]["unchanged"] == len(expected.unchanged)
    assert op["result"]["filtered"] == expected.filtered


def _hashed(entry: Entry, top: Path) -> Entry:
    if entry.type != "file":
        return entry
    import xxhash

    digest = xxhash.xxh64_hexdigest((top / entry.path).read_bytes())
    return Entry(entry.path, entry.type, entry.size, entry.mtime_ns, digest, entry.is_link)
