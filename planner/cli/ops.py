"""`planner ops list|show ID|cancel ID`: an operator's view of a worker's operations."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import click

if TYPE_CHECKING:  # httpx and the client load only when a command runs (fast `planner validate`)
    from planner.api.client import ApiClient
    from planner.api.wire import Operation
from planner.cli.options import api_options, token_from_env
from planner.errors import EXIT_FAILED, EXIT_OK, UsageError

T = TypeVar("T")
FORMAT = click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Output format.",
)


def _call(api_url: str | None, token_env: str, action: Callable[[ApiClient], Awaitable[T]]) -> T:
    if not api_url:
        raise UsageError("planner ops needs a worker: give --api-url URL or set PLANNER_API_URL")

    from planner.api.client import ApiClient

    async def run() -> T:
        async with ApiClient(api_url, token=token_from_env(token_env)) as api:
            return await action(api)

    return asyncio.run(run())


def _when(op: Operation) -> str:
    return op.queued_at.strftime("%Y-%m-%d %H:%M:%S") if op.queued_at else "-"


def _line(op: Operation) -> str:
    progress = f"{op.progress * 100:5.1f}%"
    return f"{op.id:<24}  {op.state.value:<9}  {progress}  {_when(op)}  {op.description or ''}"


def _details(op: Operation) -> list[str]:
    lines = [
        f"id:          {op.id}",
        f"state:       {op.state.value}",
        f"description: {op.description or ''}",
        f"progress:    {op.progress * 100:.1f}% ({op.progress_current}/{op.progress_total})",
        f"queued:      {op.queued_at.isoformat() if op.queued_at else '-'}",
        f"started:     {op.started_at.isoformat() if op.started_at else '-'}",
        f"ended:       {op.ended_at.isoformat() if op.ended_at else '-'}",
        f"user:        {op.user_id or '-'}",
    ]
    if op.rate:
        lines.append(f"rate:        {op.rate}")
    if op.error:
        code = op.error_detail.code if op.error_detail else None
        lines.append(f"error:       {op.error}" + (f" (code {code})" if code else ""))
    for child in op.children_detail or []:
        error = f"  {child.error}" if child.error else ""
        lines.append(f"  {child.id}  {child.state.value:<9}  {child.description or ''}{error}")
    return lines


def _dump(payload: object) -> str:
    return json.dumps(payload, indent=2)


@click.group()
def ops() -> None:
    """Inspect or cancel operations on a worker."""


@ops.command("list")
@api_options
@FORMAT
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
def list_operations(api_url: str | None, token_env: str, output_format: str, limit: int) -> int:
    """Recent operations, newest first."""
    found = _call(api_url, token_env, lambda api: api.recent_operations(limit=limit))
    if output_format == "json":
        click.echo(
            _dump(
                {
                    "format_version": 1,
                    "operations": [o.model_dump(mode="json") for o in found.operations],
                }
            )
        )
    else:
        click.echo(f"{'ID':<24}  {'STATE':<9}  {'DONE':>6}  {'QUEUED':<19}  DESCRIPTION")
        for op in found.operations:
            click.echo(_line(op))
    return EXIT_OK


@ops.command("show")
@click.argument("operation_id")
@api_options
@FORMAT
def show_operation(
    operation_id: str, api_url: str | None, token_env: str, output_format: str
) -> int:
    """One operation, with its children."""
    op = _call(api_url, token_env, lambda api: api.operation(operation_id))
    if output_format == "json":
        click.echo(_dump({"format_version": 1, "operation": op.model_dump(mode="json")}))
    else:
        click.echo("\n".join(_details(op)))
    return EXIT_FAILED if op.error == "unknown operation" else EXIT_OK


@ops.command("cancel")
@click.argument("operation_id")
@api_options
@FORMAT
def cancel_operation(
    operation_id: str, api_url: str | None, token_env: str, output_format: str
) -> int:
    """Cancel an operation (best effort: queued items stop at once, running copies at their
    next chunk)."""

    async def cancel(api: ApiClient) -> Operation:
        await api.cancel(operation_id)
        return await api.operation(operation_id)

    op = _call(api_url, token_env, cancel)
    if output_format == "json":
        click.echo(_dump({"format_version": 1, "operation": op.model_dump(mode="json")}))
    else:
        click.echo(f"{op.id}: {op.state.value}" + (f" ({op.error})" if op.error else ""))
    return EXIT_OK
