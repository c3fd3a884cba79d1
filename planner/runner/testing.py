"""The runner's test seam: an in-memory `Engine`, in the spirit of httpx's `MockTransport`.

`FakeEngine` implements the Engine protocol (engine.py) with no server: a plain handler, a
callable from an `Item` to its `Outcome`, decides what becomes of each item (by default
`MemoryFiles`, an in-memory filesystem). Knobs shape the rest:

- `polls_to_finish`: a batch is done at its Nth poll; its items run in order as polls come, so a
  batch cancelled half-way has run only its first items;
- `permits(target, role)`: a submission naming an item whose roles are not all permitted is
  refused with a 403 naming those items (as the worker does), and `may` answers from it;
- `transient_failures` (with `flaky` to choose the items): an item fails with a transient 503 on
  its first K attempts;
- `tree_operations`: whether directory copies may be one tree item (MemoryFiles runs them and
  the fake pages their rows, `tree_pages` recording each page asked);

and `calls` records every call, in order, so tests assert batching (how many submissions, of
which kinds and sizes). `serving` runs a dispatcher's loop for a block; `compile_yaml` and
`execute` run a whole plan against the fake. Nothing here sleeps or opens a socket: tests import
this module, the product never does.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path

from planner.api.codes import ItemCode
from planner.compile import CompiledPlan, compile_plan
from planner.errors import AuthError, PermanentApiError
from planner.plan.load import load_plan_text
from planner.runner.dispatcher import Dispatcher
from planner.runner.engine import (
    BatchStatus,
    Engine,
    EngineInfo,
    Item,
    ItemKind,
    Outcome,
    RoleGrant,
    Target,
    TreePage,
    TreeRow,
)
from planner.runner.executor import Executor, Journaling, RunOptions
from planner.runner.memory_files import MemoryFiles, TreeOutcome
from planner.runner.progress import ProgressReporter, SilentReporter
from planner.runner.results import ActionResult, RunResult

__all__ = [
    "MUTATING_KINDS",
    "Call",
    "FakeEngine",
    "FixedJitter",
    "Handler",
    "MemoryFiles",
    "Permits",
    "RecordedSleep",
    "compile_yaml",
    "execute",
    "roles_needed",
    "serving",
]

Handler = Callable[[Item], Outcome]
Permits = Callable[[Target, str], bool]

READ_KINDS = frozenset(
    {
        ItemKind.EXISTS,
        ItemKind.STAT,
        ItemKind.LIST,
        ItemKind.LIST_CHILDREN,
        ItemKind.LIST_QUICK,
        ItemKind.METADATA_GET,
        ItemKind.COMPARE_TREE,
    }
)
MUTATING_KINDS = frozenset(ItemKind) - READ_KINDS


def _permit_all(target: Target, role: str) -> bool:
    return True


def _every_item(item: Item) -> bool:
    return True


def roles_needed(item: Item) -> list[tuple[Target, str]]:
    """The roles the worker asks of an item (docs/worker.md): reader for reads and a copy's
    source, writer for what changes (a move's source included)."""
    if item.kind in READ_KINDS:
        return [(item.target, "reader")] + ([(item.src, "reader")] if item.src else [])
    needs = [(item.target, "writer")]
    if item.src is not None:
        reads_src = item.kind in (ItemKind.COPY, ItemKind.COPY_TREE)
        needs.append((item.src, "reader" if reads_src else "writer"))
    return needs


@dataclass(frozen=True)
class Call:
    """One call made to the fake: `method` is the Engine method's name."""

    method: str
    kind: ItemKind | None = None  # submit
    items: tuple[Item, ...] = ()  # submit
    handles: tuple[str, ...] = ()  # poll, outcomes, cancel, tree_rows
    refused: tuple[int, ...] = ()  # submit: the indexes of the items refused with a 403
    grants: tuple[RoleGrant, ...] = ()  # grant, revoke
    needs: tuple[tuple[Target, str], ...] = ()  # may
    resource: Target | None = None  # grants


def _mutates(call: Call) -> bool:
    if call.method == "submit":
        return call.kind in MUTATING_KINDS
    return call.method in ("grant", "revoke")


@dataclass
class _Batch:
    kind: ItemKind
    items: tuple[Item, ...]
    outcomes: list[Outcome | None]
    polls: int = 0
    cancelled: bool = False

    @property
    def ran(self) -> int:
        return sum(1 for outcome in self.outcomes if outcome is not None)

    @property
    def done(self) -> bool:
        return self.cancelled or self.ran == len(self.items)


class FakeEngine:
    """An Engine over a handler, recording every call (see the module docstring).

    `files` is the handler when it is a MemoryFiles (the default); with another handler it is a
    fresh MemoryFiles that handler may delegate to. `roles` holds the grants made through the
    permission routes.
    """

    def __init__(
        self,
        handler: Handler | None = None,
        *,
        polls_to_finish: int = 1,
        permits: Permits = _permit_all,
        transient_failures: int = 0,
        flaky: Callable[[Item], bool] = _every_item,
        recursive_listing: bool = True,
        stat_paths: bool = True,
        tree_operations: bool = False,
        remotes: Iterable[str] = ("any", "local"),
    ) -> None:
        if polls_to_finish < 1:
            raise ValueError("polls_to_finish must be at least 1 (a batch is done at a poll)")
        self.files = handler if isinstance(handler, MemoryFiles) else MemoryFiles()
        self.handler: Handler = handler if handler is not None else self.files
        self.polls_to_finish = polls_to_finish
        self.permits = permits
        self.transient_failures = transient_failures
        self.flaky = flaky
        self._recursive_listing = recursive_listing
        self._stat_paths = stat_paths
        self._tree_operations = tree_operations
        self.tree_results: dict[str, list[TreeRow]] = {}  # rows by the handle of a tree item
        self.tree_pages: list[tuple[str, int, int]] = []  # (handle, offset, limit) asked
        self.remotes = set(remotes)
        self.calls: list[Call] = []
        self.roles: list[RoleGrant] = []
        self.attempts: dict[tuple[ItemKind, Target, Target | None], int] = {}
        self.batches: dict[str, _Batch] = {}
        self._ids = itertools.count(1)

    # -- what tests assert on ---------------------------------------------------------------------
    def submits(self, kind: ItemKind | None = None) -> list[Call]:
        """The submissions (refused ones included), of one kind or all, in order."""
        return [c for c in self.calls if c.method == "submit" and kind in (None, c.kind)]

    def batch_sizes(self, kind: ItemKind | None = None) -> list[int]:
        """How many items each submission carried, in order."""
        return [len(c.items) for c in self.submits(kind)]

    def mutating_calls(self) -> list[Call]:
        """Submissions of kinds that change files or metadata, and grant/revoke calls."""
        return [c for c in self.calls if _mutates(c)]

    # -- the Engine protocol ----------------------------------------------------------------------
    @property
    def recursive_listing(self) -> bool:
        return self._recursive_listing

    def listed_mtimes(self, target: Target) -> bool:
        return False  # every listing is exact on this fake

    @property
    def stat_paths(self) -> bool:
        return self._stat_paths

    @property
    def tree_operations(self) -> bool:
        return self._tree_operations

    @property
    def mirror_trees(self) -> bool:
        return False  # a mirror copy takes the item path on this fake

    async def serves_tree(self, src: Target, dst: Target) -> bool:
        return self._tree_operations

    def keeps_directories(self, target: Target) -> bool:
        return True

    async def tree_rows(self, handle: str, offset: int, limit: int) -> TreePage:
        self.calls.append(Call("tree_rows", handles=(handle,)))
        self.tree_pages.append((handle, offset, limit))
        rows = self.tree_results.get(handle)
        if rows is None:
            raise PermanentApiError(f"no such tree operation: {handle}", HTTPStatus.NOT_FOUND)
        end = offset + limit
        return TreePage(rows[offset:end], end if end < len(rows) else None)

    async def connect(self) -> EngineInfo:
        self.calls.append(Call("connect"))
        return EngineInfo(version="fake", remotes=set(self.remotes))

    async def submit(self, kind: ItemKind, items: Sequence[Item]) -> str:
        refused = tuple(
            index
            for index, item in enumerate(items)
            if not all(self.permits(target, role) for target, role in roles_needed(item))
        )
        self.calls.append(Call("submit", kind, tuple(items), refused=refused))
        if any(item.kind is not kind for item in items):
            raise ValueError(f"a batch of {kind} holds items of another kind")
        if refused:
            raise AuthError(
                f"permission denied (fake): {len(refused)} of {len(items)} items refused",
                HTTPStatus.FORBIDDEN,
                locations=tuple(f"body.operations[{index}]" for index in refused),
            )
        handle = f"fake-{next(self._ids)}"
        self.batches[handle] = _Batch(kind, tuple(items), [None] * len(items))
        return handle

    waits_for_ends = False  # polls answer at once

    async def poll(self, handles: Sequence[str], wait: float = 0.0) -> list[BatchStatus]:
        self.calls.append(Call("poll", handles=tuple(handles)))
        statuses = []
        for handle in handles:
            batch = self._batch(handle)
            if not batch.done:
                batch.polls += 1
                self._advance(batch)
            ok = batch.done and not batch.cancelled and all(o and o.ok for o in batch.outcomes)
            total = max(1, len(batch.items))
            statuses.append(
                BatchStatus(
                    handle,
                    done=batch.done,
                    succeeded=ok,
                    progress=batch.ran / total,
                    progress_current=batch.ran,
                )
            )
        return statuses

    async def outcomes(self, handle: str, count: int) -> list[Outcome]:
        self.calls.append(Call("outcomes", handles=(handle,)))
        batch = self._batch(handle)
        unfinished = "cancelled before it ran" if batch.cancelled else "still running"
        answered = []
        for index, outcome in enumerate(batch.outcomes):
            if isinstance(outcome, TreeOutcome):  # its rows are paged, not carried
                rows_handle = f"{handle}#{index}"
                self.tree_results[rows_handle] = outcome.rows
                outcome = Outcome(
                    ok=outcome.ok,
                    result=outcome.result,
                    error=outcome.error,
                    code=outcome.code,
                    handle=rows_handle,
                )
            answered.append(outcome or Outcome(ok=False, error=unfinished))
        return answered

    async def cancel(self, handles: Sequence[str]) -> None:
        self.calls.append(Call("cancel", handles=tuple(handles)))
        for handle in handles:
            self._batch(handle).cancelled = True

    async def grants(self, resource: Target) -> list[RoleGrant]:
        self.calls.append(Call("grants", resource=resource))
        return [g for g in self.roles if g.resource == resource]

    async def grant(self, grants: Sequence[RoleGrant]) -> None:
        self.calls.append(Call("grant", grants=tuple(grants)))
        self._require_admin(grants)
        self.roles += [g for g in grants if g not in self.roles]

    async def revoke(self, grants: Sequence[RoleGrant]) -> None:
        self.calls.append(Call("revoke", grants=tuple(grants)))
        self._require_admin(grants)
        self.roles = [g for g in self.roles if g not in grants]

    async def may(self, needs: Sequence[tuple[Target, str]]) -> bool:
        self.calls.append(Call("may", needs=tuple(needs)))
        return all(self.permits(target, role) for target, role in needs)

    def requests_sent(self) -> int:
        return len(self.calls)

    async def close(self) -> None:
        self.calls.append(Call("close"))

    # -- inside -----------------------------------------------------------------------------------
    def _batch(self, handle: str) -> _Batch:
        batch = self.batches.get(handle)
        if batch is None:
            raise PermanentApiError(f"no such operation: {handle}", HTTPStatus.NOT_FOUND)
        return batch

    def _advance(self, batch: _Batch) -> None:
        """Run the items this poll reaches: after poll p of N, the first p/N of the batch."""
        reached = -(-len(batch.items) * batch.polls // self.polls_to_finish)  # ceiling
        for index in range(batch.ran, min(reached, len(batch.items))):
            batch.outcomes[index] = self._run(batch.items[index])

    def _run(self, item: Item) -> Outcome:
        key = (item.kind, item.target, item.src)
        self.attempts[key] = attempt = self.attempts.get(key, 0) + 1
        if attempt <= self.transient_failures and self.flaky(item):
            return Outcome(
                ok=False,
                error=f"{item.target}: service unavailable (fake, attempt {attempt})",
                code=ItemCode.TRANSIENT,
                transient=True,
            )
        return self.handler(item)

    def _require_admin(self, grants: Sequence[RoleGrant]) -> None:
        denied = [str(g.resource) for g in grants if not self.permits(g.resource, "admin")]
        if denied:
            raise AuthError(
                f"permission denied (fake): no admin role on {denied[0]}", HTTPStatus.FORBIDDEN
            )


class FixedJitter(random.Random):
    """A Random whose `uniform(a, b)` is always the same point of the interval: 0.0 its start
    (backoffs of zero: the dispatcher polls again at once), 1.0 its end (delays equal their
    ceilings, to assert them)."""

    def __init__(self, fraction: float) -> None:
        super().__init__(0)
        self.fraction = fraction

    def uniform(self, a: float, b: float) -> float:
        return a + (b - a) * self.fraction


@dataclass
class RecordedSleep:
    """An injected sleep that records each delay and returns at once (after yielding once)."""

    delays: list[float] = field(default_factory=list)

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await asyncio.sleep(0)


# a test against the fake takes milliseconds: past this, a dispatcher or an executor that never
# resolves an item fails its test with TimeoutError instead of hanging the suite
HANG_LIMIT = 10.0


@contextlib.asynccontextmanager
async def serving(dispatcher: Dispatcher) -> AsyncIterator[Dispatcher]:
    """The dispatcher's loop running for the duration of the block (as the executor runs it).

    Raises:
        TimeoutError: the block has not ended after HANG_LIMIT seconds.
    """
    task = asyncio.create_task(dispatcher.serve())
    try:
        async with asyncio.timeout(HANG_LIMIT):
            yield dispatcher
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def compile_yaml(text: str, plan_dir: Path = Path("/plans")) -> CompiledPlan:
    """A plan from YAML text, loaded (with an empty environment) and compiled.

    Raises:
        PlanError: the text is not a valid plan.
    """
    return compile_plan(load_plan_text(text, "plan.yaml", plan_dir, env={}))


async def execute(
    compiled: CompiledPlan,
    engine: Engine,
    *,
    options: RunOptions | None = None,
    reporter: ProgressReporter | None = None,
    sleep: RecordedSleep | None = None,
    journaling: Journaling | None = None,
) -> RunResult:
    """Run a compiled plan against `engine` with the real Executor: no jitter (the dispatcher
    never waits), sleeps recorded in `sleep` instead of slept.

    Raises:
        TimeoutError: the run has not ended after HANG_LIMIT seconds.
    """
    plan = compiled.plan
    actions = [ActionResult(id=a.id, kind=a.kind) for a in compiled.actions_in_order()]
    run = RunResult("test", plan.file, plan.name, plan.digest, 0.0, actions=actions)
    executor = Executor(
        compiled,
        engine,
        run,
        options=options or RunOptions(),
        reporter=reporter or SilentReporter(),
        journaling=journaling,
        sleep=sleep or RecordedSleep(),
        rng=FixedJitter(0.0),
    )
    async with asyncio.timeout(HANG_LIMIT):
        return await executor.execute()
