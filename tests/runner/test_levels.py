"""walk_levels on small fakes: a tree from one-level listings, one call per level."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from planner.runner.levels import MAX_LEVELS, ListLevel, TooDeepError, walk_levels

Tree = dict[str, list[dict[str, Any]] | None]


def lister(tree: Tree, calls: list[list[str]]) -> ListLevel:
    async def list_level(level: Sequence[str]) -> list[list[dict[str, Any]] | None]:
        calls.append(list(level))
        return [tree.get(rel) for rel in level]

    return list_level


def d(name: str) -> dict[str, Any]:
    return {"name": name, "type": "dir"}


def f(name: str) -> dict[str, Any]:
    return {"name": name, "type": "file", "size": 1}


@pytest.mark.anyio
async def test_one_call_per_level_and_paths_relative_to_the_top() -> None:
    tree: Tree = {"": [d("a"), f("x")], "a": [d("b"), d("gone")], "a/b": [f("y")]}
    calls: list[list[str]] = []

    found = await walk_levels(lister(tree, calls))

    assert [path for path, _ in (found or [])] == ["a", "x", "a/b", "a/gone", "a/b/y"]
    assert calls == [[""], ["a"], ["a/b", "a/gone"]]


@pytest.mark.anyio
async def test_a_missing_top_is_none_and_a_loop_is_too_deep() -> None:
    assert await walk_levels(lister({}, [])) is None
    calls: list[list[str]] = []

    async def loop(level: Sequence[str]) -> list[list[dict[str, Any]] | None]:
        calls.append(list(level))
        return [[d("again")] for _ in level]

    with pytest.raises(TooDeepError, match="symlink loop"):
        await walk_levels(loop)
    assert len(calls) == MAX_LEVELS + 1
