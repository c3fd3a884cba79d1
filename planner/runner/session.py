"""One `planner run`: the engine (an embedded worker, or a remote API), the journal and its
lock, the executor, and interruption (first signal: stop dispatching and wait up to the grace
period; second signal or the end of the grace period: cancel)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from planner.api.client import ApiClient
from planner.compile import CompiledPlan
from planner.errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    ApiError,
    ApiUnreachableError,
    AuthError,
    UsageError,
)
from planner.runner.api_engine import ApiEngine
from planner.runner.engine import Engine
from planner.runner.executor import Executor, Journaling, RunOptions
from planner.runner.journal import Journal, JournalError
from planner.runner.journal_read import JournalReader
from planner.runner.progress import ProgressReporter, SilentReporter
from planner.runner.results import ActionResult, ActionState, ItemRecord, ItemRow, RunResult

if TYPE_CHECKING:
    from planner.runner.preview import PreviewEngine

UNAUTHORIZED = 401


WorkerStarter = Callable[[Path, Path | None], AbstractContextManager[tuple[str, str]]]
"""Serves a worker for a block, given its state directory (`.planner` beside the plan) and the
storage of its remote `any` (None: the default); yields its (url, token). The CLI gives the
embedded worker's (planner/cli/embedded.py): the runner never imports the worker."""


@dataclass
class SessionOptions:
    """Where to run and how."""

    api_url: str | None = None
    token: str | None = None
    token_env: str = "PLANNER_TOKEN"  # where the token was looked for (for messages)
    state_path: Path | None = None
    resume: bool = False
    storage: Path | None = None  # the embedded worker's remote `any` (--storage)
    start_worker: WorkerStarter | None = None  # what serves the plan when api_url is unset
    run: RunOptions | None = None


def plan_dir_of(compiled: CompiledPlan) -> Path:
    return Path(compiled.plan.file).resolve().parent


@contextlib.asynccontextmanager
async def open_engine(compiled: CompiledPlan, options: SessionOptions) -> AsyncIterator[ApiEngine]:
    """An engine connected to `--api-url`, or to the worker `options.start_worker` serves for
    this command (the embedded worker) and stops afterwards.

    Raises:
        ApiUnreachableError, AuthError: exit 3.
        UsageError: a storage of the plan names a remote the worker does not have; no API URL
            and no worker to start.
    """
    url, token = options.api_url, options.token
    with contextlib.ExitStack() as stack:
        if not url:
            if options.start_worker is None:
                raise UsageError("no API URL to run against and no worker to start")
            base = plan_dir_of(compiled) / ".planner"
            url, token = stack.enter_context(options.start_worker(base, options.storage))
        async with _connected(compiled, url, token, options.token_env) as engine:
            yield engine


@contextlib.asynccontextmanager
async def _connected(
    compiled: CompiledPlan, url: str, token: str | None, token_env: str
) -> AsyncIterator[ApiEngine]:
    engine = ApiEngine(ApiClient(url, token=token, concurrency=32))
    try:
        try:
            info = await engine.connect()
        except AuthError as exc:
            if token is None and exc.status == UNAUTHORIZED:
                raise AuthError(
                    f"the API at {url} wants a token, and none was sent: {token_env} is unset or "
                    f"empty; export {token_env}=TOKEN, or name the variable holding it with "
                    f"--token-env NAME ({exc})",
                    exc.status,
                ) from exc
            raise AuthError(f"the API at {url} refused the credentials: {exc}", exc.status) from exc
        except ApiError as exc:
            raise ApiUnreachableError(f"cannot reach the API at {url}: {exc}") from exc
        missing = sorted({s.remote for s in compiled.plan.storages.values()} - info.remotes)
        if missing:
            raise UsageError(
                f"the worker at {url} has no remote {', '.join(map(repr, missing))} "
                f"(it has: {', '.join(sorted(info.remotes))})"
            )
        yield engine
    finally:
        await engine.close()


class _JournalHooks(Journaling):
    """Writes what changed to the journal once per turn of the event loop, in one transaction:
    thousands of actions may change in the same turn (a batch of their items landed), and one
    transaction each would cost more than their work. A kill -9 loses at most that turn. Item
    rows (a tree operation's page of records) are written as they come, never kept after."""

    stores_rows = True

    def __init__(self, journal: Journal, run_id: str) -> None:
        self.journal = journal
        self.run_id = run_id
        self._actions: dict[str, ActionResult] = {}
        self._items: dict[int, ItemRecord] = {}  # by id(): a record is saved as it is at the end
        self._rows: list[ItemRow] = []
        self._scheduled = False

    def action(self, result: ActionResult) -> None:
        self._actions[result.id] = result
        if result.state.is_final:
            self._items.update((id(r), r) for r in result.items)
        self._schedule()

    def items(self, records: list[ItemRecord]) -> None:
        self._items.update((id(r), r) for r in records)
        self._schedule()

    def rows(self, rows: list[ItemRow]) -> None:
        self._rows += rows
        self._schedule()

    def flush(self) -> None:
        """Write what changed since the last flush.

        Raises:
            JournalError: the journal refused the write (what changed is kept for the next).
        """
        self._scheduled = False
        actions, items = list(self._actions.values()), self._items.values()
        self.journal.save_many(self.run_id, actions, items, self._rows)
        self._actions.clear()
        self._items.clear()
        self._rows = []

    def _flush_soon(self) -> None:
        # a failure here would only reach the event loop's log: the run's last flush raises it
        with contextlib.suppress(JournalError):
            self.flush()

    def _schedule(self) -> None:
        if self._scheduled:
            return
        try:
            asyncio.get_running_loop().call_soon(self._flush_soon)
        except RuntimeError:  # no loop running: at once
            self.flush()
            return
        self._scheduled = True


def _plan_key(file: str) -> str:
    """Runs of the same plan file share a lock and resume each other."""
    return str(Path(file).resolve())


def _fresh_actions(compiled: CompiledPlan) -> list[ActionResult]:
    return [ActionResult(id=a.id, kind=a.kind) for a in compiled.actions_in_order()]


async def run_session(
    compiled: CompiledPlan,
    options: SessionOptions,
    make_reporter: Callable[[], ProgressReporter],
    wrap: Callable[[Engine], Engine] | None = None,
) -> tuple[RunResult, int]:
    """Run the plan; returns the run and the exit code (0, 1 or 130). `wrap`: the engine the
    run drives, given the worker's (a saved plan's guard).

    Raises:
        JournalError, UsageError: exit 2; ApiUnreachableError, AuthError: exit 3.
    """
    plan = compiled.plan
    plan_key = _plan_key(plan.file)
    state = options.state_path or plan_dir_of(compiled) / ".planner" / "state.db"
    journal = Journal(state)
    try:
        with journal.lock(plan_key):
            async with open_engine(compiled, options) as api:
                engine = wrap(api) if wrap is not None else api
                if options.resume:
                    run = journal.resume(plan_key, plan.digest)
                    for result in run.actions:
                        if result.state is not ActionState.SUCCEEDED:
                            result.state = ActionState.PENDING
                else:
                    run = journal.start_run(
                        plan_key, plan.file, plan.name, plan.digest, _fresh_actions(compiled)
                    )
                # the outputs read back what is in the journal only (a tree operation's records)
                run.journaled = JournalReader(journal.path, run.run_id, own=True)
                reporter = make_reporter()
                reporter.start(run)
                hooks = _JournalHooks(journal, run.run_id)
                executor = Executor(
                    compiled,
                    engine,
                    run,
                    options=options.run or RunOptions(),
                    reporter=reporter,
                    journaling=hooks,
                )
                try:
                    await _execute_interruptibly(executor)
                finally:  # the journal and the terminal are left tidy whatever happened
                    run.ended_at = time.time()
                    run.api_requests = engine.requests_sent()
                    hooks.flush()
                    journal.finish_run(run)
                    reporter.finish(run)
    finally:
        journal.close()
    if run.interrupted:
        return run, EXIT_INTERRUPTED
    return run, EXIT_OK if run.is_success else EXIT_FAILED


async def _execute_interruptibly(executor: Executor) -> None:
    loop = asyncio.get_running_loop()
    task = asyncio.create_task(executor.execute())
    signals = 0

    def interrupted() -> None:
        nonlocal signals
        signals += 1
        executor.interrupt()
        if signals == 1:
            loop.call_later(executor.options.grace, task.cancel)
        else:
            task.cancel()

    installed = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, interrupted)
            installed.append(signum)
    try:
        await task
    except asyncio.CancelledError:
        if not executor.run.interrupted:
            raise
        for result in executor.run.actions:
            if not result.state.is_final:
                result.state, result.error = ActionState.SKIPPED, "skipped: the run was interrupted"
                executor.journaling.action(result)
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)


async def run_preview(
    compiled: CompiledPlan,
    options: SessionOptions,
    make_engine: Callable[[ApiEngine], Awaitable[PreviewEngine]] | None = None,
) -> RunResult:
    """What `planner run` would do now: the run's own action code against a PreviewEngine
    (reads reach the worker, writes only a model of their effects). Every independent branch is
    previewed (as with --keep-going); nothing is journaled and no lock is taken. `make_engine`:
    the PreviewEngine over the worker's engine (a saved plan's records what it reads).

    Raises:
        UsageError: exit 2; ApiUnreachableError, AuthError: exit 3.
    """
    from planner.runner.preview import PreviewEngine

    plan = compiled.plan
    run = RunResult(
        "preview",
        plan.file,
        plan.name,
        plan.digest,
        time.time(),
        actions=_fresh_actions(compiled),
    )
    async with open_engine(compiled, options) as real:
        engine = await make_engine(real) if make_engine is not None else PreviewEngine(real)
        base = options.run or RunOptions()
        executor = Executor(
            compiled,
            engine,
            run,
            options=RunOptions(
                concurrency=base.concurrency,
                batch_size=base.batch_size,
                keep_going=True,
                preview=True,
                max_delete=base.max_delete,
            ),
            reporter=SilentReporter(),
        )
        try:
            await executor.execute()
        finally:
            run.ended_at = time.time()
            run.api_requests = engine.requests_sent()
    return run
