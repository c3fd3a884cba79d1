"""Property tests: whatever a random edit does to a valid plan, loading and compiling it either
succeeds or raises PlanError whose every diagnostic points inside the file; nothing else."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.compile import compile_plan
from planner.errors import PlanError
from planner.plan.load import plan_from_source
from planner.plan.source import parse_source
from tests.helpers.cli import EXAMPLES

VALID = (EXAMPLES / "full" / "plan.yaml").read_text(encoding="utf-8")
DATA = yaml.safe_load(VALID)
YAML_CHARS = [*list(":{}[]-#&*!|>'\"%@`,?\n\t ${}.\\/\x00"), "${", "$${", "${env:", "  ", "\n- "]
ENV = {"HOME": "/home/user"}


def _check(text: str) -> None:
    lines = text.count("\n") + 2
    diagnostics = []
    try:
        source = parse_source(text, "plan.yaml")
        compile_plan(plan_from_source(source, Path("/plans"), {}, ENV))
    except PlanError as exc:
        diagnostics = exc.diagnostics
        assert diagnostics, "a PlanError always carries its problems"
    for d in diagnostics:
        assert d.location.file == "plan.yaml"
        assert 1 <= d.location.line <= lines
        assert d.location.col >= 1
        assert d.message


edits = st.lists(
    st.tuples(
        st.sampled_from(["delete", "insert", "duplicate-line", "drop-line"]),
        st.integers(min_value=0, max_value=len(VALID)),
        st.integers(min_value=1, max_value=12),
        st.sampled_from(YAML_CHARS),
    ),
    min_size=1,
    max_size=4,
)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits)
def test_text_mutations_give_located_plan_errors_only(ops: list[tuple[str, int, int, str]]) -> None:
    text = VALID
    for op, at, size, chars in ops:
        at = min(at, len(text))
        lines = text.split("\n")
        row = min(at // 40, len(lines) - 1)
        if op == "delete":
            text = text[:at] + text[at + size :]
        elif op == "insert":
            text = text[:at] + chars * (1 + size % 3) + text[at:]
        elif op == "duplicate-line":
            text = "\n".join([*lines[: row + 1], lines[row], *lines[row + 1 :]])
        else:
            text = "\n".join(lines[:row] + lines[row + 1 :])
    _check(text)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.sampled_from(
        ["", "x", "a:b", "a:../b", "${run}", "${nope}", "${env:NOPE}", "archive:", "5m", "*"]
    ),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(["id", "path", "src", "dst", "role", "x"]), children, max_size=3
        )
    ),
    max_leaves=6,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


ALL_PATHS = _paths(DATA)[1:]


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(ALL_PATHS), json_values), min_size=1, max_size=3))
def test_value_replacements_give_located_plan_errors_only(changes: list[tuple[Any, Any]]) -> None:
    data = yaml.safe_load(VALID)
    for path, value in changes:
        node = data
        try:
            for part in path[:-1]:
                node = node[part]
            node[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue  # an earlier change removed this path
    _check(yaml.safe_dump(data, sort_keys=False))
