"""The fake engine the fast runner tests stand on (planner/runner/testing.py) keeps the worker's
rules they rely on: listings in the wire form that the runner parses (a file lists as itself),
404 for a missing path, 409 for a path in the way, copies and moves that make their parents; and
its knobs do what they say (a batch is done at its Nth poll, its items run in order, a cancelled
batch runs no more)."""

from __future__ import annotations

import asyncio

from planner.runner.engine import Item, ItemKind, Outcome, Target
from planner.runner.testing import FakeEngine, MemoryFiles
from planner.tree.entry import Entry


def on(files: MemoryFiles, kind: ItemKind, path: str, src: str | None = None) -> Outcome:
    source = Target("any", src) if src is not None else None
    return files(Item(kind, Target("any", path), src=source))


def test_listings_are_in_the_wire_form_and_a_file_lists_as_itself() -> None:
    files = MemoryFiles()
    files.add_file("any:top/a.txt", size=3, checksum="00ff")
    files.add_file("any:top/sub/b.txt", size=4)

    children = on(files, ItemKind.LIST_CHILDREN, "top")
    tree = on(files, ItemKind.LIST, "top")
    itself = on(files, ItemKind.LIST_CHILDREN, "top/a.txt")

    assert [Entry.from_wire(e).path for e in children.result] == ["a.txt", "sub"]
    assert [Entry.from_wire(e).path for e in tree.result] == ["a.txt", "sub", "sub/b.txt"]
    (entry,) = [Entry.from_wire(e) for e in itself.result]
    assert (entry.path, entry.type, entry.size, entry.checksum) == ("a.txt", "file", 3, "00ff")


def test_missing_paths_and_paths_in_the_way_fail_with_their_codes() -> None:
    files = MemoryFiles()
    files.add_file("any:f", size=1)
    files.add_dir("any:d")

    codes = {
        "list missing": on(files, ItemKind.LIST, "nope").code,
        "mkdir through a file": on(files, ItemKind.MKDIR, "f/x").code,
        "remove a directory": on(files, ItemKind.REMOVE, "d").code,
        "copy a missing source": on(files, ItemKind.COPY, "x", src="nope").code,
        "copy onto a directory": on(files, ItemKind.COPY, "d", src="f").code,
        "metadata of a missing path": on(files, ItemKind.METADATA_GET, "nope").code,
    }

    assert codes == dict.fromkeys(codes, 404) | {
        "mkdir through a file": 409,
        "remove a directory": 409,
        "copy onto a directory": 409,
    }
    assert files.listing() == ["any:d/", "any:f"]


def test_copies_and_moves_make_parents_and_a_move_takes_the_tree() -> None:
    files = MemoryFiles()
    files.add_file("any:src/a", size=2, mtime_ns=5_000_000_000)
    files.add_file("any:tree/x/y", size=1)

    copied = on(files, ItemKind.COPY, "deep/er/a", src="src/a")
    moved = on(files, ItemKind.MOVE, "moved/tree", src="tree")

    assert (copied.ok, copied.size, moved.ok) == (True, 2, True)
    copy = files.get("any:deep/er/a")
    assert copy is not None
    assert (copy.size, copy.mtime_ns) == (2, 5_000_000_000)
    assert files.listing() == [
        "any:deep/",
        "any:deep/er/",
        "any:deep/er/a",
        "any:moved/",
        "any:moved/tree/",
        "any:moved/tree/x/",
        "any:moved/tree/x/y",
        "any:src/",
        "any:src/a",
    ]


def test_a_batch_runs_its_items_as_polls_come_and_a_cancel_stops_it() -> None:
    engine = FakeEngine(polls_to_finish=2)
    items = [Item(ItemKind.MKDIR, Target("any", f"d{i}")) for i in range(4)]

    async def scenario() -> tuple[list[bool], list[bool], list[Outcome]]:
        handle = await engine.submit(ItemKind.MKDIR, items)
        (first,) = await engine.poll([handle])
        await engine.cancel([handle])
        (second,) = await engine.poll([handle])
        outcomes = await engine.outcomes(handle, len(items))
        return (
            [first.done, first.succeeded],
            [second.done, second.succeeded],
            outcomes,
        )

    first, second, outcomes = asyncio.run(scenario())

    assert first == [False, False]
    assert second == [True, False]
    assert [o.ok for o in outcomes] == [True, True, False, False]
    assert outcomes[2].code is None  # not run, which is not a failure of the item
    assert engine.files.listing() == ["any:d0/", "any:d1/"]
    assert [c.method for c in engine.calls] == ["submit", "poll", "cancel", "poll", "outcomes"]
