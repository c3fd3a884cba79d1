"""`planner run FILE` when FILE is a saved plan (`planner plan --out FILE`): verified, checked
for staleness against a fresh preview, then run with an engine that sends only the saved
writes (docs/preview.md, "Saved plans")."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from planner.cli.options import parse_vars, token_from_env

if TYPE_CHECKING:
    from planner.runner.executor import RunOptions
    from planner.runner.staleness import Difference

EXIT_STALE = 1
_SHOWN = 50  # differences listed in text; json lists them all


def check_saved(
    saved_file: str,
    variables: tuple[str, ...],
    api_url: str | None,
    token_env: str,
    storage: Path | None,
    *,
    resume: bool = False,
) -> tuple[dict[str, Any], Any, list[Difference]]:
    """Load and verify the saved plan, and compare it with now: (the saved document, the plan
    compiled again, the differences). The inputs are compared first; the worker is previewed
    only when they are the same, and not at all on --resume (the interrupted run changed the
    storages: the saved writes still bound what the rest of the run may do).

    Raises:
        SavedPlanError: damaged, edited, unknown or incompatible (exit 2).
    """
    from planner.cli import embedded
    from planner.runner.saved_inputs import plan_inputs
    from planner.runner.saved_plan import load_saved
    from planner.runner.saved_session import observed_preview
    from planner.runner.session import SessionOptions
    from planner.runner.staleness import Difference, differences
    from planner.validate import load_and_compile

    saved = load_saved(saved_file)
    then = saved["inputs"]
    overrides = parse_vars(variables) if variables else dict(then["vars"])
    plan_file = str(then["file"])
    if not Path(plan_file).is_file():
        return saved, None, [Difference(f"plan {plan_file}", "as saved", "absent")]
    inputs = plan_inputs(plan_file, overrides)
    compared = {**saved, "observations": {}, "writes": [], "result": {"actions": []}}
    now = {**compared, "inputs": inputs}
    found = differences(compared, now)
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
        start_worker=embedded.embedded_worker,
    )
    observed = asyncio.run(observed_preview(compiled, options))
    return saved, compiled, differences(saved, {"inputs": inputs, **observed.parts()})


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
    run_options: RunOptions,
    state_path: Path | None,
    resume: bool,
    output_format: str,
    report: Path | None,
    quiet: bool,
    verbose: bool,
    interval: float,
    dry_run: bool,
) -> int:
    """Run a saved plan exactly, or refuse it (see the module doc); the exit code."""
    from planner.cli import embedded
    from planner.cli.run import _execute
    from planner.runner.engine import Engine
    from planner.runner.guard import GuardedEngine
    from planner.runner.session import SessionOptions

    saved, compiled, found = check_saved(
        saved_file, variables, api_url, token_env, storage, resume=resume
    )
    if found:
        return report_stale(found, output_format)
    if dry_run:
        click.echo(f"{saved_file}: up to date; `planner run {saved_file}` would apply it as saved")
        return 0
    options = SessionOptions(
        api_url=api_url,
        token=token_from_env(token_env),
        token_env=token_env,
        state_path=state_path,
        resume=resume,
        storage=storage,
        start_worker=embedded.embedded_worker,
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
