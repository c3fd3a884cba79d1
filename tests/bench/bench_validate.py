"""Time `planner validate` (load + compile) on generated plans of 1k, 10k and 100k actions.

Run: python -m tests.bench.bench_validate [--sizes 1000,10000,100000] [--repeat 3]
Prints the median of the repeats per size, with each stage's median.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from planner.compile import compile_plan
from planner.errors import Location
from planner.gcpause import paused_gc
from planner.plan.interpolate import expand_document
from planner.plan.load import load_plan
from planner.plan.schema import validate_document
from planner.plan.source import read_source
from tests.bench.genplan import write_plan

T = TypeVar("T")


def _no_location(pointer: object, key: bool) -> Location:
    return Location("plan")


def _time(func: Callable[[], T]) -> tuple[float, T]:
    start = time.perf_counter()
    result = func()
    return time.perf_counter() - start, result


def bench(size: int, repeat: int, workdir: Path) -> dict[str, float]:
    """Median seconds per stage for a generated plan of `size` actions."""
    path = write_plan(workdir / f"plan-{size}.yaml", size)
    stages: dict[str, list[float]] = {
        k: [] for k in ("parse", "schema", "load", "compile", "total")
    }
    edges = actions = 0
    for _ in range(repeat):
        with paused_gc():  # as load_plan does
            t_parse, source = _time(lambda: read_source(path))
            expanded = expand_document(source, {}, {})
            t_schema, _ = _time(lambda: validate_document(expanded.data, _no_location))  # noqa: B023
        t_load, plan = _time(lambda: load_plan(path, {}, {}))
        t_compile, compiled = _time(lambda: compile_plan(plan))  # noqa: B023
        actions, edges = len(plan.actions), compiled.graph.number_of_edges()
        for name, seconds in (
            ("parse", t_parse),
            ("schema", t_schema),
            ("load", t_load),
            ("compile", t_compile),
            ("total", t_load + t_compile),
        ):
            stages[name].append(seconds)
    medians = {k: statistics.median(v) for k, v in stages.items()}
    medians.update(actions=actions, edges=edges)
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    header = ("actions", "edges", "total", "load", "(parse", "schema)", "compile")
    print(" ".join(f"{h:>8}" for h in header), f" (median of {args.repeat}, seconds)")
    with tempfile.TemporaryDirectory() as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            m = bench(size, args.repeat, Path(tmp))
            print(
                f"{int(m['actions']):>8} {int(m['edges']):>8} {m['total']:>8.3f} {m['load']:>8.3f} "
                f"{m['parse']:>8.3f} {m['schema']:>8.3f} {m['compile']:>8.3f}"
            )


if __name__ == "__main__":
    main()
