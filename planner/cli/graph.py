"""`planner graph PLAN`: print the compiled DAG."""

from __future__ import annotations

import click

from planner.cli.options import parse_vars, var_option
from planner.render.graph import RENDERERS
from planner.validate import load_and_compile_source


@click.command()
@click.argument("plan", type=click.Path(dir_okay=False, allow_dash=True))
@var_option
@click.option(
    "--format",
    "output_format",
    type=click.Choice(list(RENDERERS)),
    default="mermaid",
    show_default=True,
    help="Output format.",
)
def graph(plan: str, variables: tuple[str, ...], output_format: str) -> int:
    """Print the DAG of PLAN (`-`: read it from standard input): actions, `needs` edges and
    inferred edges labelled by rule."""
    compiled = load_and_compile_source(plan, parse_vars(variables))
    click.echo(RENDERERS[output_format](compiled))
    return 0
