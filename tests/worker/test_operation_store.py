"""The operation store on its own (a real SQLite file): ended groups leave memory by weight and
are then answered, children included, from the database exactly as they were."""

from __future__ import annotations

from pathlib import Path

import pytest

from planner.worker import operations
from planner.worker.db import StateDB
from planner.worker.operations import OperationStore


def finish(store: OperationStore, descriptions: list[str], result: object = None) -> str:
    group = store.create("alice", "test", descriptions)
    for item in group.items:
        assert store.start_unless_finished(item)
        store.succeed(item, result, ["any"])
    store.flush()
    return group.id


def test_ended_groups_leave_memory_by_weight_and_answer_from_the_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(operations, "ENDED_WEIGHT_IN_MEMORY", 10)
    monkeypatch.setattr(operations, "GROUP_WEIGHT", 0)  # items and entries only, here
    store = OperationStore(StateDB(tmp_path / "worker.db"))
    entries = [{"name": f"f{i}", "type": "file", "size": i} for i in range(8)]
    listing = finish(store, ["list any:t"], {"any:t": entries})  # weight 1 + 8
    live_view = store.get(listing)
    group = finish(store, ["mkdir a", "mkdir b", "mkdir c"])  # weight 3: 12 > 10
    group_view = store.get(group, expand=True)

    assert listing not in store.ended
    assert store.get(listing) == live_view
    assert store.get(listing)["result"]["any:t"] == entries
    finish(store, [f"mkdir {i}" for i in range(20)])  # over the limit alone: stays, others go
    assert group not in store.ended
    assert store.get(group, expand=True) == group_view
    child = group_view["children"][2]
    assert store.get(child) == group_view["children_detail"][2]


def test_many_small_ended_operations_are_bounded_by_their_own_weight_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(operations, "ENDED_WEIGHT_IN_MEMORY", 60)
    store = OperationStore(StateDB(tmp_path / "worker.db"))
    ids = [finish(store, [f"mkdir {i}"]) for i in range(100)]

    assert list(store.ended) == ids[-(60 // (operations.GROUP_WEIGHT + 1)) :]
    assert store.get(ids[0])["state"] == "succeeded"
