"""`planner plan PLAN` (and `planner run --dry-run`): preview what a run would do, with
read-only API calls only (docs/preview.md)."""

from __future__ import annotations

import asyncio
import json
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
from planner.errors import PlannerError, UsageError
from planner.gcpause import startup, survivors_frozen

if TYPE_CHECKING:
    from planner.compile import CompiledPlan
    from planner.runner.results import RunResult

EXIT_NO_CHANGES, EXIT_ERRORS, EXIT_CHANGES = 0, 1, 2


@click.command()
@click.argument("plan_file", metavar="PLAN", type=click.Path(dir_okay=False))
@var_option
@api_options
@storage_option
@remote_option
@click.option("--offline", is_flag=True, help="Print the compiled order only; no API calls.")
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 when nothing would change, 1 on errors, 2 when changes are pending.",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    show_default=True,
    help="Output format (markdown: a table for pull-request comments).",
)
@click.option(
    "--max-delete",
    type=click.IntRange(0),
    default=None,
    help="As on `run`: a mirror copy needing more deletions would fail.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also save the plan to FILE, for `planner run FILE` to apply exactly (docs/preview.md).",
)
def plan(
    plan_file: str,
    variables: tuple[str, ...],
    api_url: str | None,
    token_env: str,
    storage: Path | None,
    remotes: tuple[str, ...],
    offline: bool,
    detailed_exitcode: bool,
    output_format: str,
    max_delete: int | None,
    out: Path | None = None,
) -> int:
    """Preview what `planner run PLAN` would do, without changing anything.

    Every action is shown in execution order: + create, ~ change or overwrite, = unchanged,
    - delete, ! would fail. Only read-only requests reach the API (list, exists, metadata:get,
    permissions:get, permissions:check). Exit 0, 1 when an action would fail, 2 for an invalid
    plan, 3 when the API cannot be reached; with --detailed-exitcode: 0 no changes, 2 changes
    pending, 1 for any error (an invalid plan and an unreachable API included).
    With --out FILE the plan is saved too: `planner run FILE` applies exactly what it shows,
    or refuses when anything changed since.
    """
    serve_remotes(remotes, api_url)
    if out is not None and offline:
        raise UsageError("--out saves a preview; --offline makes none (leave out one of them)")
    if out is not None and not os.access(out.parent.resolve(), os.W_OK):
        raise UsageError(
            f"--out {out}: cannot write into {out.parent} (checked before the preview, so it "
            "is not wasted)"
        )
    return preview(
        plan_file,
        variables,
        api_url,
        token_env,
        offline=offline,
        detailed_exitcode=detailed_exitcode,
        output_format=output_format,
        storage=check_storage(api_url, storage),
        max_delete=max_delete,
        out=out,
    )


def preview(
    plan_file: str,
    variables: tuple[str, ...],
    api_url: str | None,
    token_env: str,
    *,
    offline: bool = False,
    detailed_exitcode: bool = False,
    output_format: str = "text",
    storage: Path | None = None,
    max_delete: int | None = None,
    out: Path | None = None,
) -> int:
    """The preview, shared by `planner plan` and `planner run --dry-run`; its exit code."""
    from planner.cli import embedded

    try:
        refuse_stdin(plan_file, "plan")
        # the worker's start-up overlaps the imports and the plan's loading
        with embedded.prestarted(not api_url and not offline):
            with startup():
                from planner.runner.executor import RunOptions
                from planner.runner.session import SessionOptions, run_preview
                from planner.validate import load_and_compile

                compiled = load_and_compile(plan_file, parse_vars(variables))
            show_notes(compiled)
            if offline:
                _show_order(compiled, output_format)
                return EXIT_NO_CHANGES
            options = SessionOptions(
                api_url=api_url,
                token=token_from_env(token_env),
                token_env=token_env,
                storage=storage,
                start_worker=embedded.embedded_worker,
                run=RunOptions(max_delete=max_delete),
            )
            with survivors_frozen():  # the plan and its graph: see planner/gcpause.py
                if out is not None:
                    from planner.cli.saving import save_preview

                    where = _where(compiled, api_url, storage)
                    result = save_preview(compiled, options, variables, out, where)
                else:
                    result = asyncio.run(run_preview(compiled, options))
    except PlannerError as exc:
        if detailed_exitcode:  # Terraform's convention: 2 means "changes", any error is 1
            exc.exit_code = EXIT_ERRORS
        raise
    where = _where(compiled, api_url, storage)
    return _show(result, api_url, where, output_format, detailed_exitcode)


def _where(compiled: CompiledPlan, api_url: str | None, storage: Path | None) -> str:
    """What the preview ran against: the API URL, or the embedded worker and where it keeps
    remote `any` when the plan uses it."""
    from planner.cli.embedded import storage_note
    from planner.cli.storage_note import uses_any

    if api_url:
        return api_url
    if uses_any(compiled):
        return f"the embedded worker ({storage_note(storage)})"
    return "the embedded worker"


def _show_order(compiled: CompiledPlan, output_format: str) -> None:
    order = compiled.actions_in_order()
    if output_format == "json":
        document = {
            "format_version": 1,
            "plan": {"file": compiled.plan.file, "name": compiled.plan.name},
            "offline": True,
            "order": [{"id": a.id, "kind": a.kind} for a in order],
        }
        click.echo(json.dumps(document, indent=2))
        return
    click.echo(f"Compiled order of {compiled.plan.file} (offline: nothing was probed):")
    for number, action in enumerate(order, 1):
        click.echo(f"  {number:>3}. {action.id}  ({action.kind})")


def _show(
    result: RunResult, api_url: str | None, where: str, output_format: str, detailed: bool
) -> int:
    """Print the preview against `where`; the exit code it calls for."""
    from planner.render import preview as render
    from planner.render.style import use_color

    if output_format == "json":
        click.echo(render.render_preview_json(result, api_url))
    elif output_format == "markdown":
        click.echo(render.render_preview_markdown(result, where))
    else:
        click.echo(render.render_preview_text(result, where, color=use_color(sys.stdout)))
    summary = render.totals(result)
    if summary.failing or summary.skipped:
        return EXIT_ERRORS
    if detailed and summary.changes:
        return EXIT_CHANGES
    return EXIT_NO_CHANGES
