"""planner: declarative transfer plans, validated, compiled into a DAG and run against a
Data Transfer API.

The public API is imported lazily so that `import planner` (and `planner --version`) stay fast.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing itself is not imported: `planner` starts the worker before it
if TYPE_CHECKING:
    from typing import Any

__version__ = "0.1.0"

__all__ = ["CompiledPlan", "Plan", "__version__", "compile_plan", "load_plan"]


def __getattr__(name: str) -> Any:
    if name in ("CompiledPlan", "compile_plan"):
        from planner import compile as _compile

        return getattr(_compile, name)
    if name == "load_plan":
        from planner.plan.load import load_plan

        return load_plan
    if name == "Plan":
        from planner.plan.model import Plan

        return Plan
    raise AttributeError(f"module 'planner' has no attribute {name!r}")
