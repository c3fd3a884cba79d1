"""`planner run FILE` when FILE is a saved plan (`planner plan --out FILE`): verified, checked
for staleness against a fresh preview, then run with an engine that sends only the saved
writes (docs/preview.md, "Saved plans")."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from planner.cli.options import parse_vars, token_from_env

if TYPE_CHECKING:
    from planner.compile import CompiledPlan
    from planner.runner.executor import RunOptions
    from planner.runner.session import WorkerStarter
    from planner.runner.staleness import Difference

EXIT_STALE = 1
_SHOWN = 50  # differences listed in text; json lists them all


class OneWorker:
    """The embedded worker of both the check and the run of a saved plan: started when first
    asked for, stopped when `stack` closes (one start-up, not two)."""

    def __init__(self, stack: contextlib.ExitStack) -> None:
        self.stack = stack
        self.served: tuple[str, str] | None = None

    def __call__(
        self, base: Path, storage: Path | None
    ) -> contextlib.AbstractContextManager[tuple[str, str]]:
        from planner.cli.embedded import embedded_worker

        if self.served is None:
            self.served = self.stack.enter_context(embedded_worker(base, storage))
        return contextlib.nullcontext(self.served)


def check_saved(
    saved_file: str,
    variables: tuple[str, ...],
    api_url: str | None,
    token_env: str,
    storage: Path | None,
    *,
    resume: bool = False,
    start_worker: WorkerStarter | None = None,
) -> tuple[dict[str, Any], Any, list[Difference]]:
    """Load and verify the saved plan, and compare it with now: (the saved document, the plan
    compiled again, the differences). The inputs are compared first; the worker is previewed
    only when they are the same, and not at all on --resume (the interrupted run changed the
    storages: the saved writes still bound what the rest of the run may do).

    Raises:
        SavedPlanError: damaged, edited, unknown or incompatible (exit 2).
    """
    from planner.cli.embedded import embedded_worker
    from planner.runner.executor import RunOptions
    from planner.runner.saved_inputs import plan_inputs
    from planner.runner.saved_plan import load_saved
    from planner.runner.saved_session import observed_preview
    from planner.runner.session import SessionOptions
    from planner.runner.staleness import input_differences, observed_differences, plan_text
    from planner.validate import load_and_compile

    saved = load_saved(saved_file)
    then = saved["inputs"]
    overrides = parse_vars(variables) if variables else dict(then["vars"])
    plan_file = str(then["file"])
    found = plan_text(then, plan_file)  # first: an edited plan may not even parse now
    if found:
        return saved, None, found
    inputs = plan_inputs(plan_file, overrides)
    found = input_differences(then, inputs)
    if found:
        return saved, None, found
    compiled = load_and_compile(plan_file, overrides)
    if resume:
        return saved, compiled, []
    options = SessionOptions(
        api_url=api_url,
        token=token_from_env(token_env),
        token_env=token_env,
        storage=storage,
        start_worker=start_worker or embedded_worker,
        run=RunOptions(max_delete=saved_max_delete(saved)),
    )
    observed = asyncio.run(observed_preview(compiled, options))
    return saved, compiled, observed_differences(saved, observed.parts())


def saved_max_delete(saved: dict[str, Any]) -> int | None:
    """The `--max-delete` the plan was saved with (None: none, or a file saved before it was
    recorded)."""
    options = saved.get("options")
    value = options.get("max_delete") if isinstance(options, dict) else None
    return value if isinstance(value, int) else None


def tighter(saved: int | None, given: int | None) -> int | None:
    """The `--max-delete` a saved plan runs with: the one it was saved with, lowered (never
    raised) by the one given to `planner run FILE`."""
    if saved is None or given is None:
        return given if saved is None else saved
    return min(saved, given)


def report_stale(found: list[Difference], output_format: str) -> int:
    """Print the differences (text on stderr, or one JSON document on stdout); exit 1."""
    headline = f"stale plan: {len(found)} difference{'s' if len(found) != 1 else ''}"
    if output_format == "json":
        document = {
            "format_version": 1,
            "stale": True,
            "exit_code": EXIT_STALE,
            "error": headline,
            "differences": [d.as_data() for d in found],
        }
        click.echo(json.dumps(document, indent=2))
    lines = [
        f"planner: {headline} (nothing was changed; make the plan again with `planner plan --out`)"
    ]
    for difference in found[:_SHOWN]:
        lines.append(f"  {difference.path}: at plan time {difference.then}; now {difference.now}")
    if len(found) > _SHOWN:
        lines.append(f"  … and {len(found) - _SHOWN} more (--format json lists them all)")
    click.echo("\n".join(lines), err=True)
    return EXIT_STALE


def apply_saved(
    saved_file: str,
    variables: tuple[str, ...],
    api_url: str | None,
    token_env: str,
    storage: Path | None,
    *,
    output_format: str,
    resume: bool,
    dry_run: bool,
    max_delete: int | None,
    run_options: RunOptions,
    **run_args: Any,
) -> int:
    """Run a saved plan exactly, or refuse it (see the module doc); the exit code. `run_args`:
    the other options of `planner run`, as `_run` takes them."""
    from planner.cli import embedded

    with contextlib.ExitStack() as stack, embedded.prestarted(not api_url):
        worker = OneWorker(stack)
        saved, compiled, found = check_saved(
            saved_file, variables, api_url, token_env, storage, resume=resume, start_worker=worker
        )
        if found:
            return report_stale(found, output_format)
        if dry_run:
            click.echo(f"{saved_file}: up to date: `planner run {saved_file}` applies it as saved")
            return 0
        limit = tighter(saved_max_delete(saved), max_delete)
        return _run(
            saved,
            compiled,
            worker,
            api_url,
            token_env,
            storage,
            output_format=output_format,
            resume=resume,
            run_options=dataclasses.replace(run_options, max_delete=limit),
            **run_args,
        )


def _run(
    saved: dict[str, Any],
    compiled: CompiledPlan,
    worker: OneWorker,
    api_url: str | None,
    token_env: str,
    storage: Path | None,
    *,
    run_options: RunOptions,
    state_path: Path | None,
    resume: bool,
    output_format: str,
    report: Path | None,
    quiet: bool,
    verbose: bool,
    interval: float,
) -> int:
    """Run the checked plan, sending only its saved writes; the exit code."""
    from planner.cli.run import _execute
    from planner.runner.engine import Engine
    from planner.runner.guard import GuardedEngine
    from planner.runner.session import SessionOptions

    options = SessionOptions(
        api_url=api_url,
        token=token_from_env(token_env),
        token_env=token_env,
        state_path=state_path,
        resume=resume,
        storage=storage,
        start_worker=worker,
        run=run_options,
    )
    writes = saved["writes"]

    def guarded(real: Engine) -> Engine:
        return GuardedEngine(real, writes)

    return _execute(
        compiled,
        options,
        output_format=output_format,
        report=report,
        quiet=quiet,
        verbose=verbose,
        interval=interval,
        wrap=guarded,
    )
