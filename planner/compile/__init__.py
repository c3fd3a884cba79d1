"""Compilation: a Plan in, a checked dependency DAG out (see `compile_plan`)."""

from planner.compile.graph import CompiledPlan, compile_plan

__all__ = ["CompiledPlan", "compile_plan"]
