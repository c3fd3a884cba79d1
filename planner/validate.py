"""Validation of plan files end to end (load + compile), collected per file, never raising for
a plan problem: what `planner validate` reports."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from planner.compile import CompiledPlan, compile_plan
from planner.errors import Diagnostic, PlanError
from planner.plan.load import load_plan, load_plan_text

STDIN_NAME = "<stdin>"


@dataclass
class ValidationResult:
    """The outcome of validating one plan file."""

    file: str
    compiled: CompiledPlan | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def is_valid(self) -> bool:
        return self.compiled is not None and not self.diagnostics

    def kinds(self) -> dict[str, int]:
        """Number of actions per kind."""
        if self.compiled is None:
            return {}
        return dict(Counter(a.kind for a in self.compiled.plan.actions))


def load_and_compile(path: str, variables: Mapping[str, Any] | None = None) -> CompiledPlan:
    """Load and compile one plan.

    Raises:
        PlanError: every problem of the file.
    """
    return compile_plan(load_plan(path, variables))


def load_and_compile_source(path: str, variables: Mapping[str, Any] | None = None) -> CompiledPlan:
    """`load_and_compile`, where `-` reads the plan from standard input (relative paths in it
    are then relative to the current directory; its problems are located in `<stdin>`).

    Raises:
        PlanError: every problem of the plan.
    """
    if path != "-":
        return load_and_compile(path, variables)
    stream = getattr(sys.stdin, "buffer", None)  # bytes: the decoding is the loader's
    text = stream.read() if stream is not None else sys.stdin.read()
    plan = load_plan_text(text, STDIN_NAME, Path.cwd(), variables)
    return compile_plan(plan)


def validate_file(path: str, variables: Mapping[str, Any] | None = None) -> ValidationResult:
    """Validate one plan file (`-`: standard input); problems are returned, not raised."""
    name = STDIN_NAME if path == "-" else path
    try:
        return ValidationResult(name, load_and_compile_source(path, variables))
    except PlanError as exc:
        return ValidationResult(name, None, exc.diagnostics)
