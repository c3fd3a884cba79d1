"""Golden tests of `planner validate` for variables and for_each: unknown references located at
their `${`, the environment, `$${` escapes, `--var` overrides and for_each expansion."""

from __future__ import annotations

import json

import pytest

from tests.helpers.cli import ONE_ERROR

ENV_NAME = "PLANNER_TEST_SURELY_UNSET"


def _node_ids(run_cli, path, *args: str) -> list[str]:
    result = run_cli("graph", "--format", "json", path, *args)
    assert result.code == 0, result.stdout + result.stderr
    return [node["id"] for node in json.loads(result.stdout)["nodes"]]


def test_unknown_variable_points_at_the_reference(write_plan, run_cli) -> None:
    path = write_plan(
        """
        version: 1
        vars:
          run: "2026-11-22"
        storages:
          scratch: {remote: local}
        copies:
          - src: scratch:out/${nope}/a
            dst: scratch:runs/${run}/out
        """
    )
    result = run_cli("validate", path)
    assert result.code == 2
    assert result.stdout.splitlines() == [
        f"{path}:7:22: error: copies[0].src: unknown variable 'nope'",
        ONE_ERROR,
    ]


def test_unknown_variable_in_quoted_scalars_points_at_the_reference(write_plan, run_cli) -> None:
    path = write_plan(
        """
        version: 1
        vars:
          run: "2026-11-22"
        storages:
          scratch: {remote: local}
        copies:
          - src: "scratch:runs/${run}/x/${nada}"
            dst: 'scratch:q/${zzz}'
        """
    )
    result = run_cli("validate", path)
    assert result.code == 2
    assert result.stdout.splitlines() == [
        f"{path}:7:33: error: copies[0].src: unknown variable 'nada'",
        f"{path}:8:21: error: copies[0].dst: unknown variable 'zzz'",
        "Found 2 errors in 1 of 1 plan.",
    ]


def test_misspelt_variable_suggests_the_declared_one(write_plan, run_cli) -> None:
    path = write_plan(
        """
        version: 1
        vars:
          run: "2026-11-22"
        storages:
          scratch: {remote: local}
        directories:
          - scratch:runs/${runn}
        """
    )
    result = run_cli("validate", path)
    assert result.code == 2
    assert result.stdout.splitlines() == [
        f"{path}:7:18: error: directories[0]: unknown variable 'runn' (did you mean 'run'?)",
        ONE_ERROR,
    ]


def test_unknown_variable_after_an_escaped_one_points_at_the_real_reference(
    write_plan, run_cli
) -> None:
    # `$${x}` is the literal text "${x}"; only the second `${x}` (column 24) is a reference
    path = write_plan(
        """
        version: 1
        storages:
          scratch: {remote: local}
        copies:
          - src: scratch:$${x}/${x}
            dst: scratch:b
        """
    )
    result = run_cli("validate", path)
    assert result.code == 2
    assert result.stdout.splitlines() == [
        f"{path}:5:24: error: copies[0].src: unknown variable 'x'",
        ONE_ERROR,
    ]


def test_unset_environment_variable_without_default_is_an_error(
    write_plan, run_cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_NAME, raising=False)
    path = write_plan(
        f"""
        version: 1
        storages:
          scratch: {{remote: local}}
        copies:
          - src: scratch:${{env:{ENV_NAME}}}/a
            dst: scratch:b
        """
    )
    result = run_cli("validate", path)
    assert result.code == 2
    assert result.stdout.splitlines() == [
        f"{path}:5:18: error: copies[0].src: environment variable '{ENV_NAME}' is not set "
        f"(give a default: ${{env:{ENV_NAME}:-value}})",
        ONE_ERROR,
    ]


def test_unset_environment_variable_with_default_takes_the_default(
    write_plan, run_cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_NAME, raising=False)
    path = write_plan(
        f"""
        version: 1
        storages:
          scratch: {{remote: local}}
        copies:
          - id: up-${{env:{ENV_NAME}:-fallback}}
            src: scratch:a
            dst: scratch:${{env:{ENV_NAME}:-fallback}}/a
        """
    )
    result = run_cli("validate", path)
    assert result.code == 0, result.stdout
    assert result.stdout.splitlines() == [f"{path}: valid: 1 action (1 copy), DAG depth 1"]
    assert _node_ids(run_cli, path) == ["up-fallback"]
    monkeypatch.setenv(ENV_NAME, "fromenv")
    assert _node_ids(run_cli, path) == ["up-fromenv"]


def test_double_dollar_escape_is_a_literal_reference(write_plan, run_cli) -> None:
    path = write_plan(
        """
        version: 1
        storages:
          scratch: {remote: local}
        metadata:
          - path: scratch:a
            set: {template: "$${run}"}
        copies:
          - src: "scratch:$${x}/../y"
            dst: scratch:b
        """
    )
    result = run_cli("validate", path)
    assert result.code == 2
    # no "unknown variable" for `run` or `x`: the path holds the text "${x}"
    assert result.stdout.splitlines() == [
        f"{path}:8:10: error: copies[0].src: invalid path 'scratch:${{x}}/../y': "
        "'..' segments are not allowed",
        ONE_ERROR,
    ]


def test_var_override_changes_the_resolved_value(write_plan, run_cli) -> None:
    path = write_plan(
        """
        version: 1
        vars:
          run: r1
          cases: [wing]
        storages:
          scratch: {remote: local}
        copies:
          - for_each: ${cases}
            id: ${item}-${run}
            src: scratch:${item}
            dst: scratch:out/${run}/${item}
        """
    )
    assert _node_ids(run_cli, path) == ["wing-r1"]
    assert _node_ids(run_cli, path, "--var", "run=r2") == ["wing-r2"]
    assert _node_ids(run_cli, path, "--var", "run=r3", "--var", "cases=[a, b]") == [
        "a-r3",
        "b-r3",
    ]


def test_var_override_fixes_an_error(write_plan, run_cli) -> None:
    path = write_plan(
        """
        version: 1
        vars:
          store: scrach
        storages:
          scratch: {remote: local}
        copies:
          - src: ${store}:a
            dst: scratch:b
        """
    )
    result = run_cli("validate", path)
    assert result.code == 2
    assert result.stdout.splitlines() == [
        f"{path}:7:10: error: copies[0].src: unknown storage 'scrach' (did you mean 'scratch'?)",
        ONE_ERROR,
    ]
    fixed = run_cli("validate", "--var", "store=scratch", path)
    assert fixed.code == 0, fixed.stdout
    assert fixed.stdout.splitlines() == [f"{path}: valid: 1 action (1 copy), DAG depth 1"]


def test_var_override_takes_the_type_of_the_declared_variable(write_plan, run_cli) -> None:
    path = write_plan(
        """
        version: 1
        vars:
          attempts: 3
        storages:
          scratch: {remote: local}
        copies:
          - src: scratch:a
            dst: scratch:b
            retry: {attempts: "${attempts}"}
        """
    )
    assert run_cli("validate", "--var", "attempts=5", path).code == 0
    result = run_cli("validate", "--var", "attempts=many", path)
    assert result.code == 2
    assert result.stdout.splitlines() == [
        f"{path}:3:13: error: vars.attempts: --var attempts=many: expected an integer, like the "
        "declared value",
        ONE_ERROR,
    ]


def test_var_override_of_an_undeclared_variable_is_an_error(write_plan, run_cli) -> None:
    path = write_plan(
        """
        version: 1
        vars:
          run: x
        storages:
          scratch: {remote: local}
        """
    )
    result = run_cli("validate", "--var", "typo=1", path)
    assert result.code == 2
    assert result.stdout.splitlines() == [
        f"{path}:2:1: error: vars: --var typo: the plan declares no variable 'typo' "
        "(declared: run)",
        ONE_ERROR,
    ]


def test_for_each_over_a_non_list_is_an_error(write_plan, run_cli) -> None:
    path = write_plan(
        """
        version: 1
        vars:
          one: wing
        storages:
          scratch: {remote: local}
        copies:
          - for_each: ${one}
            id: case-${item}
            src: scratch:${item}/a
            dst: scratch:out/${item}/a
        directories:
          - for_each: {a: 1}
            path: scratch:d/${item}
        """
    )
    result = run_cli("validate", path)
    assert result.code == 2
    assert result.stdout.splitlines() == [
        f"{path}:7:15: error: copies[0].for_each: for_each needs a list, got the string 'wing'",
        f"{path}:12:15: error: directories[0].for_each: for_each needs a list, got a mapping",
        "Found 2 errors in 1 of 1 plan.",
    ]


def test_for_each_over_a_list_variable_and_a_literal_list_expands_ids(write_plan, run_cli) -> None:
    path = write_plan(
        """
        version: 1
        vars:
          cases: [wing, nozzle]
        storages:
          scratch: {remote: local}
        copies:
          - for_each: ${cases}
            id: case-${item}
            src: scratch:${item}/summary.json
            dst: scratch:out/${item}/summary.json
        directories:
          - for_each: [x, y, 3]
            path: scratch:d/${item}
        """
    )
    result = run_cli("validate", path)
    assert result.code == 0, result.stdout
    assert result.stdout.splitlines() == [
        f"{path}: valid: 5 actions (2 copies, 3 directories), DAG depth 1"
    ]
    assert _node_ids(run_cli, path) == [
        "case-wing",
        "case-nozzle",
        "directories.0.0",
        "directories.0.1",
        "directories.0.2",
    ]


def test_for_each_with_a_constant_id_gives_duplicate_ids(write_plan, run_cli) -> None:
    path = write_plan(
        """
        version: 1
        vars:
          cases: [wing, nozzle]
        storages:
          scratch: {remote: local}
        copies:
          - for_each: ${cases}
            id: case
            src: scratch:${item}/a
            dst: scratch:out/${item}/a
        """
    )
    result = run_cli("validate", path)
    assert result.code == 2
    assert result.stdout.splitlines() == [
        f"{path}:8:9: error: copies[0].id: for_each gives every element the same id 'case'; "
        "put ${item} in the id",
        ONE_ERROR,
    ]


def test_explicit_id_clashing_with_an_expanded_one_is_a_duplicate(write_plan, run_cli) -> None:
    path = write_plan(
        """
        version: 1
        storages:
          scratch: {remote: local}
        copies:
          - id: case-${item}
            for_each: [wing, nozzle]
            src: scratch:${item}/a
            dst: scratch:out/${item}/a
          - id: case-wing
            src: scratch:p
            dst: scratch:q
        """
    )
    result = run_cli("validate", path)
    assert result.code == 2
    assert result.stdout.splitlines() == [
        f"{path}:9:9: error: copies[1].id: duplicate id 'case-wing' (first used on line 5)",
        ONE_ERROR,
    ]


def test_problem_in_a_for_each_entry_is_reported_once(write_plan, run_cli) -> None:
    path = write_plan(
        """
        version: 1
        storages:
          scratch: {remote: local}
        copies:
          - for_each: [a, b]
            id: c-${item}
            src: scratch:${item}
            dst: scratch:out/${item}
            overwirte: always
          - for_each: [a, b]
            id: d-${item}
            src: scrach:${item}
            dst: scratch:out2/${item}
        """
    )
    result = run_cli("validate", path)
    assert result.code == 2
    assert result.stdout.splitlines() == [
        f"{path}:9:5: error: copies[0].overwirte: unknown key 'overwirte' "
        "(did you mean 'overwrite'?)",
        f"{path}:12:10: error: copies[1].src: unknown storage 'scrach' (did you mean 'scratch'?)",
        "Found 2 errors in 1 of 1 plan.",
    ]


@pytest.mark.parametrize(("value", "kind"), [("[a, b]", "list")])
def test_a_list_variable_inside_a_string_is_an_error_at_the_reference(
    write_plan, run_cli, value: str, kind: str
) -> None:
    path = write_plan(
        f"""
        version: 1
        vars:
          many: {value}
        storages:
          scratch: {{remote: local}}
        directories:
          - scratch:runs/${{many}}
        """
    )
    result = run_cli("validate", path)
    assert result.code == 2
    assert result.stdout.splitlines() == [
        f"{path}:7:18: error: directories[0]: {kind} variable 'many' cannot be part of a string",
        ONE_ERROR,
    ]
