"""Golden tests of `planner validate` for schema problems: unknown keys, wrong types, enums,
patterns, durations, bounds, the version and required keys."""

from __future__ import annotations

import json

from tests.helpers.cli import ONE_ERROR


def test_unknown_key_points_at_the_key_and_suggests_the_closest(write_plan, run_cli) -> None:
    path = write_plan(
        """
        version: 1
        storages:
          scratch: {remote: local}
        copies:
          - src: scratch:a
            dst: scratch:b
            overwirte: always
        """
    )
    result = run_cli("validate", path)
    assert result.code == 2
    assert result.stdout.splitlines() == [
        f"{path}:7:5: error: copies[0].overwirte: unknown key 'overwirte' "
        "(did you mean 'overwrite'?)",
        ONE_ERROR,
    ]


def test_unknown_key_without_a_close_match_lists_the_allowed_ones(write_plan, run_cli) -> None:
    path = write_plan(
        """
        version: 1
        storages:
          scratch: {remote: local, flavour: x}
        """
    )
    result = run_cli("validate", path)
    assert result.code == 2
    assert result.stdout.splitlines() == [
        f"{path}:3:28: error: storages.scratch.flavour: unknown key 'flavour'; "
        "allowed: remote, root",
        ONE_ERROR,
    ]


def test_misspelt_section_is_unknown_and_the_required_one_missing(write_plan, run_cli) -> None:
    path = write_plan(
        """
        version: 1
        storage:
          scratch: {remote: local}
        """
    )
    result = run_cli("validate", path)
    assert result.code == 2
    assert result.stdout.splitlines() == [
        f"{path}:1:1: error: missing required key 'storages'",
        f"{path}:2:1: error: storage: unknown key 'storage' (did you mean 'storages'?)",
        "Found 2 errors in 1 of 1 plan.",
    ]


def test_wrong_type_names_expected_and_given_kinds(write_plan, run_cli) -> None:
    path = write_plan(
        """
        version: 1
        storages:
          scratch: {remote: local, root: 5}
        directories: scratch:x
        copies:
          - src: scratch:a
            dst: scratch:b
            include: "*.h5"
        """
    )
    result = run_cli("validate", path)
    assert result.code == 2
    assert result.stdout.splitlines() == [
        f"{path}:3:34: error: storages.scratch.root: expected a string, got a number",
        f"{path}:4:14: error: directories: expected a list, got a string",
        f"{path}:8:14: error: copies[0].include: expected a list, got a string",
        "Found 3 errors in 1 of 1 plan.",
    ]


def test_wrong_type_of_a_field_that_also_takes_a_reference_names_the_real_type(
    write_plan, run_cli
) -> None:
    # after interpolation no value is a reference any more: "expected a ${...} reference" for
    # `checksum: maybe` misleads; the user needs to hear that a boolean (integer) is expected
    path = write_plan(
        """
        version: 1
        storages:
          scratch: {remote: local}
        copies:
          - src: scratch:a
            dst: scratch:b
            checksum: maybe
            priority: high
            retry: {attempts: many}
        """
    )
    result = run_cli("validate", path)
    assert result.code == 2
    assert result.stdout.splitlines() == [
        f"{path}:7:15: error: copies[0].checksum: expected a boolean, got a string",
        f"{path}:8:15: error: copies[0].priority: expected an integer, got a string",
        f"{path}:9:23: error: copies[0].retry.attempts: expected an integer, got a string",
        "Found 3 errors in 1 of 1 plan.",
    ]


def test_bad_enum_values_list_the_choices(write_plan, run_cli) -> None:
    path = write_plan(
        """
        version: 1
        storages:
          scratch: {remote: local}
        copies:
          - src: scratch:a
            dst: scratch:b
            overwrite: sometimes
            symlinks: copy
        permissions:
          - path: scratch:b
            grant: [{user: alice, role: owner}]
        """
    )
    result = run_cli("validate", path)
    assert result.code == 2
    assert result.stdout.splitlines() == [
        f"{path}:7:16: error: copies[0].overwrite: invalid value 'sometimes': "
        "expected one of always, never, if-newer, if-different",
        f"{path}:8:15: error: copies[0].symlinks: invalid value 'copy': "
        "expected one of follow, skip",
        f"{path}:11:33: error: permissions[0].grant[0].role: invalid value 'owner': "
        "expected one of reader, writer, admin",
        "Found 3 errors in 1 of 1 plan.",
    ]


def test_bad_enum_in_defaults_is_reported_at_defaults(write_plan, run_cli) -> None:
    path = write_plan(
        """
        version: 1
        storages:
          scratch: {remote: local}
        defaults:
          overwrite: if-older
        """
    )
    result = run_cli("validate", path)
    assert result.code == 2
    assert result.stdout.splitlines() == [
        f"{path}:5:14: error: defaults.overwrite: invalid value 'if-older': "
        "expected one of always, never, if-newer, if-different",
        ONE_ERROR,
    ]


def test_bad_id_pattern_points_at_the_id(write_plan, run_cli) -> None:
    path = write_plan(
        """
        version: 1
        storages:
          scratch: {remote: local}
        copies:
          - id: Upload_Results
            src: scratch:a
            dst: scratch:b
        """
    )
    result = run_cli("validate", path)
    assert result.code == 2
    assert result.stdout.splitlines() == [
        f"{path}:5:9: error: copies[0].id: invalid id 'Upload_Results': use lowercase "
        "letters, digits, '_', '.' and '-', starting with a letter or digit",
        ONE_ERROR,
    ]


def test_bad_durations_in_defaults_and_in_an_action(write_plan, run_cli) -> None:
    path = write_plan(
        """
        version: 1
        storages:
          scratch: {remote: local}
        defaults:
          timeout: 5 minutes
          retry: {delay: 1x}
        copies:
          - src: scratch:a
            dst: scratch:b
            timeout: soon
        """
    )
    hint = "use a number of seconds or units like 250ms, 30s, 5m, 1h30m, 2d"
    result = run_cli("validate", path)
    assert result.code == 2
    assert result.stdout.splitlines() == [
        f"{path}:5:12: error: defaults.timeout: invalid duration '5 minutes': {hint}",
        f"{path}:6:18: error: defaults.retry.delay: invalid duration '1x': {hint}",
        f"{path}:10:14: error: copies[0].timeout: invalid duration 'soon': {hint}",
        "Found 3 errors in 1 of 1 plan.",
    ]


def test_attempts_below_one_is_rejected(write_plan, run_cli) -> None:
    path = write_plan(
        """
        version: 1
        storages:
          scratch: {remote: local}
        defaults:
          retry: {attempts: 0}
        copies:
          - src: scratch:a
            dst: scratch:b
            retry: {attempts: -1, delay: 2s}
        """
    )
    result = run_cli("validate", path)
    assert result.code == 2
    assert result.stdout.splitlines() == [
        f"{path}:5:21: error: defaults.retry.attempts: must be at least 1, got 0",
        f"{path}:9:23: error: copies[0].retry.attempts: must be at least 1, got -1",
        "Found 2 errors in 1 of 1 plan.",
    ]


def test_version_other_than_1_is_rejected(write_plan, run_cli) -> None:
    path = write_plan(
        """
        version: 2
        storages:
          scratch: {remote: local}
        """
    )
    result = run_cli("validate", path)
    assert result.code == 2
    assert result.stdout.splitlines() == [
        f"{path}:1:10: error: version: invalid value 2: must be 1",
        ONE_ERROR,
    ]


def test_missing_required_keys_are_each_reported(write_plan, run_cli) -> None:
    path = write_plan(
        """
        name: nightly
        copies:
          - dst: scratch:b
        """
    )
    result = run_cli("validate", path)
    assert result.code == 2
    assert result.stdout.splitlines() == [
        f"{path}:1:1: error: missing required key 'storages'",
        f"{path}:1:1: error: missing required key 'version'",
        f"{path}:3:5: error: copies[0]: missing required key 'src'",
        "Found 3 errors in 1 of 1 plan.",
    ]


def test_empty_storages_mapping_asks_for_one(write_plan, run_cli) -> None:
    path = write_plan(
        """
        version: 1
        storages: {}
        """
    )
    result = run_cli("validate", path)
    assert result.code == 2
    assert result.stdout.splitlines() == [
        f"{path}:2:11: error: storages: declare at least one storage",
        ONE_ERROR,
    ]


def test_short_forms_of_directories_and_removals_are_valid(write_plan, run_cli) -> None:
    path = write_plan(
        """
        version: 1
        storages:
          archive: {remote: any, root: projects/archive}
        directories:
          - archive:runs/x
        removals:
          - archive:old/
          - archive:runs/x/core.*
        """
    )
    result = run_cli("validate", path)
    assert result.code == 0, result.stdout
    assert result.stdout.splitlines() == [
        f"{path}: valid: 3 actions (1 directory, 2 removals), DAG depth 2",
    ]
    graph = json.loads(run_cli("graph", "--format", "json", path).stdout)
    assert [n["id"] for n in graph["nodes"]] == ["directories.0", "removals.0", "removals.1"]
