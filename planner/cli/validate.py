"""`planner validate PLAN...`: check schema, variables, paths and the DAG; no API calls."""

from __future__ import annotations

import sys

import click

from planner.cli.globals import global_options
from planner.cli.options import parse_vars, var_option
from planner.errors import EXIT_INVALID, EXIT_OK
from planner.render.diagnostics import render_github, render_json, render_text
from planner.render.style import use_color
from planner.validate import validate_file


@click.command()
@click.argument("plans", nargs=-1, required=True, type=click.Path(dir_okay=False, allow_dash=True))
@var_option
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json", "github"]),
    default="text",
    show_default=True,
    help="Output format.",
)
def validate(plans: tuple[str, ...], variables: tuple[str, ...], output_format: str) -> int:
    """Check plans: schema, variables, paths and the DAG. No API calls.

    Exit 0 when every plan is valid, 2 otherwise.
    """
    overrides = parse_vars(variables)
    results = [validate_file(p, overrides) for p in plans]
    if output_format == "json":
        out = render_json(results)
    elif output_format == "github":
        out = render_github(results)
    else:
        # -q (a global option, before or after the command): problems only
        out = render_text(results, color=use_color(sys.stdout), quiet=global_options().quiet)
    if out:
        click.echo(out)
    return EXIT_OK if all(r.is_valid for r in results) else EXIT_INVALID
