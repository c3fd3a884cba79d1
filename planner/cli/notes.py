"""The notes of a compiled plan (a `needs` overriding an inferred edge), printed by `plan` and
`run` on stderr so that their stdout (a preview, a JSON document) stays as it was."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:  # networkx stays out of the CLI's start-up
    from planner.compile import CompiledPlan


def show_notes(compiled: CompiledPlan) -> None:
    """Print each note as `file:line:col: note: message` on stderr; never changes an exit code."""
    if not compiled.notes:
        return
    from planner.render.diagnostics import render_notes
    from planner.render.style import use_color

    click.echo(render_notes(compiled.notes, use_color(sys.stderr)), err=True)
