"""`planner validate PLAN|DIR...`: check schema, variables, paths and the DAG; no API calls."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import click

from planner.cli.globals import global_options
from planner.cli.options import parse_vars, var_option
from planner.errors import EXIT_INVALID, EXIT_OK, UsageError
from planner.render.diagnostics import render_github, render_json, render_text
from planner.render.style import use_color
from planner.validate import validate_file

PLAN_SUFFIXES = (".yaml", ".yml")
# a plan has `version:` at the top level; a line test, so that a plan too broken to parse is
# still found (and reported) rather than skipped
_TOP_LEVEL_VERSION = re.compile(rb"""^(["']?)version\1[ \t]*:""", re.MULTILINE)


@click.command()
@click.argument("plans", nargs=-1, required=True, type=click.Path(allow_dash=True))
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

    A directory stands for every plan below it: each *.yaml and *.yml file with `version:` at
    the top level, in sorted order (hidden files and directories are not searched).
    Exit 0 when every plan is valid, 2 otherwise.
    """
    overrides = parse_vars(variables)
    quiet, verbose = global_options().quiet, global_options().verbose  # before or after
    files: list[str] = []
    searched = False
    for given in plans:
        if given != "-" and os.path.isdir(given):
            searched = True
            found, skipped = plans_below(given)
            if verbose and output_format == "text":
                for name in skipped:
                    click.echo(f"{name}: skipped: no top-level version:")
            files += found
        else:
            files.append(given)
    results = [validate_file(p, overrides) for p in files]
    if output_format == "json":
        out = render_json(results)
    elif output_format == "github":
        out = render_github(results)
    else:
        out = render_text(results, color=use_color(sys.stdout), quiet=quiet)
        if searched and not quiet and all(r.is_valid for r in results):
            out += f"\nAll {len(results)} plans are valid."  # a directory: say what was checked
    if out:
        click.echo(out)
    return EXIT_OK if all(r.is_valid for r in results) else EXIT_INVALID


def plans_below(directory: str) -> tuple[list[str], list[str]]:
    """The plans below `directory` and the other *.yaml/*.yml files there, each sorted.

    Raises:
        UsageError: there is no plan below it.
    """
    found: list[str] = []
    skipped: list[str] = []
    for top, dirs, names in os.walk(directory):  # links to directories are not followed
        dirs[:] = [d for d in dirs if not d.startswith(".")]  # .git, .planner (its storage)
        for name in names:
            if name.endswith(PLAN_SUFFIXES) and not name.startswith("."):
                path = os.path.join(top, name)
                (found if _is_plan(path) else skipped).append(path)
    if not found:
        raise UsageError(
            f"{directory}: no plan below it (a plan is a *.yaml or *.yml file with `version:` "
            "at the top level)"
        )
    return sorted(found, key=_parts), sorted(skipped, key=_parts)


def _parts(path: str) -> tuple[str, ...]:
    return Path(path).parts  # `a/b.yaml` before `a-b.yaml`: directory by directory


def _is_plan(path: str) -> bool:
    try:
        with open(path, "rb") as file:
            return _TOP_LEVEL_VERSION.search(file.read()) is not None
    except OSError:
        return True  # unreadable: validating it says why, rather than skipping it in silence
