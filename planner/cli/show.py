"""`planner show FILE`: a saved plan rendered as its preview was, without contacting any worker
(docs/preview.md, "Saved plans")."""

from __future__ import annotations

import sys

import click

EXIT_OK, EXIT_WOULD_FAIL = 0, 1


@click.command()
@click.argument("saved_file", metavar="FILE", type=click.Path(dir_okay=False))
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    show_default=True,
    help="Output format, as for `planner plan`.",
)
def show(saved_file: str, output_format: str) -> int:
    """Show the saved plan FILE (made by `planner plan --out FILE`) as `planner plan` showed it.

    Nothing is contacted: the preview is the one saved. Exit 0, 1 when an action would fail,
    2 when FILE is not a saved plan, or is damaged, edited, or made by an incompatible planner.
    """
    from planner.render import preview as render
    from planner.render.style import use_color
    from planner.runner.result_data import result_from_data
    from planner.runner.saved_plan import load_saved

    saved = load_saved(saved_file)
    result = result_from_data(saved["result"])
    worker = saved["worker"]
    api_url = None if worker["api"] == "embedded" else worker["api"]
    where = str(saved["where"])
    if output_format == "json":
        click.echo(render.render_preview_json(result, api_url))
    elif output_format == "markdown":
        click.echo(render.render_preview_markdown(result, where))
    else:
        click.echo(render.render_preview_text(result, where, color=use_color(sys.stdout)))
    summary = render.totals(result)
    return EXIT_WOULD_FAIL if summary.failing or summary.skipped else EXIT_OK
