"""`planner runs` and `planner runs show RUN_ID`: the run history the journal keeps (what ran,
when, how it ended, and every file item it sent: the run's provenance record)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from planner.errors import UsageError

_STATE_HELP = "The journal (default: .planner/state.db beside --plan, or in this directory)."
_FORMAT = click.Choice(["text", "json"])
_ITEMS_SHOWN = 10


def _journal_path(state: Path | None, plan: Path | None) -> Path:
    if state is not None:
        return state
    base = plan.resolve().parent if plan is not None else Path.cwd()
    return base / ".planner" / "state.db"


def _journal_paths(state: Path | None, plan: Path | None) -> list[Path]:
    """Where `runs show` looks for a run: --state alone, else the journal beside --plan and
    the one in the current directory."""
    if state is not None:
        return [state]
    found = [_journal_path(None, plan), _journal_path(None, None)]
    return list(dict.fromkeys(p.resolve() for p in found))


def _no_journal(paths: list[Path]) -> str:
    """Where we looked and how to point at a plan's journal."""
    looked = " or ".join(str(p) for p in paths)
    return (
        f"no journal at {looked} (a run keeps its journal in .planner/state.db beside its plan "
        "file); give --plan PLAN or --state FILE"
    )


@click.group(invoke_without_command=True)
@click.option("--state", "state_path", type=click.Path(path_type=Path), help=_STATE_HELP)
@click.option(
    "--plan", "plan_file", type=click.Path(path_type=Path), help="Only the runs of this plan."
)
@click.option(
    "--limit",
    default=20,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="At most this many runs.",
)
@click.option("--format", "output_format", type=_FORMAT, default="text", show_default=True)
@click.pass_context
def runs(
    ctx: click.Context,
    state_path: Path | None,
    plan_file: Path | None,
    limit: int,
    output_format: str,
) -> int:
    """List recorded runs, newest first: id, plan, start, duration, result and counts."""
    if ctx.invoked_subcommand is not None:
        return 0
    from planner.render.runs import render_runs_json, render_runs_text
    from planner.runner.journal import Journal

    path = _journal_path(state_path, plan_file)
    found = []
    if path.exists():
        journal = Journal(path)
        try:
            plan_key = str(plan_file.resolve()) if plan_file is not None else None
            found = journal.runs(plan_key, limit)
        finally:
            journal.close()
    if output_format == "json":
        click.echo(render_runs_json(found, path))
    elif not path.exists():
        click.echo(f"No runs recorded: {_no_journal([path])}.")
    else:
        click.echo(render_runs_text(found, path))
    return 0


@runs.command()
@click.argument("run_id")
@click.option("--state", "state_path", type=click.Path(path_type=Path), help=_STATE_HELP)
@click.option(
    "--plan", "plan_file", type=click.Path(path_type=Path), help="Find the journal beside it."
)
@click.option("--format", "output_format", type=_FORMAT, default="text", show_default=True)
def show(run_id: str, state_path: Path | None, plan_file: Path | None, output_format: str) -> int:
    """Show one run (RUN_ID or a unique prefix of it): its actions, errors and file items."""
    from planner.render.run_json import run_document, write_document
    from planner.render.runs import render_run_show
    from planner.runner.journal import Journal, JournalError

    paths = [p for p in _journal_paths(state_path, plan_file) if p.exists()]
    if not paths:
        raise UsageError(_no_journal(_journal_paths(state_path, plan_file)))
    for path in paths:
        journal = Journal(path)
        try:
            try:
                summary = journal.summary(run_id)
            except JournalError:
                if path != paths[-1]:
                    continue  # not in this journal: try the next one
                if len(paths) > 1:
                    looked = " or ".join(str(p) for p in paths)
                    raise UsageError(f"no run {run_id!r} in {looked}") from None
                raise
            run = journal.load(summary.run_id, items=False)  # read as they are written
            break
        finally:
            journal.close()
    if output_format == "json":
        code = 0 if summary.result == "succeeded" else 1
        document = run_document(run, code, streamed=True)
        document["result"] = summary.result
        document["resumed_from"] = summary.resumed_from
        document["superseded_by"] = summary.superseded_by
        del document["exit_code"]
        write_document(document, sys.stdout)
        sys.stdout.flush()
    else:
        click.echo(render_run_show(summary, run, items_shown=_ITEMS_SHOWN))
    return 0
