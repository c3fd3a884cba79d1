"""Fixtures of the object storage tests: one real S3-compatible server (moto in server mode, a
subprocess on 127.0.0.1) for the session, a fresh bucket per test, and the AWS environment that
points planner's embedded worker at it; `s3_run` adds the test's plan files and the real CLI;
`s3_auth` is a second server that checks credentials."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers.cli import CliResult
from tests.helpers.s3 import S3Run
from tests.s3server import S3Server


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Server]:
    """The session's S3 server."""
    server = S3Server()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_auth() -> Iterator[S3Server]:
    """The session's S3 server that checks credentials (`S3Server.with_auth`)."""
    server = S3Server()
    try:
        server.with_auth()
        yield server
    finally:
        server.stop()


@pytest.fixture
def bucket(s3: S3Server, monkeypatch: pytest.MonkeyPatch) -> str:
    """A new, empty bucket; the test's environment (so every worker it starts) points at the
    server with valid credentials."""
    for name, value in s3.env().items():
        monkeypatch.setenv(name, value)
    return s3.bucket()


@pytest.fixture
def s3_run(
    s3: S3Server,
    bucket: str,
    tmp_path: Path,
    write_plan: Callable[..., Path],
    run_cli: Callable[..., CliResult],
) -> S3Run:
    """The test's bucket, plan files and in-process CLI with `--remote` pointing at the bucket."""
    return S3Run(s3, bucket, tmp_path, write_plan, run_cli)
