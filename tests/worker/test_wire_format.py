"""The worker's hand-built JSON (fast paths) matches what the wire models produce."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from planner.api.wire import CopyRequest, ListEntry, OperationsRequest
from planner.worker.handlers import rfc3339_ns
from planner.worker.requests import read_pairs, read_places


@settings(deadline=None)
@given(st.integers(min_value=0, max_value=4_000_000_000 * 10**9), st.booleans())
def test_list_entry_mtime_is_written_as_the_models_write_it(ns: int, whole: bool) -> None:
    if whole:
        ns -= ns % 10**9
    seconds, rest = divmod(ns, 10**9)
    moment = datetime.fromtimestamp(seconds, UTC) + timedelta(microseconds=rest // 1000)
    assert rfc3339_ns(ns) == ListEntry(name="f", mtime=moment).model_dump(mode="json")["mtime"]


_place = st.fixed_dictionaries(
    {},
    optional={
        "path": st.one_of(st.none(), st.text(max_size=5)),
        "remote": st.one_of(st.none(), st.text(max_size=5)),
        "extra": st.integers(),
    },
)


@settings(deadline=None)
@given(st.lists(st.fixed_dictionaries({"src": _place, "dst": _place}), max_size=5))
def test_fast_pair_reading_agrees_with_the_models(operations: list[dict[str, object]]) -> None:
    fast = read_pairs({"operations": operations})
    assert fast is not None
    slow = CopyRequest.model_validate({"operations": operations}).operations
    assert [(p.src.remote, p.src.path, p.dst.remote, p.dst.path) for p in fast] == [
        (p.src.remote, p.src.path, p.dst.remote, p.dst.path) for p in slow
    ]


@settings(deadline=None)
@given(st.lists(_place, max_size=5))
def test_fast_path_reading_agrees_with_the_models(operations: list[dict[str, object]]) -> None:
    fast = read_places({"operations": operations})
    assert fast is not None
    slow = OperationsRequest.model_validate({"operations": operations}).operations
    assert [(p.remote, p.path) for p in fast] == [(p.remote, p.path) for p in slow]


def test_bodies_of_another_shape_are_left_to_the_models() -> None:
    bodies: tuple[Any, ...] = (
        [],
        {"operations": {}},
        {"operations": [1]},
        {"operations": [{"path": 3}]},
        {"operations": [{"src": {"path": "a"}}]},
    )
    for body in bodies:
        assert read_places(body) is None or read_pairs(body) is None
    assert read_pairs({"operations": [{"src": {}, "dst": {"remote": 1}}]}) is None
    assert read_places({"operations": [{"path": ["a"]}]}) is None
