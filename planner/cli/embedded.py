"""The worker `planner run` starts when no API URL is given: a child process (its own
interpreter, so copying does not compete with the runner for one GIL) that the kernel kills
when planner dies, even by SIGKILL (Linux PR_SET_PDEATHSIG). Elsewhere it falls back to a
thread of this process, which cannot outlive it either."""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import secrets
import select
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO

from planner.cli import prestart as early
from planner.errors import UsageError

ERROR_PREFIX = "error: "  # planner.worker.child's first line when it cannot start
NOT_STARTED = "the embedded worker did not start"

START_TIMEOUT = 30.0


def discard_prestarted() -> None:
    """Stop a prestarted worker nobody configured (an invalid plan, say): the end of its input
    is its signal to exit."""
    while early.prestarted:
        _stop(early.prestarted.pop(), terminate=False, patience=5)


@contextlib.contextmanager
def prestarted(wanted: bool) -> Iterator[None]:
    """The worker's interpreter started (when `wanted`: planner's own process has started it
    already, planner/cli/prestart.py) for the block; whatever was not used is stopped after
    it."""
    if wanted:
        early.prestart()
    try:
        yield
    finally:
        discard_prestarted()


def _stop(process: subprocess.Popen[bytes], *, terminate: bool, patience: float) -> None:
    """End the child (SIGTERM when `terminate`, else the end of its input), SIGKILL after
    `patience` seconds; close its pipes."""
    _close(process.stdin)
    if terminate and process.poll() is None:
        process.terminate()
    try:
        _wait(process, patience)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    _close(process.stdout)
    _close(process.stderr)


def _wait(process: subprocess.Popen[bytes], patience: float) -> None:
    """`process.wait(patience)`, but returning as soon as it exits: with a timeout, Popen.wait
    polls in sleeps of up to 50 ms, which every `planner run` would pay at its end. A pidfd
    (Linux 5.3+) becomes readable when the process exits.

    Raises:
        subprocess.TimeoutExpired: it is still running after `patience` seconds.
    """
    if hasattr(os, "pidfd_open") and process.poll() is None:
        try:
            pidfd = os.pidfd_open(process.pid)
        except OSError:  # an older kernel: Popen's own wait
            pass
        else:
            try:
                select.select([pidfd], [], [], patience)
            finally:
                os.close(pidfd)
            patience = 0  # it exited (reaped at once), or the patience is spent
    process.wait(patience)


def _spawn() -> subprocess.Popen[bytes]:
    """Start the worker's interpreter.

    Raises:
        UsageError: it cannot be started (not executable for this user, say).
    """
    try:
        return early.spawn()
    except OSError as exc:
        raise UsageError(
            f"{NOT_STARTED}: cannot start {sys.executable}: {exc.strerror or exc}"
        ) from exc


def _close(stream: IO[bytes] | None) -> None:
    if stream is not None:
        with contextlib.suppress(OSError):
            stream.close()


# the remotes of `--remote` on run and plan (beside `any` and `local`): name -> a directory or
# an object store location (planner.worker.objects.location); one command per process
_remotes: dict[str, object] = {}


def serve_remotes(remotes: Mapping[str, object]) -> None:
    """Serve these remotes too (`--remote`) in the embedded workers this process starts from
    now on (and no other: each command sets them)."""
    _remotes.clear()
    _remotes.update(remotes)


def _remote_settings() -> dict[str, str]:
    """The extra remotes as the child's configuration carries them (a path or a URL)."""
    from planner.worker.objects.location import ObjectLocation

    return {
        name: where.url if isinstance(where, ObjectLocation) else str(where)
        for name, where in _remotes.items()
    }


def storage_note(storage: Path | None) -> str:
    """Where the embedded worker keeps remote `any`, for the run header and the preview."""
    if storage is None:
        return "any → .planner/storage/ beside the plan"
    return f"any → {os.path.join(storage.resolve(), '')}"


@contextlib.contextmanager
def embedded_worker(base: Path, storage: Path | None = None) -> Iterator[tuple[str, str]]:
    """Serve `storage` (by default `<base>/storage`) as remote `any` (and `local`) for the
    block, with a fresh random token; yields (url, token).

    Raises:
        UsageError: the worker did not start (its own message, or the last line of its log).
    """
    state = base / "worker"
    storage = (storage or base / "storage").resolve()
    token = secrets.token_urlsafe(24)
    if not sys.platform.startswith("linux"):
        yield from _in_thread(state, storage, token)
        return
    try:
        state.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{NOT_STARTED}: cannot create {state}: {exc.strerror or exc}") from exc
    process = early.prestarted.pop() if early.prestarted else _spawn()
    log_path = state / "worker.log"
    log_start = log_path.stat().st_size if log_path.is_file() else 0
    settings = {
        "state_dir": str(state.resolve()),
        "remotes": {"any": str(storage), **(_remote_settings() if _remotes else {})},
        "token": token,  # through the pipe: never on a command line or in a file
        "log": str(log_path),
    }
    try:
        assert process.stdin is not None
        with contextlib.suppress(BrokenPipeError):  # it died: _first_line says why
            process.stdin.write(json.dumps(settings).encode() + b"\n")
            process.stdin.flush()
        _import_first_request()  # while the worker starts serving
        url = _first_line(process, log_path, log_start)
        yield url, token
    finally:
        _stop(process, terminate=True, patience=10)


# What planner's first API request imports (httpx loads its transport, and that its async
# backend, on first use): imported while the embedded worker starts serving, not after.
FIRST_REQUEST_MODULES = ("httpcore", "anyio._backends._asyncio", "anyio.to_thread")


def _import_first_request() -> None:
    for name in FIRST_REQUEST_MODULES:
        with contextlib.suppress(ImportError):  # another version of them: imported when needed
            importlib.import_module(name)


def _first_line(process: subprocess.Popen[bytes], log_path: Path, log_start: int) -> str:
    """The worker's API URL, from the first line it prints.

    Raises:
        UsageError: it said why it cannot start (`error: ...`), or it exited or stayed silent
            for START_TIMEOUT: the last line of what it wrote in this run, and where its log is.
    """
    assert process.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 0.1)
        if ready:
            line = process.stdout.readline().decode(errors="replace").strip()
            if line.startswith("http"):
                return line
            if line.startswith(ERROR_PREFIX):
                raise UsageError(f"{NOT_STARTED}: {line[len(ERROR_PREFIX) :]}")
        if process.poll() is not None:
            break
    early = b""
    if process.poll() is not None and process.stderr is not None:
        early = process.stderr.read()  # what it said before it was configured
    said = early.decode(errors="replace").strip().splitlines()
    # no log (it could not open it): what it said is enough
    with contextlib.suppress(OSError), open(log_path, "rb") as log:
        log.seek(log_start)  # this run's lines only: the log is appended to by every run
        said += log.read().decode(errors="replace").strip().splitlines()
    # the last line: the error itself, not a traceback's frames (they stay in the log)
    last = said[-1].strip() if said else "no output"
    code = process.poll()
    how = "it is still silent" if code is None else f"it exited with code {code}"
    raise UsageError(f"{NOT_STARTED} ({how}): {last} (its log: {log_path})")


def _in_thread(state: Path, storage: Path, token: str) -> Iterator[tuple[str, str]]:
    from planner.worker.auth import Authenticator
    from planner.worker.serve import EmbeddedWorker
    from planner.worker.service import WorkerConfig

    worker = EmbeddedWorker(
        WorkerConfig(
            state_dir=state,
            remotes={"any": storage, **_remotes},  # type: ignore[dict-item]
            authenticator=Authenticator.single_token(token),
        )
    )
    url = worker.start()
    try:
        yield url, token
    finally:
        worker.stop()
