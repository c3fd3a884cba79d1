"""Directory copies expanded into file items: wire entries, include/exclude filters, overwrite
policies, symlinks, conflicts, determinism, and removal globs."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pathspec import GitIgnoreSpec

from planner.tree.decide import Decision, Expansion, decide_fields, decide_file, expand_directory
from planner.tree.entry import Entry, listing_from_wire
from planner.tree.filters import Filters
from planner.tree.policies import Overwrite, Symlinks

T0 = 1_780_000_000_000_000_000  # an mtime in ns, a whole second
US = 1_000  # one microsecond in ns


def file(path: str, size: int = 10, mtime_ns: int = T0, checksum: str | None = None) -> Entry:
    return Entry(path, "file", size, mtime_ns, checksum)


def directory(path: str, *, is_link: bool = False) -> Entry:
    return Entry(path, "dir", 0, T0, None, is_link)


def link(path: str, size: int = 10) -> Entry:
    return Entry(path, "file", size, T0, None, is_link=True)


def expand(
    src: list[Entry],
    dst: list[Entry] | None = None,
    *,
    include: list[str] | None = None,
    exclude: list[str] | None = None,
    overwrite: Overwrite = "if-different",
    checksum: bool = False,
    symlinks: Symlinks = "follow",
) -> Expansion:
    return expand_directory(
        src,
        dst or [],
        filters=Filters(include or [], exclude or []),
        overwrite=overwrite,
        checksum=checksum,
        symlinks=symlinks,
    )


# -- wire entries ---------------------------------------------------------------------------


def test_entry_from_wire_reads_every_field() -> None:
    entry = Entry.from_wire(
        {
            "name": "out/a.h5",
            "type": "file",
            "size": 42,
            "mtime": "2026-11-22T10:00:00.123456Z",
            "checksum": "00AB12CD34EF5678",
            "link": True,
        }
    )
    expected_ns = int(datetime(2026, 11, 22, 10, tzinfo=UTC).timestamp()) * 10**9 + 123_456_000
    assert entry == Entry("out/a.h5", "file", 42, expected_ns, "00ab12cd34ef5678", is_link=True)


@pytest.mark.parametrize("extra", [{}, {"link": None}, {"link": False}, {"checksum": None}])
def test_entry_from_wire_treats_missing_link_and_checksum_as_absent(extra: dict[str, Any]) -> None:
    raw = {"name": "a", "type": "file", "size": 1, "mtime": "2026-01-01T00:00:00Z"} | extra
    entry = Entry.from_wire(raw)
    assert not entry.is_link
    assert entry.checksum is None


def test_entry_from_wire_converts_offsets_to_utc() -> None:
    def mtime(text: str) -> int:
        return Entry.from_wire({"name": "a", "type": "file", "size": 0, "mtime": text}).mtime_ns

    assert mtime("2026-01-01T02:00:00.5+02:00") == mtime("2026-01-01T00:00:00.500000Z")
    assert mtime("2026-01-01T00:00:00+00:00") == mtime("2026-01-01T00:00:00Z")


@pytest.mark.parametrize(
    ("fraction", "ns"),
    [("", 0), (".1", 100_000_000), (".123456", 123_456_000), (".1234567", 123_456_700),
     (".123456789", 123_456_789), (".1234567891", 123_456_789)],
)  # fmt: skip
def test_entry_from_wire_keeps_sub_second_precision_to_the_nanosecond(
    fraction: str, ns: int
) -> None:
    raw = {"name": "a", "type": "file", "size": 0, "mtime": f"1970-01-01T00:00:07{fraction}Z"}
    assert Entry.from_wire(raw).mtime_ns == 7 * 10**9 + ns


def test_entry_from_wire_accepts_a_directory_without_size_or_mtime() -> None:
    assert Entry.from_wire({"name": "d/e", "type": "dir"}) == Entry("d/e", "dir", 0, 0, None)


GOOD = {"name": "a/b", "type": "file", "size": 1, "mtime": "2026-01-01T00:00:00Z"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": None}, "'name' must be a non-empty string"),
        ({"name": ""}, "'name' must be a non-empty string"),
        ({"name": 7}, "'name' must be a non-empty string"),
        ({"name": "/abs"}, "'/abs': 'name' must be a relative path"),
        ({"name": "a//b"}, "'name' must be a relative path"),
        ({"name": "a/"}, "'name' must be a relative path"),
        ({"name": "a/../b"}, "'name' must be a relative path"),
        ({"name": "./a"}, "'name' must be a relative path"),
        ({"name": ".."}, "'name' must be a relative path"),
        ({"name": "a\0b"}, "'name' must be a relative path"),
        ({"type": "symlink"}, "'a/b': 'type' must be 'file' or 'dir'"),
        ({"type": None}, "'type' must be 'file' or 'dir'"),
        ({"size": None}, "'size' must be an integer >= 0"),
        ({"size": -1}, "'size' must be an integer >= 0"),
        ({"size": "3"}, "'size' must be an integer >= 0"),
        ({"size": True}, "'size' must be an integer >= 0"),
        ({"size": 1.0}, "'size' must be an integer >= 0"),
        ({"mtime": None}, "'mtime' must be an RFC 3339 string"),
        ({"mtime": 1700000000}, "'mtime' must be an RFC 3339 string"),
        ({"mtime": "2026-01-01T00:00:00"}, "is not an RFC 3339 timestamp with a timezone"),
        ({"mtime": "yesterday"}, "'mtime' 'yesterday' is not an RFC 3339 timestamp"),
        ({"mtime": "2026-13-01T00:00:00Z"}, "is not an RFC 3339 timestamp"),
        ({"checksum": "xyz"}, "'checksum' must be a hex string"),
        ({"checksum": ""}, "'checksum' must be a hex string"),
        ({"checksum": 12}, "'checksum' must be a hex string"),
        ({"link": "yes"}, "'link' must be a boolean"),
    ],
)
def test_entry_from_wire_rejects_a_malformed_entry(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=r"^malformed list entry .*" + re.escape(message)):
        Entry.from_wire(GOOD | change)


def test_entry_from_wire_requires_size_and_mtime_of_a_file() -> None:
    with pytest.raises(ValueError, match=r"'size' must be"):
        Entry.from_wire({"name": "a", "type": "file", "mtime": "2026-01-01T00:00:00Z"})
    with pytest.raises(ValueError, match=r"'mtime' must be"):
        Entry.from_wire({"name": "a", "type": "file", "size": 1})


@pytest.mark.parametrize("raw", ["a/b", ["a", "file"], None, 3])
def test_entry_from_wire_rejects_a_non_object(raw: Any) -> None:
    with pytest.raises(ValueError, match=r"^malformed list entry .*: expected an object$"):
        Entry.from_wire(raw)


def test_listing_from_wire_parses_every_entry_and_rejects_a_non_array() -> None:
    assert listing_from_wire([GOOD, {"name": "a", "type": "dir"}]) == [
        Entry.from_wire(GOOD),
        Entry("a", "dir", 0, 0, None),
    ]
    with pytest.raises(ValueError, match=r"^malformed listing: expected an array of entries, got"):
        listing_from_wire({"entries": []})
    with pytest.raises(ValueError, match=r"^malformed list entry 'x'"):
        listing_from_wire([GOOD, {"name": "x"}])


# -- include / exclude ----------------------------------------------------------------------


def accepted(
    paths: list[str], include: list[str] | None = None, exclude: list[str] | None = None
) -> list[str]:
    filters = Filters(include or [], exclude or [])
    return [p for p in paths if filters.accepts(p)]


def test_filters_without_patterns_accept_everything() -> None:
    filters = Filters([], [])
    assert filters.accepts_everything
    assert filters.accepts("a")
    assert filters.accepts("deep/down/.hidden")
    assert not Filters(["*.h5"], []).accepts_everything


def test_include_without_a_slash_matches_at_any_depth() -> None:
    paths = ["a.h5", "run/a.h5", "run/1/b.h5", "a.h5.bak", "run/a.csv", "A.H5"]
    assert accepted(paths, include=["*.h5"]) == ["a.h5", "run/a.h5", "run/1/b.h5"]


def test_a_leading_slash_anchors_a_pattern_to_the_top_of_src() -> None:
    paths = ["top.txt", "sub/top.txt"]
    assert accepted(paths, include=["/top.txt"]) == ["top.txt"]
    assert accepted(paths, exclude=["/top.txt"]) == ["sub/top.txt"]


def test_a_slash_inside_a_pattern_anchors_it_too() -> None:
    paths = ["results/a.csv", "old/results/a.csv", "results/deep/a.csv"]
    assert accepted(paths, include=["results/*.csv"]) == ["results/a.csv"]
    assert accepted(paths, include=["**/results/*.csv"]) == ["results/a.csv", "old/results/a.csv"]


def test_double_star_matches_any_number_of_directories() -> None:
    paths = ["a.csv", "x/a.csv", "x/y/z/a.csv", "a/b", "a/x/y/b", "logs/1/2.txt", "other/b"]
    assert accepted(paths, include=["**/*.csv"]) == ["a.csv", "x/a.csv", "x/y/z/a.csv"]
    assert accepted(paths, include=["a/**/b"]) == ["a/b", "a/x/y/b"]
    assert accepted(paths, include=["logs/**"]) == ["logs/1/2.txt"]


def test_a_directory_pattern_excludes_everything_below_at_any_depth() -> None:
    paths = ["build/x.o", "build/deep/y.o", "src/build/z.o", "build", "builder/a", "src/main.c"]
    assert accepted(paths, exclude=["build/"]) == ["build", "builder/a", "src/main.c"]
    kept = ["src/build/z.o", "build", "builder/a", "src/main.c"]
    assert accepted(paths, exclude=["/build/"]) == kept


def test_a_directory_pattern_in_include_selects_everything_below() -> None:
    paths = ["results/a", "results/b/c", "results.txt", "x/results/d"]
    assert accepted(paths, include=["results/"]) == ["results/a", "results/b/c", "x/results/d"]


def test_a_negation_in_exclude_keeps_a_file() -> None:
    paths = ["a.tmp", "keep.tmp", "sub/keep.tmp", "sub/b.tmp", "c.txt"]
    assert accepted(paths, exclude=["*.tmp", "!keep.tmp"]) == ["keep.tmp", "sub/keep.tmp", "c.txt"]


def test_the_last_matching_pattern_decides() -> None:
    paths = ["a.tmp", "keep.tmp"]
    assert accepted(paths, exclude=["!keep.tmp", "*.tmp"]) == []


def test_a_negation_can_take_a_file_back_from_an_excluded_directory() -> None:
    # Unlike git itself, which never looks inside an ignored directory: we match file paths.
    paths = ["build/x.o", "build/keep.txt"]
    assert accepted(paths, exclude=["build/", "!build/keep.txt"]) == ["build/keep.txt"]


def test_a_negated_directory_does_not_take_back_files_a_file_pattern_excludes() -> None:
    # git's priority rule, which pathspec's GitIgnoreSpec replicates.
    paths = ["logs/a.log", "x/a.log", "logs/a.txt"]
    assert accepted(paths, exclude=["*.log", "!logs/"]) == ["logs/a.txt"]


def test_a_star_matches_hidden_files() -> None:
    assert accepted([".env", "a/.cache.tmp", "a/b"], exclude=["*.tmp", ".*"]) == ["a/b"]


def test_include_and_exclude_combine() -> None:
    paths = ["a.h5", "scratch/b.h5", "c.csv", "d/e.csv", "f.txt"]
    got = accepted(paths, include=["*.h5", "**/*.csv"], exclude=["scratch/"])
    assert got == ["a.h5", "c.csv", "d/e.csv"]


def test_an_include_list_of_negations_only_selects_nothing() -> None:
    assert accepted(["a.tmp", "b.txt"], include=["!*.tmp"]) == []


def test_a_backslash_escapes_a_leading_hash() -> None:
    assert accepted(["#notes", "x/#notes", "notes"], include=["\\#notes"]) == ["#notes", "x/#notes"]


@pytest.mark.parametrize(
    ("include", "exclude", "message"),
    [
        ([""], [], "^include: pattern '' can never match"),
        (["  "], [], "^include: pattern '  ' can never match"),
        ([], ["# old files"], "^exclude: pattern '# old files' can never match"),
        ([], ["*.tmp", "a["], r"^exclude: pattern 'a\[' can never match"),
        ([], ["!"], "^exclude: invalid pattern '!'$"),
    ],
)
def test_filters_reject_a_pattern_that_cannot_work(
    include: list[str], exclude: list[str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Filters(include, exclude)


def test_filters_refuse_a_single_string_for_a_list() -> None:
    with pytest.raises(TypeError, match=r"^exclude: expected a list of patterns, got the string"):
        Filters([], "*.tmp")


PIECES = ["*", "**", "a", "b", ".tmp", "?", "[ab]", "[!a]", "/", "\\*"]
SEGMENTS = ["a", "b", "ab", "x.tmp", "a.tmp", ".tmp", "build", "keep"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    patterns=st.lists(
        st.tuples(st.booleans(), st.lists(st.sampled_from(PIECES), min_size=1, max_size=4)),
        min_size=1,
        max_size=4,
    ),
    paths=st.lists(
        st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=4), min_size=1, max_size=8
    ),
)
def test_the_fast_path_agrees_with_pathspec(
    patterns: list[tuple[bool, list[str]]], paths: list[list[str]]
) -> None:
    lines = [("!" if negate else "") + "".join(pieces) for negate, pieces in patterns]
    try:
        filters = Filters([], lines)
    except ValueError:
        return  # a pattern pathspec rejects or ignores
    spec = GitIgnoreSpec.from_lines(lines)
    for segments in paths:
        path = "/".join(segments)
        assert filters.accepts(path) is not spec.match_file(path), (lines, path)
        assert Filters(lines, []).accepts(path) is spec.match_file(path), (lines, path)


# -- overwrite policies ---------------------------------------------------------------------


SAME = file("a", 10, T0)


@pytest.mark.parametrize("overwrite", ["always", "never", "if-newer", "if-different"])
@pytest.mark.parametrize("checksum", [False, True])
def test_a_file_absent_at_the_destination_is_new(overwrite: Overwrite, checksum: bool) -> None:
    assert decide_file(SAME, None, overwrite=overwrite, checksum=checksum) == "new"


@pytest.mark.parametrize(
    ("dst", "always", "never", "if_newer", "if_different"),
    [
        (file("a", 10, T0), "always", None, None, None),
        (file("a", 11, T0), "always", None, None, "changed"),
        (file("a", 10, T0 - 1_000 * US), "always", None, "newer", "changed"),
        (file("a", 10, T0 + 1_000 * US), "always", None, None, "changed"),
        (file("a", 10, T0 + US), "always", None, None, "changed"),
        (file("a", 10, T0 + US - 1), "always", None, None, None),  # same microsecond
    ],
    ids=["identical", "size", "older-dst", "newer-dst", "one-us", "sub-us"],
)
def test_each_policy_against_an_existing_file(
    dst: Entry, always: str, never: None, if_newer: str | None, if_different: str | None
) -> None:
    def decide(overwrite: Overwrite) -> str | None:
        return decide_file(SAME, dst, overwrite=overwrite, checksum=False)

    assert decide("always") == always
    assert decide("never") == never
    assert decide("if-newer") == if_newer
    assert decide("if-different") == if_different


def test_if_newer_compares_at_microsecond_precision() -> None:
    src = file("a", mtime_ns=T0 + 999)
    assert decide_file(src, file("a", mtime_ns=T0), overwrite="if-newer", checksum=False) is None
    newer = file("a", mtime_ns=T0 + US)
    assert decide_file(newer, file("a"), overwrite="if-newer", checksum=False) == "newer"


@pytest.mark.parametrize(
    ("src", "dst", "reason"),
    [
        (file("a", 10, T0, "aa"), file("a", 10, T0 + 5 * US, "aa"), None),
        (file("a", 10, T0, "aa"), file("a", 10, T0, "bb"), "changed"),
        (file("a", 10, T0, "aa"), file("a", 11, T0, "aa"), "changed"),
        (file("a", 10, T0, None), file("a", 10, T0, "bb"), None),
        (file("a", 10, T0, "aa"), file("a", 10, T0 + US, None), "changed"),
        (file("a", 10, T0, None), file("a", 10, T0, None), None),
    ],
    ids=["same-hash-other-mtime", "other-hash", "other-size", "src-unknown-same-mtime",
         "dst-unknown-other-mtime", "both-unknown"],
)  # fmt: skip
def test_if_different_with_checksum_compares_content(
    src: Entry, dst: Entry, reason: str | None
) -> None:
    assert decide_file(src, dst, overwrite="if-different", checksum=True) == reason


def test_checksums_are_ignored_without_checksum() -> None:
    src, dst = file("a", checksum="aa"), file("a", checksum="bb")
    assert decide_file(src, dst, overwrite="if-different", checksum=False) is None


@pytest.mark.parametrize("overwrite", ["always", "never", "if-newer", "if-different"])
def test_a_directory_in_the_way_is_a_conflict(overwrite: Overwrite) -> None:
    assert decide_file(SAME, directory("a"), overwrite=overwrite, checksum=True) == "conflict"


def test_decide_file_rejects_a_directory_source() -> None:
    with pytest.raises(ValueError, match=r"^'d' is a directory, not a file$"):
        decide_file(directory("d"), None, overwrite="always", checksum=False)


# -- directory expansion --------------------------------------------------------------------


def test_expansion_sorts_files_into_copies_and_unchanged() -> None:
    src = [
        directory("out"),
        file("out/new.h5", 5),
        file("out/same.h5", 7),
        file("out/grown.h5", 9),
        file("top.txt", 1),
        directory("empty"),
    ]
    dst = [file("out/same.h5", 7), file("out/grown.h5", 8), file("top.txt", 1), file("gone")]
    got = expand(src, dst)
    assert got == Expansion(
        to_copy=[Decision("out/grown.h5", 9, "changed"), Decision("out/new.h5", 5, "new")],
        unchanged=["out/same.h5", "top.txt"],
        filtered=0,
        directories=["out"],
    )
    assert got.bytes_to_copy == 14


def test_a_second_run_after_copying_changes_nothing() -> None:
    src = [file("a", 1), file("d/b", 2), file("d/e/c", 3)]
    got = expand(src, src)
    assert got.to_copy == []
    assert got.unchanged == ["a", "d/b", "d/e/c"]
    assert got.directories == ["d", "d/e"]


def test_filtered_files_are_counted_and_directories_are_not() -> None:
    src = [directory("scratch"), file("scratch/x.h5"), file("a.h5"), file("b.tmp"), file("c.txt")]
    got = expand(src, include=["*.h5", "*.tmp"], exclude=["scratch/", "*.tmp"])
    assert [d.path for d in got.to_copy] == ["a.h5"]
    assert got.filtered == 3
    assert got.directories == []


@pytest.mark.parametrize(
    ("overwrite", "copied"),
    [("always", ["a", "b", "c"]), ("never", ["c"]), ("if-newer", ["b", "c"]),
     ("if-different", ["a", "b", "c"])],
)  # fmt: skip
def test_expansion_applies_the_overwrite_policy(overwrite: Overwrite, copied: list[str]) -> None:
    src = [file("a", 1, T0), file("b", 1, T0 + US), file("c")]
    dst = [file("a", 1, T0 + US), file("b", 1, T0)]
    got = expand(src, dst, overwrite=overwrite)
    assert [d.path for d in got.to_copy] == copied
    assert sorted(got.unchanged + copied) == ["a", "b", "c"]


def test_comparisons_lacking_a_checksum_are_listed_for_hashing() -> None:
    src = [file("known", 1, T0, "aa"), file("unknown", 1, T0, None), file("resized", 1, T0, None),
           file("stale", 1, T0 + US, None), file("new", 1, T0, None)]  # fmt: skip
    dst = [file("known", 1, T0 + US, "aa"), file("unknown", 1, T0, "bb"), file("resized", 2),
           file("stale", 1, T0, "cc")]  # fmt: skip
    got = expand(src, dst, checksum=True)
    assert [(d.path, d.reason) for d in got.to_copy] == [
        ("new", "new"),
        ("resized", "changed"),
        ("stale", "changed"),
    ]
    assert got.unchanged == ["known", "unknown"]
    assert got.unhashed == ["stale", "unknown"]  # sizes equal, a checksum missing
    assert got.compared == 1  # "known": both checksums known
    assert expand(src, dst, checksum=False).unhashed == []


def test_symlinks_follow_copies_linked_files_and_directories() -> None:
    src = [file("a"), link("ln"), directory("ld", is_link=True), link("ld/x"), link("ld/s/y")]
    got = expand(src, symlinks="follow")
    assert [d.path for d in got.to_copy] == ["a", "ld/s/y", "ld/x", "ln"]
    assert got.filtered == 0


def test_symlinks_skip_drops_links_and_everything_below_a_linked_directory() -> None:
    # "ld/unflagged" lacks the flag a worker sets below a linked directory: dropped all the same.
    src = [file("a"), link("ln"), directory("ld", is_link=True), link("ld/x"),
           file("ld/unflagged"), file("ldx/kept"), directory("d"), file("d/b")]  # fmt: skip
    got = expand(src, symlinks="skip")
    assert [d.path for d in got.to_copy] == ["a", "d/b", "ldx/kept"]
    assert got.filtered == 3
    assert got.directories == ["d", "ldx"]


def test_a_destination_directory_where_the_source_has_a_file_is_listed_as_a_conflict() -> None:
    got = expand([file("a"), file("b")], [directory("a"), file("b")], overwrite="never")
    assert got.to_copy == [Decision("a", 10, "conflict")]
    assert got.unchanged == ["b"]


def test_a_destination_file_where_the_source_has_a_directory_is_a_conflict_below() -> None:
    src = [directory("d"), file("d/x"), directory("d/e"), file("d/e/y"), file("ok/z")]
    got = expand(src, [file("d"), file("d/x")])
    assert [(d.path, d.reason) for d in got.to_copy] == [
        ("d/e/y", "conflict"),
        ("d/x", "conflict"),
        ("ok/z", "new"),
    ]


def test_expansion_is_deterministic_whatever_the_listing_order() -> None:
    rng = random.Random(7)
    src = [file(f"d{i % 5}/f{i}", i, T0 + (i % 3) * US) for i in range(200)]
    dst = [file(f"d{i % 5}/f{i}", i, T0) for i in range(0, 200, 2)]
    first = expand(src, dst, exclude=["f1*"])
    for _ in range(5):
        rng.shuffle(src)
        rng.shuffle(dst)
        assert expand(src, dst, exclude=["f1*"]) == first
    assert [d.path for d in first.to_copy] == sorted(d.path for d in first.to_copy)


def test_an_empty_source_expands_to_nothing() -> None:
    assert expand([], [file("x")]) == Expansion([], [], 0, [])


def test_a_hundred_thousand_entries_expand() -> None:
    raw_src = [
        {
            "name": f"d{i % 100}/s{i % 7}/f{i}.{'tmp' if i % 10 == 0 else 'h5'}",
            "type": "file",
            "size": i % 1000,
            "mtime": f"2026-01-02T03:04:{i % 60:02d}.{i:06d}Z",
            "checksum": f"{i:016x}",
        }
        for i in range(100_000)
    ]
    raw_src += [
        {"name": f"d{i}", "type": "dir", "mtime": "2026-01-01T00:00:00Z"} for i in range(100)
    ]
    src = listing_from_wire(raw_src)
    dst = listing_from_wire(raw_src[:50_000:2])
    got = expand_directory(
        src,
        dst,
        filters=Filters(["*.h5", "*.tmp"], ["*.tmp", "!keep.tmp", "/d99/"]),
        overwrite="if-different",
        checksum=True,
        symlinks="skip",
    )
    # Every tenth file is *.tmp (all of d0, d10, ..., d90), and /d99/ holds 1,000 other files.
    assert got.filtered == 10_000 + 1_000
    # The destination holds the even files below 50,000; a fifth of those are *.tmp.
    assert len(got.unchanged) == 25_000 - 5_000
    assert len(got.to_copy) == 100_000 - 11_000 - 20_000
    assert got.unhashed == []
    assert len(got.directories) == (99 - 10) * (1 + 7)  # d<k> and its s0..s6


@given(
    size=st.integers(0, 3),
    mtime_ns=st.integers(0, 3000),
    dst=st.none()
    | st.tuples(st.sampled_from(["file", "dir"]), st.integers(0, 3), st.integers(0, 3000)),
    overwrite=st.sampled_from(["always", "never", "if-newer", "if-different"]),
)
def test_decide_fields_decides_as_decide_file_without_checksums(
    size: int, mtime_ns: int, dst: tuple[str, int, int] | None, overwrite: Overwrite
) -> None:
    source = Entry("a", "file", size, mtime_ns, None)
    target = None if dst is None else Entry("a", dst[0], dst[1], dst[2], None)  # type: ignore[arg-type]
    fields = None if dst is None else (dst[0] == "file", dst[1], dst[2])
    expected = decide_file(source, target, overwrite=overwrite, checksum=False)
    assert decide_fields(size, mtime_ns, fields, overwrite=overwrite) == expected
