"""Shared fixtures: plan files under tmp_path and the real CLI in-process."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from planner.cli.main import main

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
ONE_ERROR = "Found 1 error in 1 of 1 plan."  # the summary line of one invalid plan


@dataclass
class CliResult:
    """What one CLI invocation returned and printed."""

    code: int
    stdout: str
    stderr: str


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


@dataclass
class WorkerHandle:
    """A running embedded worker: its API URL, token, storage roots and configuration."""

    url: str
    token: str
    state_dir: Path
    roots: dict[str, Path]
    config: object

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def start_worker(tmp_path: Path, **options: object) -> tuple[object, WorkerHandle]:
    """Start a real worker on 127.0.0.1 with a free port, storages under tmp_path (`roots`, a
    dict of remote name to directory, replaces the default `data`)."""
    from planner.worker.auth import Authenticator
    from planner.worker.serve import EmbeddedWorker
    from planner.worker.service import WorkerConfig

    token = str(options.pop("token", "test-token-0123456789"))
    state_dir = tmp_path / "worker-state"
    roots = options.pop("roots", None) or {"data": tmp_path / "data"}
    assert isinstance(roots, dict)
    for root in roots.values():
        root.mkdir(parents=True, exist_ok=True)
    authenticator = options.pop("authenticator", None) or Authenticator.single_token(token)
    config = WorkerConfig(
        state_dir=state_dir, remotes=roots, authenticator=authenticator, **options
    )  # type: ignore[arg-type]
    embedded = EmbeddedWorker(config)
    url = embedded.start()
    all_roots = {"any": state_dir / "storage", **roots}
    return embedded, WorkerHandle(url, token, state_dir, all_roots, config)


@pytest.fixture
def worker(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A real embedded worker (single token, admin caller), stopped after the test."""
    embedded, handle = start_worker(tmp_path)
    try:
        yield handle
    finally:
        embedded.stop()  # type: ignore[attr-defined]


@pytest.fixture
def unused_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def no_api_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """An API URL or token exported in the developer's shell must not redirect test runs."""
    monkeypatch.delenv("PLANNER_API_URL", raising=False)
    monkeypatch.delenv("PLANNER_TOKEN", raising=False)


def tree_contents(top: Path) -> dict[str, bytes | str | None]:
    """Everything below `top`, links not followed: file bytes, link targets, None for
    directories (to compare a tree before and after)."""
    found: dict[str, bytes | str | None] = {}
    for path in sorted(top.rglob("*")):
        key = str(path.relative_to(top))
        if path.is_symlink():
            found[key] = os.readlink(path)
        elif path.is_dir():
            found[key] = None
        else:
            found[key] = path.read_bytes()
    return found
