"""Which files a tree run copies while its object source is still listed (tree_early.py): only
those whose decision can no longer change, each once; the rest wait for the run's own decisions.
Settled files are fed as the listing settles them (objects/lanes.py); the copies run on a real
pool."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from planner.tree.decide import Decision
from planner.tree.entry import Entry
from planner.tree.filters import Filters
from planner.worker.fileops import CopyResult
from planner.worker.requests import Place
from planner.worker.tree_early import EarlyCopies
from planner.worker.tree_model import TreeSpec


def _early(
    pool: ThreadPoolExecutor, existing: list[Entry], exclude: tuple[str, ...] = ()
) -> tuple[EarlyCopies, list[str]]:
    spec = TreeSpec(Place("bkt", "src"), Place("data", "dst"), Filters([], list(exclude)))
    copied: list[str] = []

    def copy(d: Decision) -> CopyResult:
        copied.append(d.path)
        return CopyResult(d.size, 0, "0" * 16)

    return EarlyCopies(spec, existing, pool, copy, lambda: None), copied


def test_a_settled_file_is_copied_early_once_and_a_file_that_is_a_directory_too_never() -> None:
    with ThreadPoolExecutor(2) as pool:
        early, _ = _early(pool, [])
        early.page([("a/1", 5), ("a/2", 6)], {"a"})
        assert sorted(early.started) == ["a/1", "a/2"]
        # "b" is a directory too (the run skips the file)
        early.page([("b", 3), ("b/c", 1), ("c", 2)], {"a", "b"})
        assert sorted(early.started) == ["a/1", "a/2", "b/c", "c"]
        decided = {path: early.take(path) for path in ("a/1", "b/c", "z")}
    first = decided["a/1"]
    assert first is not None
    assert first.result().size == 5
    assert decided["b/c"] is not None
    assert decided["z"] is None  # never settled: the run copies it itself
    assert early.take("a/1") is None  # taken once
    assert [d.path for d, _ in early.left()] == ["a/2", "c"]


def test_nothing_starts_early_where_the_run_would_not_copy_a_new_file() -> None:
    existing = [
        Entry("there.txt", "file", 1, 0, None),  # decided by the overwrite policy
        Entry("d", "file", 1, 0, None),  # a file where the source needs a directory
        Entry("dir", "dir", 0, 0, None),  # a directory where the source has a file
    ]
    with ThreadPoolExecutor(2) as pool:
        early, copied = _early(pool, existing, exclude=("*.tmp",))
        early.page(
            [
                ("d/x", 1),
                ("dir", 2),
                ("empty", 0),  # zero bytes: maybe a directory marker
                ("new.txt", 3),
                ("scratch.tmp", 1),
                ("there.txt", 2),
            ],
            {"d"},
        )
    assert sorted(early.started) == ["new.txt"]
    assert copied == ["new.txt"]
