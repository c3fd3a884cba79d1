"""`planner schema` prints the shipped schema byte for byte, and that schema is well-formed."""

from __future__ import annotations

import json
import subprocess
import sys

from jsonschema import Draft202012Validator

from tests.helpers.cli import REPO

SCHEMA_FILE = REPO / "schemas" / "plan.schema.json"


def test_schema_command_prints_the_file_byte_for_byte() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "planner", "schema"], capture_output=True, check=True
    )
    assert result.stdout == SCHEMA_FILE.read_bytes()


def test_schema_is_draft_2020_12_with_id_and_help_on_every_property() -> None:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    assert schema["$id"]
    assert schema["title"]

    def walk(node: object, where: str) -> None:
        if isinstance(node, dict):
            for name, prop in node.get("properties", {}).items():
                assert "description" in prop, f"{where}.{name} has no description"
            for key, value in node.items():
                walk(value, f"{where}.{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{where}[{i}]")

    walk(schema, "$")


def test_version_and_help_do_not_fail(run_cli) -> None:
    assert run_cli("--version").code == 0
    result = run_cli("--help")
    assert result.code == 0
    assert "validate" in result.stdout
