"""The worker `planner run` starts when no API URL is given: a child process (its own
interpreter, so copying does not compete with the runner for one GIL) that the kernel kills
when planner dies, even by SIGKILL (Linux PR_SET_PDEATHSIG). Elsewhere it falls back to a
thread of this process, which cannot outlive it either."""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from planner.errors import UsageError

PR_SET_PDEATHSIG = 1
START_TIMEOUT = 30.0


def _die_with_parent(parent: int) -> None:
    """In the child, before exec: SIGKILL when the parent goes (and if it already went)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)


def _new_token(state_dir: Path) -> tuple[str, Path]:
    state_dir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(24)
    path = state_dir / "token"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(token)
    return token, path


@contextlib.contextmanager
def embedded_worker(base: Path) -> Iterator[tuple[str, str]]:
    """Serve `<base>/storage` as remote `any` (and `local`) for the block; yields (url, token).

    Raises:
        UsageError: the worker did not start (its log is quoted).
    """
    state, storage = base / "worker", base / "storage"
    token, token_file = _new_token(state)
    if not sys.platform.startswith("linux"):
        yield from _in_thread(state, storage, token)
        return
    log_path = state / "worker.log"
    parent = os.getpid()
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "planner",
                "worker",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--state-dir",
                str(state),
                "--remote",
                f"any={storage}",
                "--token-file",
                str(token_file),
                "--allow-shutdown",
            ],
            stdout=subprocess.PIPE,
            stderr=log,
            stdin=subprocess.DEVNULL,
            # its own session: a terminal's Ctrl-C reaches planner only, which then decides
            # (grace period, cancel) and stops the worker itself
            start_new_session=True,
            preexec_fn=lambda: _die_with_parent(parent),
        )
    try:
        url = _first_line(process, log_path)
        yield url, token
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout is not None:
            process.stdout.close()


def _first_line(process: subprocess.Popen[bytes], log_path: Path) -> str:
    assert process.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 0.1)
        if ready:
            line = process.stdout.readline().decode().strip()
            if line.startswith("http"):
                return line
        if process.poll() is not None:
            break
    tail = log_path.read_text(errors="replace").strip().splitlines()[-5:]
    raise UsageError("the embedded worker did not start: " + (" | ".join(tail) or "no output"))


def _in_thread(state: Path, storage: Path, token: str) -> Iterator[tuple[str, str]]:
    from planner.worker.auth import Authenticator
    from planner.worker.serve import EmbeddedWorker
    from planner.worker.service import WorkerConfig

    worker = EmbeddedWorker(
        WorkerConfig(
            state_dir=state,
            remotes={"any": storage},
            authenticator=Authenticator.single_token(token),
        )
    )
    url = worker.start()
    try:
        yield url, token
    finally:
        worker.stop()
