"""`planner worker serve`: run the embedded worker as a standalone server."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
from pathlib import Path

import click

from planner.durations import parse_duration
from planner.errors import UsageError
from planner.worker.admission import DEFAULT_MAX_QUEUED_ITEMS
from planner.worker.objects.location import ObjectLocation, parse_location
from planner.worker.remote_names import remote_name_problem


def remote_option(text: str, *, embedded: bool = False) -> tuple[str, Path | ObjectLocation]:
    """`NAME=DIR`, `NAME=file:///abs/dir` or `NAME=s3://bucket/prefix` of `--remote`.

    Raises:
        UsageError: not of that form; a reserved or invalid name; an unknown URL scheme.
    """
    name, sep, where = text.partition("=")
    if not sep or not name or not where:
        raise UsageError(f"--remote {text.partition('=')[0]!r}: expected NAME=DIR or NAME=URL")
    if name == "local":
        raise UsageError("--remote local=...: 'local' is always the host filesystem")
    if embedded and name == "any":
        raise UsageError("--remote any=...: use --storage DIR for where remote `any` is kept")
    wrong = remote_name_problem(name)
    if wrong is not None:
        raise UsageError(f"--remote {name}: {wrong}")
    try:
        return name, parse_location(where)
    except ValueError as exc:
        raise UsageError(f"--remote {name}: {exc}") from exc


_SIZE_UNITS = {"": 1, "kib": 1024, "mib": 1024**2, "gib": 1024**3}


def _size(option: str, text: str) -> int:
    """Bytes in `16MiB`, `512KiB`, `1GiB` or a plain number of bytes."""
    match = re.fullmatch(r"\s*(\d{1,12})\s*([KkMmGg]i[Bb])?\s*", text)
    if match is None or int(match[1]) == 0:
        raise UsageError(f"{option} {text!r}: expected a size such as 16MiB, 512KiB or 1048576")
    return int(match[1]) * _SIZE_UNITS[(match[2] or "").lower()]


def _token_from_file(path: Path) -> str:
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise UsageError(f"--token-file {path}: cannot read: {exc.strerror}") from exc
    if not token:
        raise UsageError(f"--token-file {path}: the file is empty")
    return token


def _new_token_file(state_dir: Path) -> Path:
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / "token"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(secrets.token_urlsafe(32) + "\n")
    return path


@click.group()
def worker() -> None:
    """The embedded Data Transfer worker."""


@worker.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=8470,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port (0: pick a free one).",
)
@click.option(
    "--remote",
    "remotes",
    multiple=True,
    metavar="NAME=DIR|URL",
    help="A named storage rooted at DIR (or file:///DIR), or an object store location "
    "s3://BUCKET/PREFIX (repeatable); 'any' defaults to STATE-DIR/storage.",
)
@click.option(
    "--state-dir",
    default=".planner/worker",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Operations, metadata and permissions database (and the default storage).",
)
@click.option(
    "--users",
    "users_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="YAML file mapping tokens to users, groups and admins.",
)
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File holding the one bearer token (its holder is admin).",
)
@click.option("--no-auth", is_flag=True, help="No authentication (loopback addresses only).")
@click.option(
    "--inject-faults",
    "faults",
    default="",
    metavar="SPEC",
    help="Testing aid: http=R,operation=R,delay=D,item_delay=D,file_delay=D,seed=N "
    "(docs/worker.md).",
)
@click.option(
    "--retention", default="24h", show_default=True, help="How long finished operations are kept."
)
@click.option(
    "--pool",
    default=0,
    type=click.IntRange(0, 1024),
    help="Item threads (0: sized for this machine).",
)
@click.option(
    "--max-queued-items",
    default=DEFAULT_MAX_QUEUED_ITEMS,
    show_default=True,
    type=click.IntRange(1),
    help="Items queued or running, all users together; beyond it (or beyond a user's fair "
    "share) submissions get 503 with Retry-After.",
)
@click.option("--allow-shutdown", is_flag=True, help="Accept POST /api/v1/shutdown from admins.")
@click.option(
    "--max-body",
    default="16MiB",
    show_default=True,
    metavar="SIZE",
    help="Largest request body accepted (bytes, or with KiB/MiB/GiB); larger ones get 413.",
)
@click.option(
    "--max-items",
    default=10_000,
    show_default=True,
    type=click.IntRange(1, 1_000_000),
    help="Most items (paths, pairs, grants) per request; more get 413.",
)
@click.option(
    "--fsync",
    is_flag=True,
    help="Sync each copied file and changed directory before reporting success.",
)
@click.option(
    "--plain",
    is_flag=True,
    help="Turn planner's extensions off (recursive listing, tree operations), to test a "
    "client as against a worker without them.",
)
@click.option("-v", "--verbose", is_flag=True, help="Log every request.")
def serve(
    host: str,
    port: int,
    remotes: tuple[str, ...],
    state_dir: Path,
    users_file: Path | None,
    token_file: Path | None,
    no_auth: bool,
    faults: str,
    retention: str,
    pool: int,
    max_queued_items: int,
    allow_shutdown: bool,
    max_body: str,
    max_items: int,
    fsync: bool,
    plain: bool,
    verbose: bool,
) -> int:
    """Serve the Data Transfer API (docs/api.md) over local storages.

    The first line printed is the bound API URL. Without --users, --token-file or --no-auth a
    random token is written to STATE-DIR/token (mode 0600) and its path is printed.
    """
    from planner.worker.auth import Authenticator
    from planner.worker.faults import parse_faults
    from planner.worker.serve import is_loopback
    from planner.worker.serve import serve as run_server
    from planner.worker.service import WorkerConfig

    named = dict(remote_option(r) for r in remotes)
    if sum(bool(x) for x in (users_file, token_file, no_auth)) > 1:
        raise UsageError("give at most one of --users, --token-file, --no-auth")
    if no_auth and not is_loopback(host):
        raise UsageError(f"--no-auth is refused on a non-loopback address ({host})")
    notes = []
    if users_file:
        authenticator = Authenticator.from_users_file(users_file)
    elif no_auth:
        authenticator = Authenticator([], no_auth=True)
    else:
        if token_file is None:
            token_file = _new_token_file(state_dir)
            notes.append(f"token: written to {token_file} (send it as 'Authorization: Bearer')")
        authenticator = Authenticator.single_token(_token_from_file(token_file))
    try:
        retention_seconds = parse_duration(retention)
    except ValueError as exc:
        raise UsageError(f"--retention {retention!r}: not a duration") from exc
    try:
        fault_spec = parse_faults(faults)
    except ValueError as exc:
        raise UsageError(f"--inject-faults: {exc}") from exc
    config = WorkerConfig(
        state_dir=state_dir.resolve(),
        remotes=named,
        authenticator=authenticator,
        faults=fault_spec,
        pool_size=pool,
        max_queued_items=max_queued_items,
        retention_seconds=retention_seconds,
        allow_shutdown=allow_shutdown,
        max_body=_size("--max-body", max_body),
        max_items=max_items,
        fsync=fsync,
        recursive_listing=not plain,
        tree_operations=not plain,
    )

    def ready(url: str) -> None:
        click.echo(url)
        for note in notes:
            click.echo(note, err=True)
        if config.faults.is_active:
            click.echo(f"fault injection active: {faults}", err=True)

    asyncio.run(
        run_server(config, host, port, on_ready=ready, log_level="info" if verbose else "warning")
    )
    return 0
