"""Options shared by several commands."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from planner.errors import UsageError
from planner.plan.interpolate import parse_var_override

F = TypeVar("F", bound=Callable[..., Any])


def var_option(func: F) -> F:
    """`--var NAME=VALUE` (repeatable): overrides a plan variable."""
    return click.option(
        "--var",
        "variables",
        multiple=True,
        metavar="NAME=VALUE",
        help="Override a plan variable (repeatable). [a, b] gives a list.",
    )(func)


def parse_vars(values: tuple[str, ...]) -> dict[str, Any]:
    """`--var` values -> {name: value}.

    Raises:
        UsageError: a malformed NAME=VALUE.
    """
    out: dict[str, Any] = {}
    for text in values:
        try:
            name, value = parse_var_override(text)
        except ValueError as exc:
            raise UsageError(str(exc)) from exc
        out[name] = value
    return out


def refuse_stdin(plan: str, command: str) -> None:
    """`planner run -` and `planner plan -`: a plan read from standard input has no directory,
    and its journal, lock and `.planner/` live beside the plan file.

    Raises:
        UsageError: `plan` is `-`.
    """
    if plan == "-":
        raise UsageError(
            f"planner {command} reads the plan from a file, not from standard input: the "
            "journal and .planner/ live beside the plan file (and relative storage roots start "
            f"there); save the plan to a file and run `planner {command} plan.yaml`"
        )


def api_options(func: F) -> F:
    """`--api-url` (env PLANNER_API_URL) and `--token-env` (default PLANNER_TOKEN)."""
    func = click.option(
        "--token-env",
        default="PLANNER_TOKEN",
        show_default=True,
        metavar="NAME",
        help="Environment variable holding the bearer token.",
    )(func)
    return click.option(
        "--api-url",
        envvar="PLANNER_API_URL",
        metavar="URL",
        help="API base URL including /api/v1 (env PLANNER_API_URL).",
    )(func)


def token_from_env(name: str) -> str | None:
    """The token held by environment variable `name` (None when unset or empty)."""
    import os

    return os.environ.get(name) or None


def storage_option(func: F) -> F:
    """`--storage DIR` (env PLANNER_STORAGE): where the embedded worker keeps remote `any`."""
    return click.option(
        "--storage",
        envvar="PLANNER_STORAGE",
        type=click.Path(file_okay=False, path_type=Path),
        metavar="DIR",
        help="Where the embedded worker keeps remote `any` (default: .planner/storage beside "
        "the plan; env PLANNER_STORAGE).",
    )(func)


def remote_option(func: F) -> F:
    """`--remote NAME=DIR|URL` (repeatable): another remote of the embedded worker."""
    return click.option(
        "--remote",
        "remotes",
        multiple=True,
        metavar="NAME=DIR|URL",
        help="Another remote of the embedded worker: a directory (or file:///DIR), or an "
        "object store location s3://BUCKET/PREFIX (repeatable; credentials from the AWS "
        "environment).",
    )(func)


def serve_remotes(values: tuple[str, ...], api_url: str | None) -> None:
    """Give the embedded worker the remotes of `--remote` (checked now: a usage error before
    anything starts).

    Raises:
        UsageError: a malformed `--remote`, or `--remote` together with `--api-url`.
    """
    from planner.cli import embedded

    if not values:
        embedded.serve_remotes({})
        return
    if api_url:
        raise UsageError(
            "--remote adds a remote to the embedded worker; the worker at --api-url has its "
            "own remotes (leave out one of them)"
        )
    from planner.cli.worker import remote_option as parse

    embedded.serve_remotes(dict(parse(value, embedded=True) for value in values))


def check_storage(api_url: str | None, storage: Path | None) -> Path | None:
    """`--storage` for the embedded worker: None with `--api-url` (that worker keeps its own).

    Raises:
        UsageError: `--storage` given on the command line together with `--api-url`.
    """
    if not api_url or storage is None:
        return storage
    ctx = click.get_current_context(silent=True)
    source = ctx.get_parameter_source("storage") if ctx is not None else None
    if source is click.core.ParameterSource.COMMANDLINE:
        raise UsageError(
            "--storage is where the embedded worker keeps remote `any`; with --api-url that "
            "worker keeps its own (leave out one of them)"
        )
    return None  # PLANNER_STORAGE in the environment: meant for embedded runs
