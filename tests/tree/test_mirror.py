"""planner/tree/mirror.py: what a mirror deletes, from two listings (the runner's item path)."""

from __future__ import annotations

from planner.tree.entry import Entry
from planner.tree.filters import Filters
from planner.tree.mirror import Deletion, SourceSide, mirror_deletions, too_many_deletions
from planner.tree.policies import Symlinks


def f(path: str, size: int = 1, link: bool = False) -> Entry:
    return Entry(path, "file", size, 0, None, link)


def d(path: str, link: bool = False) -> Entry:
    return Entry(path, "dir", 0, 0, None, link)


def deletions(
    source: list[Entry],
    existing: list[Entry],
    *,
    include: tuple[str, ...] = (),
    exclude: tuple[str, ...] = (),
    symlinks: Symlinks = "follow",
    delete_excluded: bool = False,
    skipped: tuple[str, ...] = (),
) -> list[Deletion]:
    filters = Filters(include, exclude)
    side = SourceSide.of(source, filters=filters, symlinks=symlinks, skipped=skipped)
    return mirror_deletions(side, existing, filters=filters, delete_excluded=delete_excluded)


def test_what_the_source_has_stays_and_the_rest_goes_directories_whole() -> None:
    source = [f("a"), d("sub"), f("sub/b")]
    existing = [f("a"), f("x", 5), d("sub"), f("sub/b"), f("sub/c", 2), d("old"), d("old/deep")]
    existing += [f("old/deep/y", 3), f("old/z", 4)]

    assert deletions(source, existing) == [
        Deletion("old", "dir", 4, 7),
        Deletion("sub/c", "file", 1, 2),
        Deletion("x", "file", 1, 5),
    ]


def test_excluded_files_and_the_directories_holding_them_are_protected() -> None:
    existing = [f("keep.tmp"), d("old"), f("old/cache.tmp"), f("old/y"), d("gone"), f("gone/z")]

    assert deletions([], existing, exclude=("*.tmp",)) == [
        Deletion("gone", "dir", 2, 1),
        Deletion("old/y", "file", 1, 1),
    ]
    assert [x.path for x in deletions([], existing, exclude=("*.tmp",), delete_excluded=True)] == [
        "gone",
        "keep.tmp",
        "old",
    ]


def test_a_source_path_left_out_protects_its_destination_twin() -> None:
    source = [f("link", link=True)]
    existing = [f("link"), f("pipe"), f("other")]

    assert [x.path for x in deletions(source, existing, symlinks="skip", skipped=("pipe",))] == [
        "other"
    ]


def test_a_destination_link_goes_as_itself_and_what_lies_behind_it_is_not_looked_at() -> None:
    existing = [d("l", link=True), f("l/x", link=True), f("fl", 9, link=True)]

    assert deletions([], existing) == [
        Deletion("fl", "file", 1, 0, link=True),
        Deletion("l", "dir", 1, 0, link=True),
    ]


def test_the_refusal_names_the_count_and_the_limit() -> None:
    assert too_many_deletions(3, None) is None
    assert too_many_deletions(3, 3) is None
    assert too_many_deletions(4, 3) == (
        "mirror: 4 deletions needed, more than max_delete 3: nothing deleted"
    )
    assert too_many_deletions(1, 0) == (
        "mirror: 1 deletion needed, more than max_delete 0: nothing deleted"
    )
