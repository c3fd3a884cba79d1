"""The one entry point of the front end: a plan file in, a valid Plan out (or every problem)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from planner.errors import Diagnostic, Location, PlanError, Pointer
from planner.gcpause import paused_gc
from planner.plan.build import PlanBuilder
from planner.plan.interpolate import SECTIONS, Expanded, expand_document
from planner.plan.model import Plan
from planner.plan.schema import validate_document
from planner.plan.source import SourceDoc, decode_source, parse_source, read_source
from planner.plan.valid_cache import document_key, remember, validated_before


def load_plan(
    path: str | os.PathLike[str],
    variables: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> Plan:
    """Load, resolve and check one plan file.

    `variables` override `vars` (like `--var`); `env` defaults to the process environment.

    Raises:
        PlanError: with every problem found, sorted by position.
    """
    file = Path(path)
    with paused_gc():
        source = read_source(file, display=str(path))
        plan_dir = file.resolve().parent
        return plan_from_source(source, plan_dir, variables or {}, env, plan_dir / ".planner")


def load_plan_text(
    text: str | bytes,
    name: str,
    plan_dir: Path,
    variables: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> Plan:
    """`load_plan` for text that is not in a file (`planner validate -` reads stdin).

    Raises:
        PlanError: with every problem found, sorted by position.
    """
    with paused_gc():
        source = parse_source(decode_source(text, name), name)
        return plan_from_source(source, plan_dir, variables or {}, env)


def plan_from_source(
    source: SourceDoc,
    plan_dir: Path,
    variables: Mapping[str, Any],
    env: Mapping[str, str] | None = None,
    state_dir: Path | None = None,
) -> Plan:
    """Resolve, validate and build a parsed plan (see `load_plan`); `state_dir` (the plan's
    `.planner`) remembers the documents that passed the schema (plan/valid_cache.py)."""
    expanded = expand_document(source, variables, os.environ if env is None else env)

    def locate(pointer: Pointer, key: bool = False) -> Location:
        return source.locate(expanded.source_pointer(pointer), key=key)

    key = document_key(expanded.data) if state_dir is not None else ""
    known = bool(key) and validated_before(state_dir, key)
    schema_errors = [] if known else validate_document(expanded.data, locate)
    diagnostics: list[Diagnostic] = list(schema_errors)
    digest = hashlib.sha256(
        source.text.encode() + json.dumps(dict(variables), sort_keys=True, default=str).encode()
    ).hexdigest()
    builder = PlanBuilder(expanded, locate, plan_dir, _invalid_parts(schema_errors))
    plan, problems = builder.build(source.file, digest)
    diagnostics.extend(problems)
    if plan is not None and not diagnostics and not expanded.diagnostics:
        if key and not known:
            remember(state_dir, key)
        return plan
    # interpolation reports in file terms already; the later stages see the expanded document
    in_file = [*expanded.diagnostics, *(_source_pointer(d, expanded) for d in diagnostics)]
    raise PlanError(list(dict.fromkeys(in_file)))


def _source_pointer(diagnostic: Diagnostic, expanded: Expanded) -> Diagnostic:
    """Point `("copies", 4, ...)` (an index after for_each expansion) at the entry's index in
    the file."""
    in_file = expanded.source_pointer(diagnostic.pointer)
    return diagnostic if in_file == diagnostic.pointer else replace(diagnostic, pointer=in_file)


def _invalid_parts(errors: list[Diagnostic]) -> set[Pointer]:
    """What schema errors make unusable for building: `(section, index)` of action entries,
    `("storages", name)`, and `("defaults",)`."""
    invalid: set[Pointer] = set()
    for diagnostic in errors:
        pointer = diagnostic.pointer
        if (len(pointer) >= 2 and pointer[0] in SECTIONS and isinstance(pointer[1], int)) or (
            len(pointer) >= 2 and pointer[0] == "storages"
        ):
            invalid.add(pointer[:2])
        elif pointer[:1] == ("defaults",):
            invalid.add(("defaults",))
    return invalid
