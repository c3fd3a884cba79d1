"""Shared fixtures: a clean environment, plan files under tmp_path, the real CLI in-process and
a real embedded worker. Shared code that is not a fixture lives in `tests/helpers/`."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from planner.cli.main import main
from tests.helpers.cli import CliResult
from tests.helpers.workers import WorkerHandle, running_worker

# Variables that change what planner, the libraries it drives (rich, click, httpx) or the
# official client do. None of them may leak from the developer's shell into a test; a test that
# needs one sets it with monkeypatch.
# (AWS_*: the tests of object remotes set their own, for the local S3 server)
SCRUBBED_PREFIXES = ("PLANNER_", "_PLANNER_", "ANSYS_DT_", "AWS_")
SCRUBBED_NAMES = {
    "NO_COLOR",
    "FORCE_COLOR",
    "TTY_COMPATIBLE",
    "TTY_INTERACTIVE",
    "COLUMNS",
    "LINES",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "SSLKEYLOGFILE",
}


def scrubbed(name: str) -> bool:
    """Whether the test run removes the environment variable `name`."""
    return name.startswith(SCRUBBED_PREFIXES) or name.upper() in SCRUBBED_NAMES


@pytest.fixture(scope="session", autouse=True)
def clean_environ() -> Iterator[None]:
    """Run the whole session, module-scoped workers and subprocesses included, without the
    variables `scrubbed` names (a PLANNER_API_URL or token exported in the developer's shell
    must not redirect test runs); restored afterwards."""
    with pytest.MonkeyPatch.context() as patch:
        for name in [n for n in os.environ if scrubbed(n)]:
            patch.delenv(name)
        yield


@pytest.fixture
def anyio_backend() -> str:
    """Async tests (`pytest.mark.anyio`) run on asyncio, the event loop planner uses."""
    return "asyncio"


@pytest.fixture
def write_plan(tmp_path: Path) -> Callable[..., Path]:
    """Write dedented YAML text to a plan file in tmp_path and return its path."""

    def write(text: str, name: str = "plan.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return write


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """Run `planner ARGS...` in-process through the real entry point (the error boundary
    included) and capture its exit code and output."""

    def run(*args: str | Path) -> CliResult:
        capsys.readouterr()
        code = main([str(a) for a in args])
        out = capsys.readouterr()
        return CliResult(code, out.out, out.err)

    return run


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[WorkerHandle]:
    """A real embedded worker (single token, admin caller), stopped after the test."""
    with running_worker(tmp_path) as handle:
        yield handle


@pytest.fixture
def unused_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
