"""Fixtures of the worker tests: a directory of each test's own, a worker on two filesystems and
the events of its moves."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from planner.worker import confine, moves
from tests.helpers.two_filesystems import Event, TwoFs, two_filesystems


@pytest.fixture
def ns(request: pytest.FixtureRequest) -> str:
    """A directory name of this test's own, on every remote (for tests sharing one worker)."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", request.node.name)


@pytest.fixture
def two_fs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TwoFs]:
    with two_filesystems(tmp_path, monkeypatch) as fs:
        yield fs


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> list[Event]:
    """("fsync", real path) of every os.fsync, ("delete", path) of every source deletion
    step of a move, in order."""
    seen: list[Event] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        seen.append(("fsync", confine.fd_path(fd)))
        real_fsync(fd)

    def spying(real: Callable[..., None]) -> Callable[..., None]:
        def spy(place: confine.Place, *args: Any) -> None:
            seen.append(("delete", place.path))
            real(place, *args)

        return spy

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(moves, "unlink", spying(moves.unlink))
    monkeypatch.setattr(moves, "detach", spying(moves.detach))
    return seen
