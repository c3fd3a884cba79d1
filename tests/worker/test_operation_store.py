"""The operation store on its own (a real SQLite file): ended groups are kept in memory as their
stored text, bounded in size, and are then answered, children included, from the database
exactly as they were."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from planner.worker import operations
from planner.worker.db import StateDB
from planner.worker.operations import OperationStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[OperationStore]:
    """An operation store on a real SQLite file, closed after the test."""
    opened = OperationStore(StateDB(tmp_path / "worker.db"))
    yield opened
    opened.db.close()


def finish(store: OperationStore, descriptions: list[str], result: object = None) -> str:
    group = store.create("alice", "test", descriptions)
    for item in group.items:
        assert store.start_unless_finished(item)
        store.succeed(item, result, ["any"])
    store.flush()
    return group.id


def test_ended_groups_leave_memory_by_size_and_answer_from_the_database(
    store: OperationStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    entries = [{"name": f"f{i}", "type": "file", "size": i} for i in range(8)]
    listing = finish(store, ["list any:t"], {"any:t": entries})
    live_view = store.get(listing)
    monkeypatch.setattr(operations, "ENDED_TEXT_IN_MEMORY", store.ended_size + 1)
    group = finish(store, ["mkdir a", "mkdir b", "mkdir c"])  # the listing no longer fits
    group_view = store.get(group, expand=True)

    assert listing not in store.ended
    assert store.get(listing) == live_view
    assert store.get(listing)["result"]["any:t"] == entries
    finish(store, [f"mkdir {i}" for i in range(20)])  # over the limit alone: stays, others go
    assert group not in store.ended
    assert store.get(group, expand=True) == group_view
    child = group_view["children"][2]
    assert store.get(child) == group_view["children_detail"][2]


def test_many_small_ended_operations_are_bounded_too(
    store: OperationStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = finish(store, ["mkdir 0"])
    size = store.ended_size
    monkeypatch.setattr(operations, "ENDED_TEXT_IN_MEMORY", 10 * size)
    ids = [first] + [finish(store, [f"mkdir {i}"]) for i in range(1, 100)]

    assert 8 <= len(store.ended) <= 10
    assert list(store.ended) == ids[-len(store.ended) :]
    assert store.ended_size <= 10 * size
    assert store.get(ids[0])["state"] == "succeeded"


def test_an_ended_group_answers_the_same_from_memory_as_it_did_live(
    store: OperationStore,
) -> None:
    group = store.create("alice", "test", ["mkdir a", "mkdir b"])
    for item in group.items:
        assert store.start_unless_finished(item)
        store.succeed(item, None, ["any"])
    live_view = store.get(group.id, expand=True)

    store.flush()

    assert group.id in store.ended
    assert group.id not in store.live
    assert store.get(group.id, expand=True) == live_view
    assert store.get(group.id, viewer="bob")["error"] == "unknown operation"
    assert store.is_visible(group.id, "alice")
    assert not store.is_visible(group.id, "bob")
