"""The DAG executor: dispatches ready actions by priority, DAG depth and file order, runs them
concurrently, stops after a failure (or, with keep-going, skips only what depends on it), and
handles interruption: stop dispatching, give running actions a grace period, then cancel."""

from __future__ import annotations

import asyncio
import functools
import heapq
import random
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from http import HTTPStatus

from planner.compile import CompiledPlan, dag
from planner.errors import ApiError, AuthError
from planner.runner.actions import run_action
from planner.runner.context import ActionContext, ActionFailedError
from planner.runner.dispatcher import Dispatcher
from planner.runner.engine import Engine
from planner.runner.journal_sql import item_of
from planner.runner.progress import ProgressReporter, SilentReporter
from planner.runner.results import (
    ActionResult,
    ActionState,
    ItemRecord,
    ItemRow,
    ItemState,
    RunResult,
)


@dataclass
class RunOptions:
    """The knobs of `planner run` that shape execution."""

    concurrency: int = 8
    batch_size: int = 500
    keep_going: bool = False
    grace: float = 30.0
    preview: bool = False  # `planner plan`: failures say what would happen, not what did
    max_delete: int | None = None  # --max-delete: a cap on the deletions of every mirror copy

    @property
    def max_actions(self) -> int:
        """How many actions may run at once: one with `concurrency` 1 (one at a time, in
        dispatch order), else as many as the operations in flight can carry items for
        (`concurrency` x `batch_size`). Actions mostly wait on those operations: the more run
        at once, the more of their small requests (probes, single copies) share batches."""
        if self.concurrency <= 1:
            return 1
        return self.concurrency * self.batch_size


class Journaling:
    """Where the executor reports state changes (the journal, or nothing in tests)."""

    # whether `rows` stores item rows, which the actions then do not keep in their results
    stores_rows = False

    def action(self, result: ActionResult) -> None:
        """An action changed state."""

    def items(self, records: list[ItemRecord]) -> None:
        """Items changed state."""

    def rows(self, rows: list[ItemRow]) -> None:
        """Items ended, as journal rows (only called when `stores_rows`)."""


class Executor:
    """Runs one compiled plan against one engine."""

    def __init__(
        self,
        compiled: CompiledPlan,
        engine: Engine,
        run: RunResult,
        *,
        options: RunOptions,
        reporter: ProgressReporter | None = None,
        journaling: Journaling | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.compiled = compiled
        self.engine = engine
        self.run = run
        self.options = options
        self.reporter = reporter or SilentReporter()
        self.journaling = journaling or Journaling()
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.results = {a.id: a for a in run.actions}
        self.dispatcher = Dispatcher(
            engine,
            batch_size=options.batch_size,
            concurrency=options.concurrency,
            sleep=sleep,
            rng=self.rng,
            live=self.reporter.live,
        )
        self.stop = asyncio.Event()  # set on interruption: dispatch nothing new
        self.failed = False

    # -- the loop ---------------------------------------------------------------------------------
    async def execute(self) -> RunResult:
        """Run every action that is not already done; returns the (updated) run."""
        graph = self.compiled.graph
        remaining = {
            n: sum(
                1
                for p in graph.predecessors(n)
                if self.results[p].state is not ActionState.SUCCEEDED
            )
            for n in graph
        }
        ready: list[tuple[int, int, int, str]] = []
        for node, count in remaining.items():
            if count == 0 and self.results[node].state is not ActionState.SUCCEEDED:
                self._push(ready, node)
        running: dict[asyncio.Task[None], str] = {}
        max_actions = self.options.max_actions
        # the tasks that ended, told by one callback each: asyncio.wait over `running` would
        # cost O(running) per wake-up, and thousands of actions may run at once
        ended: list[asyncio.Task[None]] = []
        woken = asyncio.Event()

        def on_end(task: asyncio.Task[None]) -> None:
            ended.append(task)
            woken.set()

        serving = asyncio.create_task(self.dispatcher.serve())
        try:
            while ready or running:
                while ready and len(running) < max_actions and self._may_start():
                    node = heapq.heappop(ready)[3]
                    task = asyncio.create_task(self._run_action(node))
                    task.add_done_callback(on_end)
                    running[task] = node
                if not running:
                    break
                await woken.wait()
                woken.clear()
                done, ended[:] = list(ended), []
                for task in done:
                    node = running.pop(task)
                    if self.results[node].state is ActionState.SUCCEEDED:
                        for child in graph.successors(node):
                            remaining[child] -= 1
                            if remaining[child] == 0:
                                self._push(ready, child)
                    elif self.options.keep_going:
                        self._skip(dag.descendants(graph, node), f"'{node}' failed")
                    else:
                        self.failed = True
        except asyncio.CancelledError:
            await self._cancel(running)
            raise
        finally:
            serving.cancel()
            await asyncio.gather(serving, return_exceptions=True)
        reason = "the run was interrupted" if self.stop.is_set() else "an earlier action failed"
        self._skip([a.id for a in self.run.actions if not a.state.is_final], reason)
        return self.run

    def _may_start(self) -> bool:
        return not self.stop.is_set() and not (self.failed and not self.options.keep_going)

    def _push(self, heap: list[tuple[int, int, int, str]], node: str) -> None:
        action = self.compiled.actions[node]
        depth = self.compiled.generation[node]
        heapq.heappush(heap, (action.priority, depth, action.order, node))

    def _skip(self, nodes: Iterable[str], reason: str) -> None:
        for node in nodes:
            result = self.results[node]
            if not result.state.is_final:
                result.state = ActionState.SKIPPED
                result.error = f"skipped: {reason}"
                self.reporter.action_changed(result)
                self.journaling.action(result)

    def _items_done(self, result: ActionResult, records: list[ItemRecord]) -> None:
        self.journaling.items(records)
        self.reporter.items_done(result, records)

    def _rows_done(self, result: ActionResult, rows: list[ItemRow], replaced: list[bool]) -> None:
        self.journaling.rows(rows)
        if self.reporter.verbose:  # records made only for a reporter listing every file
            records = [item_of(row) for row in rows]
            for record, replacing in zip(records, replaced, strict=True):
                record.replaced = replacing
            self.reporter.items_done(result, records)

    # -- one action -------------------------------------------------------------------------------
    async def _run_action(self, node: str) -> None:
        action = self.compiled.actions[node]
        result = self.results[node]
        result.state, result.started_at, result.error = ActionState.RUNNING, time.time(), ""
        # what an interrupted run of this action did (on --resume)
        carried = [i for i in result.items if i.state is ItemState.SUCCEEDED]
        result.items, result.detail = [], []
        result.files_done = result.files_unchanged = result.bytes_done = 0
        result.files_replaced = result.bytes_replaced = result.files_filtered = 0
        result.files_compared, result.checksums, result.warnings = 0, {}, []
        result.items_journaled, result.checksums_journaled = 0, False
        result.files_deleted = result.bytes_deleted = 0
        self.reporter.action_changed(result)
        self.journaling.action(result)

        def progressed(files: int, nbytes: int, in_flight_files: int, in_flight_bytes: int) -> None:
            self.reporter.advance(
                result,
                files=files,
                nbytes=nbytes,
                in_flight_files=in_flight_files,
                in_flight_bytes=in_flight_bytes,
            )

        def totals(files: int, nbytes: int) -> None:
            self.reporter.advance(result, total_files=files, total_bytes=nbytes)

        ctx = ActionContext(
            action=action,
            result=result,
            dispatcher=self.dispatcher,
            engine=self.engine,
            on_items=functools.partial(self._items_done, result),
            on_rows=functools.partial(self._rows_done, result)
            if self.journaling.stores_rows
            else None,
            on_progress=progressed,
            on_totals=totals,
            sleep=self.sleep,
            rng=self.rng,
            carried=carried,
            storages=self.compiled.plan.storages,
            previewing=self.options.preview,
            max_delete=self.options.max_delete,
        )
        try:
            async with asyncio.timeout(action.timeout):
                await run_action(ctx)
            result.state = ActionState.SUCCEEDED
        except ActionFailedError as exc:
            result.state, result.error = ActionState.FAILED, str(exc)
        except TimeoutError:
            result.state = ActionState.FAILED
            result.error = f"timed out after {action.timeout:g}s (timeout covers its retries)"
        except AuthError as exc:
            result.state, result.error = ActionState.FAILED, str(exc)
            # refused credentials stop the run; a 403 fails the action
            if exc.status != HTTPStatus.FORBIDDEN:
                self.failed = True
        except ApiError as exc:
            result.state, result.error = ActionState.FAILED, str(exc)
        except asyncio.CancelledError:
            result.state, result.error = ActionState.FAILED, "interrupted"
            raise
        except Exception as exc:  # a bug: fail this action visibly, keep the run consistent
            result.state = ActionState.FAILED
            result.error = f"internal error: {type(exc).__name__}: {exc} (please report it)"
        finally:
            result.ended_at = time.time()
            self.reporter.action_changed(result)
            self.journaling.action(result)

    # -- interruption -----------------------------------------------------------------------------
    def interrupt(self) -> None:
        """Stop the run (Ctrl-C, SIGTERM): start no action, fail the items still queued (batches
        in flight go on); the caller cancels `execute` when its grace period ends."""
        self.stop.set()
        self.run.interrupted = True
        self.dispatcher.halt("interrupted")

    async def _cancel(self, running: dict[asyncio.Task[None], str]) -> None:
        await self.dispatcher.cancel_all()
        await self.dispatcher.settle("interrupted")
        if running:  # the actions see their items' fates and end on their own
            _, late = await asyncio.wait(running, timeout=5.0)
            for task in late:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
