"""`planner schema`: print the published JSON Schema, byte for byte."""

from __future__ import annotations

import sys

import click

from planner.plan.schema import schema_bytes


@click.command()
def schema() -> int:
    """Print the plan JSON Schema (draft 2020-12) exactly as shipped."""
    sys.stdout.flush()
    sys.stdout.buffer.write(schema_bytes())
    sys.stdout.buffer.flush()
    return 0
