"""Golden tests of `planner validate` for semantic problems: storages, path syntax, globs,
`needs`, cycles and conflicting writers."""

from __future__ import annotations

from tests.helpers.cli import ONE_ERROR


def test_undeclared_storage_suggests_or_lists_the_declared_ones(write_plan, run_cli) -> None:
    path = write_plan(
        """
        version: 1
        storages:
          scratch: {remote: local}
          archive: {remote: any}
        copies:
          - src: scrach:a
            dst: zzz:b
        checks:
          - exists: archiv:x
        """
    )
    result = run_cli("validate", path)
    assert result.code == 2
    assert result.stdout.splitlines() == [
        f"{path}:6:10: error: copies[0].src: unknown storage 'scrach' (did you mean 'scratch'?)",
        f"{path}:7:10: error: copies[0].dst: unknown storage 'zzz'; declared: archive, scratch",
        f"{path}:9:13: error: checks[0].exists: unknown storage 'archiv' (did you mean 'archive'?)",
        "Found 3 errors in 1 of 1 plan.",
    ]


def test_dot_dot_segment_is_rejected(write_plan, run_cli) -> None:
    path = write_plan(
        """
        version: 1
        storages:
          scratch: {remote: local}
        copies:
          - src: scratch:a
            dst: scratch:a/../b
        """
    )
    result = run_cli("validate", path)
    assert result.code == 2
    assert result.stdout.splitlines() == [
        f"{path}:6:10: error: copies[0].dst: invalid path 'scratch:a/../b': "
        "'..' segments are not allowed",
        ONE_ERROR,
    ]


def test_empty_segment_is_rejected(write_plan, run_cli) -> None:
    path = write_plan(
        """
        version: 1
        storages:
          scratch: {remote: local}
        moves:
          - src: scratch:a//b
            dst: scratch:c
        """
    )
    result = run_cli("validate", path)
    assert result.code == 2
    assert result.stdout.splitlines() == [
        f"{path}:5:10: error: moves[0].src: invalid path 'scratch:a//b': empty path segment ('//')",
        ONE_ERROR,
    ]


def test_backslash_is_rejected_and_quoted_as_written(write_plan, run_cli) -> None:
    # the message quotes the path as the user wrote it, one backslash (not Python's repr)
    path = write_plan(
        r"""
        version: 1
        storages:
          scratch: {remote: local}
        directories:
          - 'scratch:out\run'
        """
    )
    result = run_cli("validate", path)
    assert result.code == 2
    assert result.stdout.splitlines() == [
        f"{path}:5:5: error: directories[0]: invalid path 'scratch:out\\run': "
        "backslashes are not allowed; use '/'",
        ONE_ERROR,
    ]


def test_leading_slash_is_rejected(write_plan, run_cli) -> None:
    path = write_plan(
        """
        version: 1
        storages:
          scratch: {remote: local}
        checks:
          - absent: scratch:/abs/LOCK
        """
    )
    result = run_cli("validate", path)
    assert result.code == 2
    assert result.stdout.splitlines() == [
        f"{path}:5:13: error: checks[0].absent: invalid path 'scratch:/abs/LOCK': "
        "paths are relative to the storage's root: remove the leading '/'",
        ONE_ERROR,
    ]


def test_path_without_storage_prefix_is_rejected(write_plan, run_cli) -> None:
    path = write_plan(
        """
        version: 1
        storages:
          scratch: {remote: local}
        copies:
          - src: results/out
            dst: scratch:b
        """
    )
    result = run_cli("validate", path)
    assert result.code == 2
    assert result.stdout.splitlines() == [
        f"{path}:5:10: error: copies[0].src: invalid path 'results/out': "
        "missing the 'storage:' prefix (write storage:relative/path)",
        ONE_ERROR,
    ]


def test_glob_outside_removals_is_rejected(write_plan, run_cli) -> None:
    path = write_plan(
        """
        version: 1
        storages:
          scratch: {remote: local}
        copies:
          - src: scratch:out/*.h5
            dst: scratch:b/
        """
    )
    result = run_cli("validate", path)
    assert result.code == 2
    assert result.stdout.splitlines() == [
        f"{path}:5:10: error: copies[0].src: glob characters are only allowed in removals "
        "(to pick files, copy a directory with include)",
        ONE_ERROR,
    ]


def test_glob_in_a_non_last_segment_of_a_removal_is_rejected(write_plan, run_cli) -> None:
    path = write_plan(
        """
        version: 1
        storages:
          scratch: {remote: local}
        removals:
          - scratch:out/*/x
          - scratch:tmp/*.tmp
          - {path: "scratch:x?/y"}
        """
    )
    result = run_cli("validate", path)
    assert result.code == 2
    assert result.stdout.splitlines() == [
        f"{path}:5:5: error: removals[0]: glob characters are only allowed "
        "in the last segment of a removal",
        f"{path}:7:12: error: removals[2].path: glob characters are only allowed "
        "in the last segment of a removal",
        "Found 2 errors in 1 of 1 plan.",
    ]


def test_unknown_needs_id_points_at_the_reference(write_plan, run_cli) -> None:
    path = write_plan(
        """
        version: 1
        storages:
          scratch: {remote: local}
        copies:
          - id: upload
            src: scratch:a
            dst: scratch:b
        checks:
          - exists: scratch:b
            needs: [uplaod, zzz-other]
        """
    )
    result = run_cli("validate", path)
    assert result.code == 2
    assert result.stdout.splitlines() == [
        f"{path}:10:13: error: checks[0].needs[0]: unknown action 'uplaod' "
        "(did you mean 'upload'?)",
        f"{path}:10:21: error: checks[0].needs[1]: unknown action 'zzz-other'",
        "Found 2 errors in 1 of 1 plan.",
    ]


def test_cycle_through_needs_prints_every_action_with_its_location(write_plan, run_cli) -> None:
    path = write_plan(
        """
        version: 1
        storages:
          scratch: {remote: local}
        copies:
          - id: a
            needs: [b]
            src: scratch:x
            dst: scratch:y
          - id: b
            needs: [a]
            src: scratch:p
            dst: scratch:q
        """
    )
    result = run_cli("validate", path)
    assert result.code == 2
    assert result.stdout.splitlines() == [
        f"{path}:5:5: error: cycle: a (5:5) -[needs]-> b (9:5) -[needs]-> a (5:5)",
        ONE_ERROR,
    ]


def test_cycle_of_three_starts_at_the_first_action_in_the_file(write_plan, run_cli) -> None:
    path = write_plan(
        """
        version: 1
        storages:
          scratch: {remote: local}
        copies:
          - id: c
            needs: [a]
            src: scratch:x3
            dst: scratch:y3
          - id: a
            needs: [b]
            src: scratch:x
            dst: scratch:y
          - id: b
            needs: [c]
            src: scratch:p
            dst: scratch:q
        """
    )
    result = run_cli("validate", path)
    assert result.code == 2
    assert result.stdout.splitlines() == [
        f"{path}:5:5: error: cycle: c (5:5) -[needs]-> b (13:5) -[needs]-> a (9:5) "
        "-[needs]-> c (5:5)",
        ONE_ERROR,
    ]


def test_cycle_mixing_needs_and_inferred_edges_names_each_rule(write_plan, run_cli) -> None:
    path = write_plan(
        """
        version: 1
        storages:
          scratch: {remote: local}
        copies:
          - id: first
            src: scratch:in
            dst: scratch:stage1
            needs: [third]
          - id: second
            src: scratch:stage1
            dst: scratch:stage2
          - id: third
            src: scratch:stage2
            dst: scratch:out
        """
    )
    result = run_cli("validate", path)
    assert result.code == 2
    assert result.stdout.splitlines() == [
        f"{path}:5:5: error: cycle: first (5:5) -[write-before-read]-> second (9:5) "
        "-[write-before-read]-> third (12:5) -[needs]-> first (5:5)",
        ONE_ERROR,
    ]


def test_two_copies_to_the_same_destination_are_conflicting_writers(write_plan, run_cli) -> None:
    path = write_plan(
        """
        version: 1
        storages:
          scratch: {remote: local}
          archive: {remote: any, root: projects/archive}
        copies:
          - id: one
            src: scratch:a.txt
            dst: archive:runs/f.txt
          - id: two
            src: scratch:b.txt
            dst: archive:runs/f.txt
        """
    )
    result = run_cli("validate", path)
    assert result.code == 2
    assert result.stdout.splitlines() == [
        f"{path}:9:5: error: conflicting writers: 'one' (6:5) and 'two' both write "
        "any:projects/archive/runs/f.txt with no order between them "
        "(add needs: [one] to 'two')",
        ONE_ERROR,
    ]


def test_writers_through_storages_with_overlapping_roots_conflict(write_plan, run_cli) -> None:
    path = write_plan(
        """
        version: 1
        storages:
          a: {remote: any, root: x}
          b: {remote: any, root: x/y}
          scratch: {remote: local}
        copies:
          - id: via-a
            src: scratch:1
            dst: a:y/f
          - id: via-b
            src: scratch:2
            dst: b:f
        """
    )
    result = run_cli("validate", path)
    assert result.code == 2
    assert result.stdout.splitlines() == [
        f"{path}:10:5: error: conflicting writers: 'via-a' (7:5) and 'via-b' both write "
        "any:x/y/f with no order between them (add needs: [via-a] to 'via-b')",
        ONE_ERROR,
    ]
    ordered = write_plan(path.read_text() + "    needs: [via-a]\n", name="ordered.yaml")
    result = run_cli("validate", ordered)
    assert result.code == 0, result.stdout
    assert result.stdout.splitlines() == [f"{ordered}: valid: 2 actions (2 copies), DAG depth 2"]


def test_absolute_root_on_a_non_local_remote_is_rejected(write_plan, run_cli) -> None:
    path = write_plan(
        """
        version: 1
        storages:
          archive: {remote: any, root: /data/archive}
          host: {remote: local, root: /data/host}
        """
    )
    result = run_cli("validate", path)
    assert result.code == 2
    assert result.stdout.splitlines() == [
        f"{path}:3:32: error: storages.archive.root: the root of a storage on remote 'any' "
        "must be relative (only remote 'local' takes absolute paths)",
        ONE_ERROR,
    ]


def test_action_on_a_storage_with_an_invalid_root_reports_only_the_root(
    write_plan, run_cli
) -> None:
    path = write_plan(
        """
        version: 1
        storages:
          archive: {remote: any, root: /data/archive}
          host: {remote: local, root: /data/host}
        copies:
          - src: host:results/
            dst: archive:results/
        """
    )
    result = run_cli("validate", path)
    assert result.code == 2
    assert result.stdout.splitlines() == [
        f"{path}:3:32: error: storages.archive.root: the root of a storage on remote 'any' "
        "must be relative (only remote 'local' takes absolute paths)",
        ONE_ERROR,
    ]
