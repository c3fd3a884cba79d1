"""`GET /operations/{id}?view=outcome` (planner.operations.outcome): what tells how an operation's
items ended, equal to those fields of the full record, from a live group and from one written
to the database; per user as every read; over HTTP on a real worker, advertised only when on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from planner.api import wire
from planner.api.codes import ItemCode
from planner.worker.db import StateDB
from planner.worker.operations import OperationStore
from planner.worker.outcome_view import outcome
from planner.worker.records import UNKNOWN_ERROR
from tests.helpers.worker_api import run, sp
from tests.helpers.workers import running_worker

OUTCOME_FIELDS = ("id", "state", "progress_total", "result", "error", "error_detail", "info")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[OperationStore]:
    opened = OperationStore(StateDB(tmp_path / "worker.db"))
    yield opened
    opened.db.close()


def _ended_group(store: OperationStore) -> str:
    group = store.create("alice", "stat 3 items", ["stat a", "stat b", "stat c"])
    first, second, third = group.items
    for item in group.items:
        assert store.start_unless_finished(item)
    store.succeed(first, {"any:a": {"name": "a", "type": "file", "size": 3}})
    store.fail(second, ItemCode.NOT_FOUND, "any:b: no such file or directory")
    store.fail(third, ItemCode.TRANSIENT, "any:c: try again")
    return group.id


def _agrees_with_full(store: OperationStore, op_id: str) -> dict[str, Any]:
    full = store.get(op_id, True, "alice")
    view = outcome(store, op_id, "alice")
    for name in ("id", "state", "error", "error_detail", "info", "children", "progress_total"):
        assert view[name] == full[name], name
    assert view["result"] is None  # the children carry their own
    assert [{k: c[k] for k in OUTCOME_FIELDS} for c in full["children_detail"]] == [
        {k: c.get(k) if k != "info" else c.get(k, {}) for k in OUTCOME_FIELDS}
        for c in view["children_detail"]
    ]
    return view


def test_the_view_of_a_group_holds_its_childrens_outcomes_live_and_stored(
    store: OperationStore,
) -> None:
    op_id = _ended_group(store)

    live = _agrees_with_full(store, op_id)
    assert store.flush() == 1
    assert store.item(op_id) is None  # read back as stored now
    stored = _agrees_with_full(store, op_id)

    assert stored == live
    states = [c["state"] for c in stored["children_detail"]]
    assert states == ["succeeded", "failed", "failed"]
    assert stored["children_detail"][2]["info"] == {"transient": True}


def test_another_users_group_answers_as_an_unknown_id(store: OperationStore) -> None:
    op_id = _ended_group(store)
    for flushed in (False, True):
        if flushed:
            store.flush()
        view = outcome(store, op_id, "bob")
        assert view["error"] == UNKNOWN_ERROR
        assert view["children_detail"] is None
        assert outcome(store, op_id, None)["children_detail"]  # an admin sees it


def test_a_single_item_and_a_child_answer_their_full_record(store: OperationStore) -> None:
    single = store.create("alice", "mkdir a", ["mkdir a"])
    store.succeed(single.items[0])
    op_id = _ended_group(store)

    assert outcome(store, single.id, "alice") == store.get(single.id, True, "alice")
    child = f"{op_id}-1"
    assert outcome(store, child, "alice") == store.get(child, True, "alice")


def test_over_http_the_view_is_advertised_and_answers_a_stat_batch(tmp_path: Path) -> None:
    with running_worker(tmp_path) as worker:
        (worker.roots["data"] / "here.txt").write_text("x")
        with httpx.Client(base_url=worker.url, headers=worker.headers) as client:
            features = client.get("/").json()["features"]["operation_plugins"]
            assert wire.FEATURE_OUTCOME_VIEW in features
            body = {"operations": [sp("here.txt", "data"), sp("gone.txt", "data")]}
            full = run(client, "/storage:stat", body)
            answer = client.get(f"/operations/{full['id']}", params={"view": "outcome"})
            assert answer.status_code == 200, answer.text
            view = answer.json()
            wrong = client.get(f"/operations/{full['id']}", params={"view": "everything"})

    assert [c["state"] for c in view["children_detail"]] == ["succeeded", "failed"]
    assert view["children_detail"][0]["result"] == full["children_detail"][0]["result"]
    assert view["children_detail"][1]["error_detail"]["code"] == ItemCode.NOT_FOUND
    assert "description" not in view["children_detail"][0]
    parsed = wire.OperationOutcome.model_validate(view)
    assert parsed.children_detail is not None
    assert len(parsed.children_detail) == 2
    assert wrong.status_code == 400


def test_a_worker_without_the_view_neither_advertises_nor_honours_it(tmp_path: Path) -> None:
    with (
        running_worker(tmp_path, outcome_view=False) as worker,
        httpx.Client(base_url=worker.url, headers=worker.headers) as client,
    ):
        features = client.get("/").json()["features"]["operation_plugins"]
        full = run(client, "/storage:stat", {"operations": [sp("a", "data"), sp("b", "data")]})
        view = client.get(f"/operations/{full['id']}", params={"view": "outcome"}).json()

    assert wire.FEATURE_OUTCOME_VIEW not in features
    assert view["children_detail"][0]["description"]  # the full record, as without `view`
