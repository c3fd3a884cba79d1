"""Golden tests of `planner validate` for a copy or move into its own source (issue 10, item
23): refused with both paths named and an `exclude` suggested, compared resolved through
aliasing storages; allowed when `exclude` leaves out the destination, and then idempotent."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.cli import ONE_ERROR
from tests.helpers.trees import make_tree, tree_bytes

HEADER = """\
version: 1
storages:
  s: {remote: local, root: ./s}
  inner: {remote: local, root: ./s/a}
"""


def test_copy_into_its_own_source_is_refused_with_an_exclude_suggested(write_plan, run_cli) -> None:
    path = write_plan(HEADER + 'copies:\n  - {src: "s:a/", dst: "s:a/backup/"}\n')
    result = run_cli("validate", path)
    assert result.code == 2
    assert result.stdout.splitlines() == [
        f"{path}:6:24: error: copies[0].dst: 's:a/backup/' is inside the copy's source 's:a/': "
        'every run would copy the previous copy into itself; exclude it (exclude: ["/backup/"]) '
        "or copy elsewhere",
        ONE_ERROR,
    ]


def test_copy_into_its_source_through_an_aliasing_storage_is_refused(write_plan, run_cli) -> None:
    path = write_plan(HEADER + 'copies:\n  - {src: "s:a/", dst: "inner:old/runs/"}\n')
    result = run_cli("validate", path)
    assert result.code == 2
    assert result.stdout.splitlines() == [
        f"{path}:6:24: error: copies[0].dst: 'inner:old/runs/' is inside the copy's source "
        "'s:a/' (the storages overlap on 'local'): every run would copy the previous copy into "
        'itself; exclude it (exclude: ["/old/runs/"]) or copy elsewhere',
        ONE_ERROR,
    ]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            '{src: "s:a", dst: "s:a/"}',
            "23: error: copies[0].dst: 's:a/' is the copy's own source 's:a'",
        ),
        (
            '{src: "s:a/", dst: "s:a/b/", exclude: ["*.tmp"]}',
            "24: error: copies[0].dst: 's:a/b/' is inside the copy's source 's:a/': "
            "every run would copy the previous copy into itself;"
            ' exclude it (exclude: ["/b/"]) or copy elsewhere',
        ),
    ],
    ids=["same-path", "exclude-misses-the-destination"],
)
def test_copy_onto_or_into_itself_is_refused(write_plan, run_cli, entry: str, message: str) -> None:
    path = write_plan(HEADER + f"copies:\n  - {entry}\n")
    result = run_cli("validate", path)
    assert result.code == 2
    assert result.stdout.splitlines() == [
        f"{path}:6:{message}",
        ONE_ERROR,
    ]


def test_move_into_itself_is_refused(write_plan, run_cli) -> None:
    path = write_plan(HEADER + 'moves:\n  - {src: "s:m", dst: "s:m/n"}\n')
    result = run_cli("validate", path)
    assert result.code == 2
    assert result.stdout.splitlines() == [
        f"{path}:6:23: error: moves[0].dst: 's:m/n' is inside the move's source 's:m': "
        "a path cannot move into itself",
        ONE_ERROR,
    ]


def test_copies_beside_the_source_are_fine(write_plan, run_cli) -> None:
    path = write_plan(
        HEADER + 'copies:\n  - {src: "s:a/", dst: "s:ab/"}\n  - {src: "s:a/x", dst: "s:a/y"}\n'
    )
    result = run_cli("validate", path)
    assert result.code == 0, result.stdout


def test_excluded_destination_is_allowed_and_runs_idempotently(
    tmp_path: Path, write_plan, run_cli
) -> None:
    make_tree(tmp_path / "s" / "a", {"f.txt": b"f", "sub/g.txt": b"g"})
    path = write_plan(
        HEADER + 'copies:\n  - {src: "s:a/", dst: "s:a/backup/", exclude: ["/backup/"]}\n'
    )

    first = run_cli("run", path)
    second = run_cli("run", path)

    assert (first.code, second.code) == (0, 0), first.stderr + second.stderr
    assert tree_bytes(tmp_path / "s" / "a") == {
        "f.txt": b"f",
        "sub/g.txt": b"g",
        "backup/f.txt": b"f",
        "backup/sub/g.txt": b"g",
    }
