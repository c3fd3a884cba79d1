"""Documents that passed the schema are remembered in `.planner/schema-valid` (an existing
folder only); failures are always validated again and worded the same; a changed document,
variable or damaged file means validating again."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from planner.errors import PlanError
from planner.plan import valid_cache
from planner.plan.load import load_plan

VALID = """\
version: 1
storages:
  s: {remote: local, root: /data}
  a: {remote: any, root: archive}
copies: [{id: cp, src: "s:out/", dst: "a:runs/${run}/"}]
vars: {run: demo}
"""
INVALID = VALID.replace("id: cp,", "id: cp, retry: {attempts: 0},")


def remembered(plan: Path) -> list[str]:
    path = plan.parent / ".planner" / valid_cache.FILE_NAME
    return path.read_text(encoding="ascii").split() if path.exists() else []


def schema_errors(plan: Path) -> list[str]:
    with pytest.raises(PlanError) as failed:
        load_plan(plan, env={})
    return [str(d).split(".yaml:", 1)[1] for d in failed.value.diagnostics]  # not the name


def test_nothing_is_written_without_a_planner_folder(write_plan: Callable[..., Path]) -> None:
    plan = write_plan(VALID)

    load_plan(plan, env={})

    assert not (plan.parent / ".planner").exists()


def test_a_valid_document_is_remembered_once_and_loads_the_same(
    write_plan: Callable[..., Path],
) -> None:
    plan = write_plan(VALID)
    (plan.parent / ".planner").mkdir()

    first = load_plan(plan, env={})
    again = load_plan(plan, env={})

    assert len(remembered(plan)) == 1
    assert again == first


def test_a_failure_is_never_remembered_and_says_the_same_after_a_success(
    write_plan: Callable[..., Path],
) -> None:
    (write_plan(VALID).parent / ".planner").mkdir()
    before = schema_errors(write_plan(INVALID, "other.yaml"))
    plan = write_plan(VALID)
    load_plan(plan, env={})

    write_plan(INVALID)

    assert schema_errors(plan) == before
    assert len(remembered(plan)) == 1  # the valid one only


def test_variables_and_the_document_are_in_the_key(write_plan: Callable[..., Path]) -> None:
    plan = write_plan(VALID)
    (plan.parent / ".planner").mkdir()

    load_plan(plan, env={})
    load_plan(plan, {"run": "other"}, env={})
    load_plan(plan, {"run": 1}, env={})
    load_plan(plan, {"run": "1"}, env={})

    assert len(set(remembered(plan))) == 4


def test_a_damaged_file_is_ignored_and_replaced(write_plan: Callable[..., Path]) -> None:
    plan = write_plan(VALID)
    (plan.parent / ".planner").mkdir()
    (plan.parent / ".planner" / valid_cache.FILE_NAME).write_bytes(b"\xff\x00 not hex\n")

    load_plan(plan, env={})

    assert len(remembered(plan)) == 1


def test_only_the_latest_keys_are_kept(tmp_path: Path) -> None:
    for n in range(valid_cache.KEEP + 5):
        valid_cache.remember(tmp_path, valid_cache.document_key({"n": n}))

    kept = (tmp_path / valid_cache.FILE_NAME).read_text(encoding="ascii")
    keys = kept.split()
    assert len(keys) == valid_cache.KEEP
    assert keys[-1] == valid_cache.document_key({"n": valid_cache.KEEP + 4})
    assert not valid_cache.validated_before(tmp_path, valid_cache.document_key({"n": 0}))
