"""Edge cases of loading: deep nesting, repeated for_each elements, numeric ids, stdin."""

from __future__ import annotations

import io
import json

import pytest

from planner.errors import PlanError
from planner.plan.load import load_plan_text


def test_deeply_nested_yaml_is_a_located_error_not_a_crash(write_plan, run_cli) -> None:
    path = write_plan("version: 1\nstorages: " + "[" * 500 + "]" * 500 + "\n")
    result = run_cli("validate", path)
    assert result.code == 2
    assert result.stdout.splitlines()[0] == (f"{path}:2:110: error: nesting deeper than 100 levels")


def test_nesting_beyond_the_parsers_own_limit_is_located_too(write_plan, run_cli) -> None:
    # PyYAML 6.0.4 stops at 1,000 levels itself; older releases reach our limit first
    path = write_plan("version: 1\nstorages: " + "[" * 5000 + "]" * 5000 + "\n")
    result = run_cli("validate", path)
    assert result.code == 2
    first = result.stdout.splitlines()[0]
    assert first.startswith(f"{path}:2:")
    assert ": error: " in first
    assert "Traceback" not in result.stdout + result.stderr


def test_repeated_for_each_element_is_named(write_plan, run_cli) -> None:
    path = write_plan(
        """
        version: 1
        storages:
          s: {remote: local}
        directories:
          - {for_each: [a, a], id: "d-${item}", path: "s:${item}"}
        """
    )
    result = run_cli("validate", path)
    assert result.code == 2
    assert result.stdout.splitlines()[0] == (
        f"{path}:5:28: error: directories[0].id: for_each repeats the element 'a' (id 'd-a')"
    )


def test_numeric_for_each_elements_make_text_ids(write_plan, run_cli) -> None:
    path = write_plan(
        """
        version: 1
        storages:
          s: {remote: local}
        directories:
          - {for_each: [1, 2], id: "${item}", path: "s:d${item}"}
        """
    )
    result = run_cli("graph", path, "--format", "json")
    assert result.code == 0, result.stderr
    assert [n["id"] for n in json.loads(result.stdout)["nodes"]] == ["1", "2"]


def test_validate_reads_a_plan_from_standard_input(run_cli, monkeypatch) -> None:
    plan = "version: 1\nstorages: {s: {remote: local}}\ndirectories: [s:x]\n"
    monkeypatch.setattr("sys.stdin", io.StringIO(plan))
    result = run_cli("validate", "-")
    assert result.code == 0
    assert result.stdout.strip() == "<stdin>: valid: 1 action (1 directory), DAG depth 1"


def test_graph_reads_a_plan_from_standard_input_and_locates_its_errors(
    run_cli, monkeypatch
) -> None:
    plan = "version: 1\nstorages: {s: {remote: local}}\ndirectories: [s:x, s:x/y]\n"
    monkeypatch.setattr("sys.stdin", io.StringIO(plan))
    result = run_cli("graph", "-", "--format", "json")
    assert result.code == 0, result.stderr
    assert [(e["from"], e["to"]) for e in json.loads(result.stdout)["edges"]] == [
        ("directories.0", "directories.1")
    ]

    monkeypatch.setattr("sys.stdin", io.StringIO("version: 1\nstorages: {}\ndirectories: [x:a]\n"))
    bad = run_cli("graph", "-")
    assert bad.code == 2
    assert "<stdin>:3:15: error: directories[0]: unknown storage 'x'; declared: none" in (
        bad.stderr
    )


@pytest.mark.parametrize(("value", "expected"), [("true", True), ("FALSE", False)])
def test_boolean_var_override_fills_a_boolean_key(write_plan, run_cli, value, expected) -> None:
    path = write_plan(
        """
        version: 1
        vars: {verify: false}
        storages:
          s: {remote: local}
        copies:
          - {id: c, src: "s:a", dst: "s:b", checksum: "${verify}"}
        """
    )
    result = run_cli("graph", path, "--format", "json", "--var", f"verify={value}")
    assert result.code == 0, result.stderr


def test_invalid_copy_patterns_are_found_at_validation(write_plan, run_cli) -> None:
    path = write_plan(
        """
        version: 1
        storages:
          s: {remote: local}
        copies:
          - {src: "s:a/", dst: "s:b/", exclude: ["ok", "a["]}
        """
    )
    result = run_cli("validate", path)
    assert result.code == 2
    assert result.stdout.splitlines()[0].startswith(
        f"{path}:5:48: error: copies[0].exclude[1]: exclude pattern 'a[' can never match"
    )


@pytest.mark.parametrize("command", ["validate", "graph"])
def test_non_utf8_standard_input_is_a_located_error(run_cli, monkeypatch, command: str) -> None:
    raw = b"version: 1\nstorages: {s: {remote: local}}\n# caf\xe9\n"
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(raw), errors="surrogateescape"))
    result = run_cli(command, "-")
    assert result.code == 2
    assert (
        "<stdin>:3:6: error: file is not valid UTF-8 (byte 0xe9)" in result.stdout + result.stderr
    )


def test_diagnostics_carry_their_place_in_the_file_as_a_tuple(tmp_path) -> None:
    # the second entry expands to copies[2] and [3]; its problems point at the file's copies[1]
    text = """
version: 1
storages:
  scratch: {remote: local}
copies:
  - {src: "scratch:x", dst: "scratch:y"}
  - for_each: [a, b]
    id: c-${item}
    src: scrach:${item}
    dst: scratch:out/${item}
"""
    with pytest.raises(PlanError) as caught:
        load_plan_text(text, "plan.yaml", tmp_path)
    [diagnostic] = caught.value.diagnostics
    assert diagnostic.pointer == ("copies", 1, "src")
    assert diagnostic.pointer_text == "copies[1].src"
    assert str(diagnostic).startswith("plan.yaml:9:10: copies[1].src: unknown storage 'scrach'")
