"""Where a session runs when no API URL is given: the worker its caller hands it
(`SessionOptions.start_worker`: the CLI's embedded worker), started for the block with the
plan's `.planner` directory; the runner itself never imports the worker."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from planner.errors import ApiUnreachableError, UsageError
from planner.runner.session import SessionOptions, open_engine
from planner.validate import load_and_compile

PLAN = """\
version: 1
storages:
  s: {remote: any, root: data}
directories: [{id: mk, path: "s:out"}]
"""


def connect(options: SessionOptions, plan_dir: Path) -> None:
    plan = plan_dir / "plan.yaml"
    plan.write_text(PLAN, encoding="utf-8")
    compiled = load_and_compile(str(plan))

    async def go() -> None:
        async with open_engine(compiled, options):
            pass

    asyncio.run(go())


def test_the_given_worker_is_started_beside_the_plan_and_stopped(
    tmp_path: Path, unused_port: int
) -> None:
    calls: list[tuple[str, Path, Path | None]] = []

    @contextlib.contextmanager
    def start_worker(base: Path, storage: Path | None) -> Iterator[tuple[str, str]]:
        calls.append(("start", base, storage))
        try:
            yield f"http://127.0.0.1:{unused_port}", "a-token"
        finally:
            calls.append(("stop", base, storage))

    options = SessionOptions(storage=tmp_path / "store", start_worker=start_worker)
    # nothing listens at the URL it yields: the session tried it, and stopped the worker
    with pytest.raises(ApiUnreachableError, match=f"cannot reach the API at .*:{unused_port}"):
        connect(options, tmp_path)

    base = tmp_path.resolve() / ".planner"
    assert calls == [("start", base, tmp_path / "store"), ("stop", base, tmp_path / "store")]


def test_without_an_api_url_or_a_worker_to_start_it_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"^no API URL to run against and no worker to start$"):
        connect(SessionOptions(), tmp_path)
