"""The quick schema check (planner/plan/schema_fast.py) answers as jsonschema does: on the
examples, on every single-value edit of them, and on a plan of many `for_each` copies; where it
cannot tell it says so, and `validate_document` then gives jsonschema's located diagnostics."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from planner.errors import Location, Pointer
from planner.plan import schema
from planner.plan.interpolate import expand_document
from planner.plan.schema_fast import UnsupportedSchemaError, compile_schema, is_valid
from planner.plan.source import read_source
from tests.helpers.cli import EXAMPLES

PLANS = sorted(EXAMPLES.glob("*/plan.yaml"))
# what an edit puts in place of a value: each type, the edges of the schema's checks
PROBES: list[Any] = [
    "",
    "x",
    "${a}",
    "A b",
    "src:../x",
    "src:data/x",
    "10s",
    "always",
    -1,
    0,
    1,
    1.0,
    2.5,
    True,
    False,
    None,
    [],
    ["x"],
    {},
    {"x": 1},
]


def _document(plan: Path) -> Any:
    source = read_source(plan, display=str(plan))
    return expand_document(source, {}, {"HOME": "/home/user"}).data


def _locate(pointer: Pointer, key: bool = False) -> Location:
    return Location("plan.yaml", len(pointer) + 1, 2 if key else 1)


def _pointers(node: Any, at: Pointer = ()) -> Iterator[Pointer]:
    yield at
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _pointers(value, (*at, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _pointers(value, (*at, index))


def _edited(document: Any, at: Pointer, value: Any, *, delete: bool = False) -> Any:
    """`document` with the value at `at` replaced (or deleted); only the containers on the way
    are copied."""
    out = copy.copy(document)
    parent = out
    for part in at[:-1]:
        parent[part] = copy.copy(parent[part])
        parent = parent[part]
    if delete:
        del parent[at[-1]]
    else:
        parent[at[-1]] = value
    return out


def _edits(document: Any) -> Iterator[Any]:
    """Every pointer of `document` given each probe, removed, and given an unknown sibling."""
    for at in _pointers(document):
        if not at:
            continue
        for value in PROBES:
            yield _edited(document, at, value)
        yield _edited(document, at, None, delete=True)
        if isinstance(document_at(document, at), dict):
            yield _edited(document, (*at, "unknown_key"), "x")


def document_at(document: Any, at: Pointer) -> Any:
    for part in at:
        document = document[part]
    return document


def _agrees(document: Any, *, diagnostics: bool = True) -> bool | None:
    """The quick answer, checked against jsonschema: "valid" only when jsonschema finds no
    problem, "invalid" only when it finds one; and (`diagnostics`) validate_document's
    diagnostics are jsonschema's."""
    check = schema._quick_check()
    assert check is not None
    quick = is_valid(check, document)
    if quick is not None:
        assert quick == schema._validator().is_valid(document), quick
    if diagnostics:
        full = schema.full_validation(document, _locate)
        assert schema.validate_document(document, _locate) == full
    return quick


@pytest.mark.parametrize("plan", PLANS, ids=lambda p: p.parent.name)
def test_the_quick_check_finds_the_examples_valid(plan: Path) -> None:
    assert _agrees(_document(plan)) is True


@pytest.mark.parametrize("plan", PLANS, ids=lambda p: p.parent.name)
def test_every_single_edit_of_an_example_is_judged_as_jsonschema_judges_it(plan: Path) -> None:
    answers = [_agrees(edited, diagnostics=False) for edited in _edits(_document(plan))]

    assert answers.count(False)  # edits it rejects, which jsonschema words
    assert answers.count(True)  # edits that stay valid (a description, a name ...)


def test_a_plan_of_many_for_each_copies_is_valid_and_one_bad_entry_is_located(
    tmp_path: Path,
) -> None:
    plan = tmp_path / "plan.yaml"
    items = ", ".join(str(i) for i in range(300))
    plan.write_text(
        "version: 1\nstorages:\n  src: {remote: local, root: /data}\n"
        "copies:\n"
        f"  - {{id: 'c${{item}}', for_each: [{items}],"
        " src: 'src:f${item}', dst: 'src:g${item}'}\n"
        "  - {id: Bad, src: 'src:a', dst: 'src:b'}\n",
        encoding="utf-8",
    )
    document = _document(plan)
    assert _agrees(document) is False
    (problem,) = schema.validate_document(document, _locate)
    assert problem.pointer == ("copies", 300, "id")
    assert "invalid id 'Bad'" in problem.message

    del document["copies"][300]
    assert _agrees(document) is True


def test_values_only_yaml_makes_are_left_to_jsonschema() -> None:
    document = _document(EXAMPLES / "quickstart" / "plan.yaml")
    import datetime

    document["name"] = datetime.date(2024, 1, 1)  # an unquoted date in YAML
    assert _agrees(document) is None


@pytest.mark.parametrize(
    ("rule", "value", "expected"),
    [
        ({"type": "integer"}, 1, True),
        ({"type": "integer"}, True, False),
        ({"type": "integer"}, 1.0, None),  # 2020-12 counts it an integer: jsonschema says
        ({"type": "number", "minimum": 1}, 0.5, False),
        ({"type": "number", "minimum": 1}, float("nan"), True),  # never less than 1
        ({"const": 1}, True, False),
        ({"const": True}, 1, False),
        ({"enum": ["a", "b"]}, "b", True),
        ({"oneOf": [{"type": "string"}, {"minLength": 1}]}, "x", False),  # both match
        ({"not": {"type": "string"}}, 3, True),
        ({"propertyNames": {"pattern": "^a"}}, {"ab": 1, "b": 2}, False),
        ({"additionalProperties": {"type": "string"}, "properties": {"n": {}}}, {"n": 1}, True),
    ],
)
def test_each_keyword_answers_as_jsonschema(rule: Any, value: Any, expected: bool | None) -> None:
    from jsonschema import Draft202012Validator

    assert is_valid(compile_schema(rule), value) is expected
    if expected is not None:
        assert Draft202012Validator(rule).is_valid(value) is expected


@pytest.mark.parametrize(
    "rule",
    [
        {"patternProperties": {"^a": {}}},
        {"$ref": "#/x"},
        {"type": "object", "if": {}},
        {"const": []},
    ],
)
def test_a_keyword_it_does_not_know_leaves_the_whole_schema_to_jsonschema(rule: Any) -> None:
    with pytest.raises(UnsupportedSchemaError):
        compile_schema({"properties": {"a": rule}})


def test_a_valid_plan_is_checked_without_importing_jsonschema() -> None:
    # from text: no `.planner` beside it whose remembered checks would skip validation
    plan = EXAMPLES / "full" / "plan.yaml"
    probe = (
        "import sys\n"
        "from pathlib import Path\n"
        "from planner.plan.load import load_plan_text\n"
        f"text = Path({str(plan)!r}).read_text()\n"
        f"load_plan_text(text, 'plan.yaml', Path({str(plan.parent)!r}), env={{'HOME': '/h'}})\n"
        "print('jsonschema' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        timeout=120,
    )
    assert done.stdout.strip() == "False", done.stderr
