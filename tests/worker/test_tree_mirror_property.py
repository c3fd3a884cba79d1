"""Property: for random small trees and filters, the deletions a mirror `storage:compare_tree`
plans are exactly those planner/tree/mirror.py finds on the recursive listings of the same
trees, as the runner's item path takes them (a directory deleted whole there is every path
below it, rowed one by one, on the worker)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.tree.filters import Filters
from planner.tree.mirror import SourceSide, mirror_deletions
from tests.helpers.worker_api import run, succeeded
from tests.helpers.workers import WorkerHandle, start_worker
from tests.worker.test_tree_compare_property import NAMES, PATTERNS, _listing, _write

EXTRA = ["x.txt", "y.h5", "d/z.txt", "d/g/w.h5", "n/o/p.txt", "n/q/", "k/r.h5"]
_examples = itertools.count()


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[WorkerHandle, httpx.Client]]:
    embedded, handle = start_worker(tmp_path_factory.mktemp("mirror-property"))
    with httpx.Client(base_url=handle.url, headers=handle.headers, timeout=10.0) as client:
        yield handle, client
    embedded.stop()


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    src=st.sets(st.sampled_from(NAMES)),
    dst=st.sets(st.sampled_from([*NAMES, *EXTRA, "d", "k/l.txt/"]), max_size=8),
    include=st.sampled_from(PATTERNS),
    exclude=st.sampled_from(PATTERNS),
    delete_excluded=st.booleans(),
)
def test_planned_deletions_are_the_shared_rules(
    shared: tuple[WorkerHandle, httpx.Client],
    src: set[str],
    dst: set[str],
    include: list[str],
    exclude: list[str],
    delete_excluded: bool,
) -> None:
    worker, client = shared
    case = f"case{next(_examples)}"
    top: Path = worker.roots["data"] / case
    for name in src:
        _write(top / "src", name, 1, 1_700_000_000_000_000_000)
    (top / "src").mkdir(parents=True, exist_ok=True)
    (top / "dst").mkdir(parents=True, exist_ok=True)
    for name in sorted(dst):
        try:  # an entry below a file written before, or above a directory, is left out
            _write(top / "dst", name, 2, 1_700_000_000_000_000_000)
        except (IsADirectoryError, FileExistsError, NotADirectoryError):
            continue
    body = {
        "operations": [
            {"src": {"path": f"{case}/src", "remote": "data"},
             "dst": {"path": f"{case}/dst", "remote": "data"},
             "include": include, "exclude": exclude,
             "mirror": True, "delete_excluded": delete_excluded}
        ]
    }  # fmt: skip

    op = succeeded(run(client, "/storage:compare_tree", body))
    rows = client.get(f"/operations/{op['id']}/files").json()["rows"]

    source, problems = _listing(client, f"{case}/src")
    existing = _listing(client, f"{case}/dst")[0]
    filters = Filters(include, exclude)
    side = SourceSide.of(
        source, filters=filters, symlinks="follow", skipped=(p for p, _ in problems.skipped)
    )
    expected = mirror_deletions(side, existing, filters=filters, delete_excluded=delete_excluded)
    paths = set()
    for deletion in expected:
        paths.add(deletion.path)
        if deletion.type == "dir" and not deletion.link:
            paths.update(e.path for e in existing if e.path.startswith(deletion.path + "/"))
    assert {r[0] for r in rows if r[3] == "extraneous"} == paths
    assert op["result"]["to_delete"] == sum(d.count for d in expected) == len(paths)
