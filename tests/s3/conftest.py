"""Fixtures of the object storage tests: one real S3-compatible server (moto in server mode, a
subprocess on 127.0.0.1) for the session, a fresh bucket per test, and the AWS environment that
points planner's embedded worker at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.s3server import S3Server


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Server]:
    """The session's S3 server."""
    server = S3Server()
    try:
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
