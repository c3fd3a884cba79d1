"""Directory copies on an engine with tree operations, against the in-memory engine: one tree
item per copy, its rows paged and journaled a page at a time, files that failed transiently
copied again as copy items, and the same results as the item path of an engine without them."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections.abc import Callable
from typing import Any

import pytest

from planner.api.codes import ItemCode
from planner.runner import action_tree
from planner.runner.engine import Item, ItemKind, Outcome, TreeRow
from planner.runner.executor import Journaling, RunOptions
from planner.runner.memory_files import MemoryFiles, TreeOutcome
from planner.runner.results import ActionResult, ItemRecord, ItemState
from planner.runner.testing import FakeEngine, compile_yaml, execute

COPY = """\
version: 1
storages:
  s: {remote: any, root: data}
copies:
  - id: cp
    src: "s:src/"
    dst: "s:dst/"
    retry: {attempts: 3, delay: 1s}
"""


class Recorded(Journaling):
    """The item records journaled, one list per call (one transaction each)."""

    def __init__(self) -> None:
        self.calls: list[list[ItemRecord]] = []

    def items(self, records: list[ItemRecord]) -> None:
        self.calls.append(list(records))


def with_tree(files: int, *, tree_operations: bool = True, seed: int = 3) -> FakeEngine:
    rng = random.Random(seed)
    engine = FakeEngine(tree_operations=tree_operations)
    for i in range(files):
        depth = rng.randint(0, 3)
        folder = "".join(f"d{rng.randint(0, 2)}/" for _ in range(depth))
        engine.files.add_file(
            f"any:data/src/{folder}f{i}.bin", size=rng.randint(0, 999), checksum=f"{i:016x}"
        )
    return engine


def run(
    engine: FakeEngine, plan: str = COPY, journaling: Journaling | None = None
) -> dict[str, ActionResult]:
    result = asyncio.run(
        execute(compile_yaml(plan), engine, journaling=journaling, options=RunOptions())
    )
    return {a.id: a for a in result.actions}


def copied(engine: FakeEngine, top: str) -> dict[str, int]:
    """Files below `any:data/<top>/`, relative, with their sizes."""
    prefix = f"any:data/{top}/"
    return {
        path[len(prefix) :]: entry.size
        for path in engine.files.listing()
        if path.startswith(prefix)
        and not path.endswith("/")
        and (entry := engine.files.get(path)) is not None
    }


def test_a_tree_of_1000_files_is_one_tree_item_with_its_rows_paged_and_journaled_per_page(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(action_tree, "PAGE_ROWS", 300)
    engine = with_tree(1000)
    journal = Recorded()

    (copy,) = run(engine, journaling=journal).values()

    assert copy.state.value == "succeeded", copy.error
    assert engine.batch_sizes(ItemKind.COPY_TREE) == [1]
    assert engine.submits(ItemKind.COPY) == engine.submits(ItemKind.LIST) == []
    assert copied(engine, "dst") == copied(engine, "src")
    assert [offset for _, offset, _ in engine.tree_pages] == [0, 300, 600, 900]
    assert [len(c) for c in journal.calls] == [300, 300, 300, 100]  # a transaction per page
    assert (copy.files_done, copy.bytes_done) == (1000, sum(copied(engine, "src").values()))
    assert {r.key for r in copy.items} == set(copied(engine, "src"))
    assert all(
        r.state is ItemState.SUCCEEDED and r.src.startswith("any:data/src/") for r in copy.items
    )
    # the requests do not grow with files: submit, poll, outcomes, four pages (and the probe)
    assert len(engine.calls) < 15


def test_files_that_failed_transiently_in_the_tree_are_copied_again_as_copy_items() -> None:
    engine = with_tree(20)
    flaky = sorted(copied(engine, "src"))[:3]
    engine.files.unavailable_in_trees = {f"any:data/src/{p}" for p in flaky}

    (copy,) = run(engine).values()

    assert copy.state.value == "succeeded", copy.error
    assert copied(engine, "dst") == copied(engine, "src")
    again = [i.src.path for c in engine.submits(ItemKind.COPY) for i in c.items if i.src]
    assert sorted(again) == [f"data/src/{p}" for p in flaky]
    assert copy.files_done == 20
    assert sorted(r.key for r in copy.items) == sorted(copied(engine, "src"))


def test_a_tree_item_that_fails_transiently_as_a_whole_is_submitted_again() -> None:
    engine = with_tree(10)
    engine.transient_failures = 1
    engine.flaky = lambda item: item.kind is ItemKind.COPY_TREE

    (copy,) = run(engine).values()

    assert copy.state.value == "succeeded", copy.error
    assert engine.batch_sizes(ItemKind.COPY_TREE) == [1, 1]
    assert copy.attempts == 2
    assert copied(engine, "dst") == copied(engine, "src")


def test_without_tree_operations_the_copy_goes_file_by_file() -> None:
    engine = with_tree(30, tree_operations=False)

    (copy,) = run(engine).values()

    assert copy.state.value == "succeeded", copy.error
    assert engine.submits(ItemKind.COPY_TREE) == []
    assert sum(engine.batch_sizes(ItemKind.COPY)) == 30
    assert copied(engine, "dst") == copied(engine, "src")


def test_a_file_in_the_way_fails_the_action_and_everything_else_is_copied() -> None:
    engine = with_tree(0)
    engine.files.add_file("any:data/src/ok.txt", size=2)
    engine.files.add_file("any:data/src/sub/x.txt", size=3)
    engine.files.add_file("any:data/dst/sub", size=1)  # a file where a directory must be

    (copy,) = run(engine).values()

    assert copy.state.value == "failed"
    assert "data/dst/sub/x.txt: is in the way (code 409)" in copy.error
    assert copied(engine, "dst") == {"ok.txt": 2, "sub": 1}
    states = {r.key: r.state for r in copy.items}
    assert states == {"ok.txt": ItemState.SUCCEEDED, "sub/x.txt": ItemState.FAILED}


PLANS = {
    "plain": [],
    "filters": ['include: ["*.bin"]', 'exclude: ["d1/"]'],
    "include-nothing": ['include: ["*.txt"]'],
    "if-newer": ["overwrite: if-newer"],
    "always": ["overwrite: always"],
    "never": ["overwrite: never"],
    "checksum": ["checksum: true"],
    "no-empty-dirs": ["empty_dirs: false"],
}


def shaped(engine: FakeEngine) -> None:
    """An existing destination: some files equal, some changed, an empty source directory."""
    rng = random.Random(5)
    for path, size in sorted(copied(engine, "src").items()):
        roll, source = rng.random(), engine.files.get(f"any:data/src/{path}")
        assert source is not None
        if roll < 0.3:
            engine.files.add_file(f"any:data/dst/{path}", size=size, checksum=source.checksum)
        elif roll < 0.4:  # the same size and mtime, other bytes: only a checksum tells
            engine.files.add_file(f"any:data/dst/{path}", size=size, checksum="ffff")
        elif roll < 0.5:
            engine.files.add_file(f"any:data/dst/{path}", size=size + 1, mtime_ns=1)
    engine.files.add_dir("any:data/src/empty/inner")


def summary(action: ActionResult) -> dict[str, Any]:
    fields = dataclasses.asdict(action)
    for varying in ("started_at", "ended_at", "items", "attempts"):
        fields.pop(varying)
    fields["items"] = sorted((r.key, r.state.value, r.size, r.replaced) for r in action.items)
    return fields


@pytest.mark.parametrize("name", sorted(PLANS))
def test_both_paths_give_the_same_results_and_files(name: str) -> None:
    options = "".join(f"    {line}\n" for line in PLANS[name])
    plan = COPY.replace("    retry:", f"{options}    retry:")
    outcomes = {}
    for tree in (True, False):
        engine = with_tree(60, tree_operations=tree)
        shaped(engine)
        (action,) = run(engine, plan).values()
        outcomes[tree] = (summary(action), engine.files.listing())
        # `checksum: true` lists every compared source file's checksum: the item path's
        trees = 0 if name == "checksum" or not tree else 1
        assert len(engine.submits(ItemKind.COPY_TREE)) == trees
    assert outcomes[True] == outcomes[False]


def rows_engine(rows: list[TreeRow], result: dict[str, int]) -> FakeEngine:
    """An engine whose tree items answer `rows` (failed when one failed) and `result`."""
    files = MemoryFiles()

    def handler(item: Item) -> Outcome:
        if item.kind is not ItemKind.COPY_TREE:
            return files(item)
        failed = [r for r in rows if r.state == "failed"]
        code = failed[0].code if failed else None
        return TreeOutcome(ok=not failed, result=result, code=code, error="failed", rows=rows)

    files.add_dir("any:data/src")
    return FakeEngine(handler, tree_operations=True)


def test_special_files_unreadable_directories_and_empty_directories_are_reported() -> None:
    rows = [
        TreeRow("a.txt", "file", 5, "new", "done", "ab12"),
        TreeRow("empty", "dir", 0, "new", "done"),
        TreeRow("run/pipe", "skipped", 0, "fifo", "done"),
        TreeRow("private", "unreadable", 0, None, "failed", None, 403, "Permission denied"),
    ]
    engine = rows_engine(rows, {"copied": 1, "unchanged": 2, "filtered": 0, "rows": 4})

    (copy,) = run(engine).values()

    assert copy.state.value == "failed"
    assert copy.error == (
        "1 directory not read, everything else copied: any:data/src/private: Permission denied"
    )
    assert copy.skipped == [{"path": "run/pipe", "reason": "fifo"}]
    assert copy.dirs_made == 1
    assert (copy.files_done, copy.files_unchanged) == (1, 2)
    assert [r.checksum for r in copy.items] == ["ab12"]
    assert copy.detail == [
        "2 files unchanged",
        "1 empty directory created",
        "1 special file skipped (fifo)",
    ]


def test_a_tree_item_that_answers_no_result_fails_the_action() -> None:
    def handler(item: Item) -> Outcome:
        if item.kind is ItemKind.COPY_TREE:
            return Outcome(ok=False, error="any:data/src: disk on fire", code=ItemCode.INTERNAL)
        return files(item)

    files = MemoryFiles()
    files.add_dir("any:data/src")
    engine = FakeEngine(handler, tree_operations=True)

    (copy,) = run(engine).values()

    assert copy.state.value == "failed"
    assert copy.error == f"any:data/src: disk on fire (code {ItemCode.INTERNAL})"


def test_a_tree_item_whose_source_is_gone_names_where_it_was_looked_for() -> None:
    def handler(item: Item) -> Outcome:
        if item.kind is ItemKind.COPY_TREE:  # removed between the probe and the operation
            return Outcome(ok=False, error="any:data/src: no such directory", code=404)
        return files(item)

    files = MemoryFiles()
    files.add_dir("any:data/src")
    engine = FakeEngine(handler, tree_operations=True)

    (copy,) = run(engine).values()

    assert copy.state.value == "failed"
    assert copy.error == "s:src/ (root data → any:data/src): no such file or directory"


def permanent(rows: int) -> Callable[[int], TreeRow]:
    return lambda i: TreeRow(f"f{i}", "file", 1, "changed", "failed", None, 500, f"f{i}: broken")


def test_every_permanent_failure_is_counted_in_the_message() -> None:
    rows = [permanent(3)(i) for i in range(3)]
    engine = rows_engine(rows, {"failed": 3, "rows": 3})

    (copy,) = run(engine).values()

    assert copy.error == "any:data/src/f0 -> any:data/dst/f0: f0: broken (code 500) (and 2 more)"
    assert copy.change.value == "~"
    assert [r.state for r in copy.items] == [ItemState.FAILED] * 3
