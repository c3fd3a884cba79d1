"""Golden tests of `planner validate` for problems of the file itself: YAML syntax, duplicate
keys, documents that are not one mapping, encoding and empty files."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers.cli import ONE_ERROR


def test_yaml_syntax_error_points_at_the_offending_token(write_plan, run_cli) -> None:
    path = write_plan(
        """
        version: 1
        storages:
          scratch: {remote: local}
        copies:
          - src: scratch:a
             dst: scratch:b
        """
    )
    result = run_cli("validate", path)
    assert result.code == 2
    assert result.stdout.splitlines() == [
        f"{path}:6:9: error: invalid YAML: mapping values are not allowed in this context",
        ONE_ERROR,
    ]


def test_unquoted_reference_in_a_flow_mapping_gets_a_quoting_hint(write_plan, run_cli) -> None:
    path = write_plan(
        """
        version: 1
        storages:
          scratch: {remote: local}
        copies:
          - {src: scratch:${run}/a, dst: scratch:b}
        """
    )
    result = run_cli("validate", path)
    assert result.code == 2
    assert result.stdout.splitlines() == [
        f"{path}:5:20: error: invalid YAML: did not find expected ',' or '}}' (while parsing a "
        "flow mapping); quote values holding ${...} inside {...} or [...]",
        ONE_ERROR,
    ]


def test_duplicate_top_level_key_points_at_the_second_one(write_plan, run_cli) -> None:
    path = write_plan(
        """
        version: 1
        storages:
          scratch: {remote: local}
        storages:
          archive: {remote: any}
        """
    )
    result = run_cli("validate", path)
    assert result.code == 2
    assert result.stdout.splitlines() == [
        f"{path}:4:1: error: duplicate key 'storages' (first defined on line 2)",
        ONE_ERROR,
    ]


def test_duplicate_nested_keys_are_all_reported(write_plan, run_cli) -> None:
    path = write_plan(
        """
        version: 1
        storages:
          scratch:
            remote: local
            remote: any
        copies:
          - src: scratch:a
            dst: scratch:b
            src: scratch:c
        """
    )
    result = run_cli("validate", path)
    assert result.code == 2
    assert result.stdout.splitlines() == [
        f"{path}:5:5: error: duplicate key 'remote' (first defined on line 4)",
        f"{path}:9:5: error: duplicate key 'src' (first defined on line 7)",
        "Found 2 errors in 1 of 1 plan.",
    ]


def test_list_document_is_not_a_plan(write_plan, run_cli) -> None:
    path = write_plan(
        """
        - version: 1
        - storages: {}
        """
    )
    result = run_cli("validate", path)
    assert result.code == 2
    assert result.stdout.splitlines() == [
        f"{path}:1:1: error: a plan must be a YAML mapping",
        ONE_ERROR,
    ]


def test_scalar_document_is_not_a_plan(write_plan, run_cli) -> None:
    path = write_plan(
        """
        # a plan, supposedly
        just some text
        """
    )
    result = run_cli("validate", path)
    assert result.code == 2
    assert result.stdout.splitlines() == [
        f"{path}:2:1: error: a plan must be a YAML mapping",
        ONE_ERROR,
    ]


def test_second_document_is_rejected_where_it_starts(write_plan, run_cli) -> None:
    path = write_plan(
        """
        version: 1
        storages:
          scratch: {remote: local}
        ---
        version: 1
        """
    )
    result = run_cli("validate", path)
    assert result.code == 2
    assert result.stdout.splitlines() == [
        f"{path}:4:1: error: a plan file holds exactly one YAML document; found another here",
        ONE_ERROR,
    ]


def test_non_utf8_byte_is_located_in_characters(tmp_path: Path, run_cli) -> None:
    path = tmp_path / "plan.yaml"
    # "é" is two bytes in UTF-8 but one column; the Latin-1 0xe9 after it is the offender
    path.write_bytes(b'version: 1\nname: "\xc3\xa9t\xe9"\n')
    result = run_cli("validate", path)
    assert result.code == 2
    assert result.stdout.splitlines() == [
        f"{path}:2:10: error: file is not valid UTF-8 (byte 0xe9)",
        ONE_ERROR,
    ]


def test_empty_file_is_not_a_plan(tmp_path: Path, run_cli) -> None:
    path = tmp_path / "plan.yaml"
    path.write_bytes(b"")
    result = run_cli("validate", path)
    assert result.code == 2
    assert result.stdout.splitlines() == [
        f"{path}:1:1: error: plan is empty: expected a mapping",
        ONE_ERROR,
    ]


def test_file_with_only_comments_is_empty(write_plan, run_cli) -> None:
    path = write_plan(
        """
        # yaml-language-server: $schema=../schemas/plan.schema.json
        # nothing yet
        """
    )
    result = run_cli("validate", path)
    assert result.code == 2
    assert result.stdout.splitlines() == [
        f"{path}:1:1: error: plan is empty: expected a mapping",
        ONE_ERROR,
    ]


def test_locations_ignore_a_byte_order_mark_and_crlf_line_ends(tmp_path: Path, run_cli) -> None:
    path = tmp_path / "plan.yaml"
    text = (
        "version: 2\nstorages:\n  s: {remote: local}\ncopies:\n  - src: s:${nope}\n    dst: s:b\n"
    )
    path.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    result = run_cli("validate", "--format", "json", path)
    assert result.code == 2
    found = json.loads(result.stdout)["plans"][0]["diagnostics"]
    assert [(d["line"], d["col"], d["message"]) for d in found] == [
        (1, 10, "invalid value 2: must be 1"),
        (5, 12, "unknown variable 'nope'"),
    ]


TAB_HINT = "YAML forbids tabs for indentation: replace the tab here with spaces"


def test_a_tab_in_indentation_gets_a_hint_pointing_at_the_tab(tmp_path: Path, run_cli) -> None:
    path = tmp_path / "tabs.yaml"
    path.write_text("version: 1\nstorages:\n  scratch:\n  \tremote: local\n", encoding="utf-8")
    result = run_cli("validate", path)
    assert result.code == 2
    assert result.stdout.splitlines() == [
        f"{path}:4:3: error: invalid YAML: found character that cannot start any token (while "
        f"scanning for the next token); {TAB_HINT}",
        ONE_ERROR,
    ]


def test_a_tab_before_indenting_spaces_is_pointed_at_by_run_too(tmp_path: Path, run_cli) -> None:
    path = tmp_path / "tabs.yaml"
    path.write_text(
        "version: 1\nstorages:\n  s: {remote: local}\ncopies:\n  - src: s:a\n\t  dst: s:b\n",
        encoding="utf-8",
    )
    result = run_cli("run", path)
    assert (result.code, result.stdout) == (2, "")
    assert result.stderr.splitlines() == [
        f"{path}:6:1: error: invalid YAML: found a tab character that violates indentation "
        f"(while scanning a plain scalar); {TAB_HINT}",
        "Found 1 error; the plan is invalid.",
    ]
    assert not (tmp_path / ".planner").exists()


def test_a_tab_inside_a_value_gets_no_indentation_hint(write_plan, run_cli) -> None:
    path = write_plan('version: 1\nstorages:\n  s: {remote: local}\ndescription: "a\tb"\n')
    assert run_cli("validate", path).code == 0
