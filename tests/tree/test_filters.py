"""The glob in the last segment of a removal, matched on plain names (what `planner/tree/filters.py`
selects; the include/exclude filters of a copy are tested with the expansion that uses them)."""

from __future__ import annotations

import pytest

from planner.tree.filters import match_removal

CHILDREN = ["core.1", "core.22", "core", "score.1", "core.d", ".hidden", "Core.3", "a/core.9"]


@pytest.mark.parametrize(
    ("pattern", "names"),
    [
        ("core.*", ["core.1", "core.22", "core.d"]),
        ("core.?", ["core.1", "core.d"]),
        ("*", [".hidden", "Core.3", "core", "core.1", "core.22", "core.d", "score.1"]),
        ("[Cs]*", ["Core.3", "score.1"]),
        ("[!c]*", [".hidden", "Core.3", "score.1"]),
        ("core", ["core"]),
        ("nothing*", []),
    ],
)
def test_match_removal_matches_direct_children_with_fnmatch(pattern: str, names: list[str]) -> None:
    assert match_removal(CHILDREN, pattern) == names


def test_match_removal_takes_any_iterable_of_names() -> None:
    assert match_removal(iter(CHILDREN), "core*") == ["core", "core.1", "core.22", "core.d"]


@pytest.mark.parametrize("pattern", ["", "a/*"])
def test_match_removal_rejects_a_pattern_that_is_not_one_segment(pattern: str) -> None:
    with pytest.raises(ValueError, match=r"must be one non-empty path segment$"):
        match_removal(CHILDREN, pattern)
