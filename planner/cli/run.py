"""`planner run PLAN`: execute a plan against the embedded worker or `--api-url`."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from planner.cli.notes import show_notes
from planner.cli.options import (
    api_options,
    check_storage,
    parse_vars,
    refuse_stdin,
    remote_option,
    serve_remotes,
    storage_option,
    token_from_env,
    var_option,
)
from planner.durations import parse_duration
from planner.errors import UsageError
from planner.gcpause import startup, survivors_frozen

if TYPE_CHECKING:
    from collections.abc import Callable

    from planner.compile import CompiledPlan
    from planner.runner.engine import Engine
    from planner.runner.session import SessionOptions


def _duration(text: str, option: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise UsageError(f"{option} {text!r}: not a duration (e.g. 30s, 5m)") from exc


@click.command()
@click.argument("plan", type=click.Path(dir_okay=False))
@var_option
@api_options
@storage_option
@remote_option
@click.option(
    "--concurrency",
    default=8,
    show_default=True,
    type=click.IntRange(1, 256),
    help="API operations in flight at once.",
)
@click.option(
    "--batch-size",
    default=500,
    show_default=True,
    type=click.IntRange(1, 10_000),
    help="Items per API request.",
)
@click.option("--keep-going", is_flag=True, help="After a failure, run every independent branch.")
@click.option(
    "--grace",
    default="30s",
    show_default=True,
    help="On Ctrl-C/SIGTERM, how long running actions may finish before cancelling.",
)
@click.option(
    "--state",
    "state_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Journal database (default: .planner/state.db beside the plan).",
)
@click.option("--resume", is_flag=True, help="Continue the latest unfinished run of this plan.")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Output format (json: one document on stdout).",
)
@click.option(
    "--report",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a JUnit XML report (one testcase per action).",
)
@click.option("-q", "--quiet", is_flag=True, help="Print only the final summary.")
@click.option(
    "--progress-interval",
    default="10s",
    show_default=True,
    envvar="PLANNER_PROGRESS_INTERVAL",
    help="Without a terminal, print the progress line at most this often.",
)
@click.option(
    "--max-delete",
    type=click.IntRange(0),
    default=None,
    help="Fail a mirror copy, deleting nothing, when it needs more deletions than this.",
)
@click.option(
    "--dry-run", is_flag=True, help="Preview only, change nothing (same as `planner plan`)."
)
def run(
    plan: str,
    variables: tuple[str, ...],
    api_url: str | None,
    token_env: str,
    storage: Path | None,
    remotes: tuple[str, ...],
    concurrency: int,
    batch_size: int,
    keep_going: bool,
    grace: str,
    state_path: Path | None,
    resume: bool,
    output_format: str,
    report: Path | None,
    quiet: bool,
    progress_interval: str,
    max_delete: int | None,
    dry_run: bool,
) -> int:
    """Run PLAN: copy, move, remove, grant and tag as it says, then check.

    Without --api-url (or PLANNER_API_URL) an embedded worker serves the plan for the duration
    of the command, with remotes `local` and `any` (.planner/storage beside the plan, or
    --storage DIR), and those of --remote.
    Exit 0 when every action succeeded, 1 when one failed, 2 for an invalid plan or usage,
    3 when the API cannot be reached, 130 when interrupted.
    """
    refuse_stdin(plan, "run --dry-run" if dry_run else "run")
    storage = check_storage(api_url, storage)
    serve_remotes(remotes, api_url)
    from planner.runner.saved_plan import is_saved_plan

    if is_saved_plan(plan):  # made by `planner plan --out`: applied exactly, or refused
        from planner.cli.apply import apply_saved
        from planner.cli.globals import global_options
        from planner.runner.executor import RunOptions

        return apply_saved(
            plan,
            variables,
            api_url,
            token_env,
            storage,
            run_options=RunOptions(
                concurrency=concurrency,
                batch_size=batch_size,
                keep_going=keep_going,
                grace=_duration(grace, "--grace"),
            ),
            max_delete=max_delete,
            state_path=state_path,
            resume=resume,
            output_format=output_format,
            report=report,
            quiet=quiet or global_options().quiet,
            verbose=global_options().verbose >= 1,
            interval=_duration(progress_interval, "--progress-interval"),
            dry_run=dry_run,
        )
    if dry_run:  # the same preview as `planner plan`
        from planner.cli.plan import preview

        return preview(
            plan,
            variables,
            api_url,
            token_env,
            output_format=output_format,
            storage=storage,
            max_delete=max_delete,
        )
    from planner.cli import embedded
    from planner.cli.globals import global_options

    quiet = quiet or global_options().quiet  # `planner -q run` as `planner run -q`
    interval = _duration(progress_interval, "--progress-interval")
    if report is not None and not os.access(report.parent.resolve(), os.W_OK):
        raise UsageError(
            f"--report {report}: cannot write into {report.parent} (checked before "
            "running, so the run is not wasted)"
        )
    # the worker's start-up overlaps the imports and the plan's loading
    with embedded.prestarted(not api_url):
        with startup():
            from planner.runner.executor import RunOptions
            from planner.runner.session import SessionOptions
            from planner.validate import load_and_compile

            compiled = load_and_compile(plan, parse_vars(variables))
        show_notes(compiled)
        options = SessionOptions(
            api_url=api_url,
            token=token_from_env(token_env),
            token_env=token_env,
            state_path=state_path,
            resume=resume,
            storage=storage,
            start_worker=embedded.embedded_worker,
            run=RunOptions(
                concurrency=concurrency,
                batch_size=batch_size,
                keep_going=keep_going,
                grace=_duration(grace, "--grace"),
                max_delete=max_delete,
            ),
        )
        # the global -v (`planner run -v` or `planner -v run`) lists every file action
        verbose = global_options().verbose >= 1
        return _execute(
            compiled,
            options,
            output_format=output_format,
            report=report,
            quiet=quiet,
            verbose=verbose,
            interval=interval,
        )


def _execute(
    compiled: CompiledPlan,
    options: SessionOptions,
    *,
    output_format: str,
    report: Path | None,
    quiet: bool,
    verbose: bool = False,
    interval: float = 10.0,
    wrap: Callable[[Engine], Engine] | None = None,
) -> int:
    """Run the session, print or write its outputs; the exit code (`interval`: at most how
    often the plain progress line is printed; `wrap`: a saved plan's guard on the engine)."""
    from planner.cli.embedded import storage_note
    from planner.cli.storage_note import StorageNote, uses_any
    from planner.render.progress import make_reporter
    from planner.render.run_json import write_run_json
    from planner.render.style import use_color
    from planner.runner.session import run_session

    stream = sys.stderr if output_format == "json" else sys.stdout

    def reporter():  # type: ignore[no-untyped-def]
        made = make_reporter(
            stream, quiet=quiet, color=use_color(stream), interval=interval, verbose=verbose
        )
        if quiet or options.api_url or not uses_any(compiled):
            return made
        return StorageNote(made, stream, storage_note(options.storage))

    with survivors_frozen():  # the plan and its graph, built: see planner/gcpause.py
        result, code = asyncio.run(run_session(compiled, options, reporter, wrap))
    if report is not None:
        from planner.render.junit import write_junit  # xml.etree: only for --report

        write_junit(result, report)
    if output_format == "json":  # its file lists read from the journal as they are written
        write_run_json(result, code, sys.stdout)
        sys.stdout.flush()
    return code
