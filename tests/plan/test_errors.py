"""How `planner validate` reports problems: every problem of a file at once, sorted by position,
as text, JSON or GitHub annotations; valid plans; command-line mistakes.

The golden tests per error kind live beside this file: test_errors_yaml.py, test_errors_schema.py,
test_errors_variables.py and test_errors_semantic.py."""

from __future__ import annotations

import json

import pytest

# Three problems found by three stages in the opposite order of their positions: the schema
# finds the enum (line 12) first, then the builder the storage (line 8), then the needs (line 6).
THREE_ERRORS = """
    version: 1
    storages:
      scratch: {remote: local}
    checks:
      - exists: scratch:out
        needs: [nothing]
    copies:
      - src: scrach:in
        dst: scratch:out
      - src: scratch:in2
        dst: scratch:out2
        overwrite: sometimes
    """

VALID = """
    version: 1
    storages:
      scratch: {remote: local, root: ./results}
      archive: {remote: any, root: projects/archive}
    directories:
      - archive:runs/r1
    copies:
      - id: upload
        src: scratch:out/
        dst: archive:runs/r1/out/
    """


def test_all_errors_of_a_file_are_reported_together_sorted_by_position(write_plan, run_cli) -> None:
    path = write_plan(THREE_ERRORS)
    result = run_cli("validate", path)
    assert result.code == 2
    assert result.stdout.splitlines() == [
        f"{path}:6:13: error: checks[0].needs[0]: unknown action 'nothing'",
        f"{path}:8:10: error: copies[0].src: unknown storage 'scrach' (did you mean 'scratch'?)",
        f"{path}:12:16: error: copies[1].overwrite: invalid value 'sometimes': "
        "expected one of always, never, if-newer, if-different",
        "Found 3 errors in 1 of 1 plan.",
    ]
    assert result.stderr == ""


def test_errors_and_summaries_of_several_plans(write_plan, run_cli) -> None:
    bad = write_plan(THREE_ERRORS, name="bad.yaml")
    good = write_plan(VALID, name="good.yaml")
    result = run_cli("validate", good, bad)
    assert result.code == 2
    assert result.stdout.splitlines() == [
        f"{good}: valid: 2 actions (1 copy, 1 directory), DAG depth 2",
        f"{bad}:6:13: error: checks[0].needs[0]: unknown action 'nothing'",
        f"{bad}:8:10: error: copies[0].src: unknown storage 'scrach' (did you mean 'scratch'?)",
        f"{bad}:12:16: error: copies[1].overwrite: invalid value 'sometimes': "
        "expected one of always, never, if-newer, if-different",
        "Found 3 errors in 1 of 2 plans.",
    ]


def test_json_format_lists_located_diagnostics(write_plan, run_cli) -> None:
    path = write_plan(THREE_ERRORS)
    result = run_cli("validate", "--format", "json", path)
    assert result.code == 2
    document = json.loads(result.stdout)
    assert document["format_version"] == 1
    assert document["valid"] is False
    [plan] = document["plans"]
    assert (plan["file"], plan["valid"]) == (str(path), False)
    assert plan["diagnostics"] == [
        {
            "file": str(path),
            "line": 6,
            "col": 13,
            "code": "needs",
            "pointer": "checks[0].needs[0]",
            "message": "unknown action 'nothing'",
        },
        {
            "file": str(path),
            "line": 8,
            "col": 10,
            "code": "storage",
            "pointer": "copies[0].src",
            "message": "unknown storage 'scrach' (did you mean 'scratch'?)",
        },
        {
            "file": str(path),
            "line": 12,
            "col": 16,
            "code": "schema",
            "pointer": "copies[1].overwrite",
            "message": "invalid value 'sometimes': "
            "expected one of always, never, if-newer, if-different",
        },
    ]


def test_json_format_of_a_valid_plan(write_plan, run_cli) -> None:
    path = write_plan(VALID)
    result = run_cli("validate", "--format", "json", path)
    assert result.code == 0
    assert json.loads(result.stdout) == {
        "format_version": 1,
        "valid": True,
        "plans": [
            {
                "file": str(path),
                "valid": True,
                "diagnostics": [],
                "name": "plan",
                "actions": 2,
                "kinds": {"directory": 1, "copy": 1},
                "depth": 2,
                "notes": [],
            }
        ],
    }


def test_github_format_prints_one_annotation_per_problem(write_plan, run_cli) -> None:
    path = write_plan(THREE_ERRORS)
    result = run_cli("validate", "--format", "github", path)
    assert result.code == 2
    assert result.stdout.splitlines() == [
        f"::error file={path},line=6,col=13,title=planner needs::"
        "checks[0].needs[0]: unknown action 'nothing'",
        f"::error file={path},line=8,col=10,title=planner storage::"
        "copies[0].src: unknown storage 'scrach' (did you mean 'scratch'?)",
        f"::error file={path},line=12,col=16,title=planner schema::"
        "copies[1].overwrite: invalid value 'sometimes': "
        "expected one of always, never, if-newer, if-different",
    ]


def test_valid_plan_prints_one_summary_line(write_plan, run_cli) -> None:
    path = write_plan(VALID)
    result = run_cli("validate", path)
    assert result.code == 0
    assert result.stdout == f"{path}: valid: 2 actions (1 copy, 1 directory), DAG depth 2\n"
    assert result.stderr == ""


def test_missing_plan_file_is_a_located_error(tmp_path, run_cli) -> None:
    path = tmp_path / "nowhere.yaml"
    result = run_cli("validate", path)
    assert result.code == 2
    assert result.stdout.splitlines() == [
        f"{path}:1:1: error: cannot read plan: No such file or directory",
        "Found 1 error in 1 of 1 plan.",
    ]


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        ("run", "--var 'run': expected NAME=VALUE with NAME made of letters, digits, '_'"),
        ("1run=x", "--var '1run=x': expected NAME=VALUE with NAME made of letters, digits, '_'"),
        ("cases=[a, [b]", "--var cases: invalid list '[a, [b]'"),
        ("cases=[a, [b]]", "--var cases: expected a list of scalars like [a, b]"),
    ],
)
def test_malformed_var_is_a_usage_error_without_traceback(
    write_plan, run_cli, argument: str, message: str
) -> None:
    path = write_plan(VALID)
    result = run_cli("validate", "--var", argument, path)
    assert result.code == 2
    assert result.stdout == ""
    assert result.stderr == f"planner: error: {message}\n"
