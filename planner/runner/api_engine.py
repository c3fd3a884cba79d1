"""The Data Transfer API as a runner engine (the only runner module that knows the wire)."""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus
from operator import itemgetter
from typing import Any

from planner.api import wire
from planner.api.client import ApiClient
from planner.errors import AuthError, PermanentApiError
from planner.runner.engine import (
    TREE_KINDS,
    BatchStatus,
    EngineInfo,
    Item,
    ItemKind,
    Outcome,
    RoleGrant,
    Target,
    TreePage,
    TreeRow,
)

DEFAULT_REMOTE = "any"
# the columns of a tree operation's rows, in TreeRow's order (read by name: the worker may add some)
_ROW_COLUMNS = ("path", "kind", "size", "reason", "state", "checksum", "code", "error")


def resource_path(target: Target) -> str:
    """How metadata and permission routes name a path: plain on `any`, `remote:path` elsewhere
    (docs/api.md)."""
    return target.path if target.remote == DEFAULT_REMOTE else f"{target.remote}:{target.path}"


def _storage_path(target: Target) -> wire.StoragePath:
    return wire.StoragePath(remote=target.remote, path=target.path)


class ApiEngine:
    """Engine over one ApiClient."""

    def __init__(self, client: ApiClient) -> None:
        self.client = client
        self.recursive_listing = True
        self.stat_paths = True
        self.quick_listing = False  # FEATURE_LISTED_MTIMES
        self.tree_operations = False
        self.mirror_trees = False
        self.object_trees = False  # tree operations on object remotes too
        self.waits_for_ends = False
        self.caller: str | None = None  # who the worker says we are (operations' user_id)
        self._trees: set[str] = set()  # handles of tree items, whose outcomes keep their result
        # remotes that are not directories (GET /storage `type` other than posix: planner's
        # worker says `s3`): tree operations there only with `object_trees`, else file by file
        self.object_remotes: set[str] = set()

    async def connect(self) -> EngineInfo:
        status = await self.client.status()
        storages = await self.client.storages()
        has = self.client.has_feature
        self.recursive_listing = await has(wire.FEATURE_RECURSIVE_LIST)
        self.stat_paths = await has(wire.FEATURE_STAT)
        self.quick_listing = self.recursive_listing and await has(wire.FEATURE_LISTED_MTIMES)
        self.tree_operations = (
            await has(wire.FEATURE_TREE_COPY)
            and await has(wire.FEATURE_TREE_COMPARE)
            and await has(wire.FEATURE_TREE_FILES)
        )
        self.mirror_trees = self.tree_operations and await has(wire.FEATURE_TREE_MIRROR)
        self.object_trees = self.tree_operations and await has(wire.FEATURE_TREE_OBJECTS)
        self.waits_for_ends = await has(wire.FEATURE_WAIT)
        self.object_remotes = {s.name for s in storages if s.type not in ("posix", "")}
        return EngineInfo(version=status.build_info.version, remotes={s.name for s in storages})

    async def submit(self, kind: ItemKind, items: Sequence[Item]) -> str:
        api = self.client
        if kind in (ItemKind.COPY, ItemKind.MOVE):
            # plain JSON, not models: this builds thousands of pairs per tree
            pairs = [
                {
                    "src": {"remote": (i.src or i.target).remote, "path": (i.src or i.target).path},
                    "dst": {"remote": i.target.remote, "path": i.target.path},
                }
                for i in items
            ]
            return await api.submit_pairs("copy" if kind is ItemKind.COPY else "move", pairs)
        if kind in TREE_KINDS:
            trees = [_tree_operation(i) for i in items]
            submit = api.copy_tree if kind is ItemKind.COPY_TREE else api.compare_tree
            handle = await submit(trees)
            self._trees.add(handle)
            return handle
        paths = [_storage_path(i.target) for i in items]
        if kind is ItemKind.EXISTS:
            return await api.exists(paths)
        if kind is ItemKind.STAT:
            return await api.stat(paths)
        if kind is ItemKind.LIST:
            return await api.list(paths, extended=True, recursive=True)
        if kind is ItemKind.LIST_QUICK:
            return await api.list(paths, extended=True, recursive=True, listed_mtimes=True)
        if kind is ItemKind.LIST_CHILDREN:
            return await api.list(paths, extended=True)
        if kind is ItemKind.MKDIR:
            return await api.mkdir(paths)
        if kind is ItemKind.REMOVE:
            return await api.remove(paths)
        if kind is ItemKind.RMDIR:
            return await api.rmdir(paths)
        if kind is ItemKind.METADATA_GET:
            return await api.get_metadata([resource_path(i.target) for i in items])
        assignments = {
            resource_path(i.target): wire.DataAssignment(custom=dict(i.data or {})) for i in items
        }
        return await api.set_metadata(assignments)

    async def poll(self, handles: Sequence[str], wait: float = 0.0) -> list[BatchStatus]:
        ops = await self.client.operations(list(handles), wait=wait if self.waits_for_ends else 0)
        self.caller = self.caller or next((o.user_id for o in ops if o.user_id), None)
        return [
            BatchStatus(
                handle=o.id,
                done=o.state.is_terminal,
                succeeded=o.state is wire.OperationState.SUCCEEDED,
                progress=o.progress,
                progress_current=o.progress_current,
                progress_total=o.progress_total,
            )
            for o in ops
        ]

    def listed_mtimes(self, target: Target) -> bool:
        return self.quick_listing and target.remote in self.object_remotes

    async def serves_tree(self, src: Target, dst: Target) -> bool:
        if not self.tree_operations:
            return False
        return self.object_trees or not {src.remote, dst.remote} & self.object_remotes

    def keeps_directories(self, target: Target) -> bool:
        return target.remote not in self.object_remotes

    async def tree_rows(self, handle: str, offset: int, limit: int) -> TreePage:
        page = await self.client.tree_files(handle, offset, limit)
        try:
            pick = itemgetter(*(page.columns.index(name) for name in _ROW_COLUMNS))
            rows = [TreeRow(*pick(values)) for values in page.rows]
        except (ValueError, IndexError, TypeError) as exc:
            raise PermanentApiError(
                f"unexpected rows of the tree operation {handle}: {exc} (columns {page.columns})"
            ) from exc
        return TreePage(rows, page.next_offset)

    async def outcomes(self, handle: str, count: int) -> list[Outcome]:
        op = await self.client.operation_outcome(handle)
        if handle in self._trees:
            self._trees.discard(handle)
            if count > 1 and op.children_detail and len(op.children_detail) == count:
                return [_tree_outcome(child) for child in op.children_detail]
            return [_tree_outcome(op)]
        if count > 1 and op.children_detail and len(op.children_detail) == count:
            return [_outcome(child) for child in op.children_detail]
        if count > 1 and not op.children:
            # one operation for many items (metadata routes): every item shares its fate
            return [_outcome(op, index) for index in range(count)]
        return [_outcome(op)]

    async def cancel(self, handles: Sequence[str]) -> None:
        if not await self.client.has_feature(wire.FEATURE_CANCEL):
            return
        for handle in handles:
            await self.client.cancel(handle)

    async def grants(self, resource: Target) -> list[RoleGrant]:
        query = wire.RoleQuery(resource=wire.Resource(path=resource_path(resource)))
        found = await self.client.get_permissions([query])
        return [
            RoleGrant(
                resource=resource,
                role=a.role.value,
                subject_type=a.subject.type.value,
                subject=a.subject.id,
            )
            for a in found
        ]

    async def grant(self, grants: Sequence[RoleGrant]) -> None:
        await self.client.set_permissions([_assignment(g) for g in grants])

    async def revoke(self, grants: Sequence[RoleGrant]) -> None:
        await self.client.remove_permissions([_assignment(g) for g in grants])

    async def may(self, needs: Sequence[tuple[Target, str]]) -> bool:
        if not needs or self.caller == "":
            return True
        try:
            if self.caller is None:  # learn it from one harmless read
                try:
                    item = Item(ItemKind.EXISTS, needs[0][0])
                    handle = await self.submit(ItemKind.EXISTS, [item])
                except AuthError as exc:
                    if exc.status != HTTPStatus.FORBIDDEN:
                        raise
                    return True  # not readable: unknown, and a later read may tell the caller
                self.caller = (await self.client.operation(handle)).user_id or ""
            if not self.caller:
                return True
            roles = [(resource_path(target), wire.RoleType(role).value) for target, role in needs]
            return await self.client.check_roles(self.caller, roles)
        except (AuthError, PermanentApiError):
            # a worker that will not say (no such route, or not to this caller): assume allowed,
            # the run will find out
            self.caller = ""
            return True

    def requests_sent(self) -> int:
        return self.client.requests_sent

    async def close(self) -> None:
        await self.client.aclose()


def _assignment(grant: RoleGrant) -> wire.RoleAssignment:
    return wire.RoleAssignment(
        resource=wire.Resource(path=resource_path(grant.resource)),
        role=wire.RoleType(grant.role),
        subject=wire.Subject(id=grant.subject, type=wire.SubjectType(grant.subject_type)),
    )


def _outcome(op: wire.OperationOutcome, index: int | None = None) -> Outcome:
    if op.state is wire.OperationState.SUCCEEDED:
        return Outcome(ok=True, result=_single(op.result), size=op.progress_total or 0)
    code = op.error_detail.code if op.error_detail else None
    return Outcome(
        ok=False, error=op.error or "failed", code=code, transient=op.is_transient_failure
    )


def _tree_outcome(op: wire.OperationOutcome) -> Outcome:
    """A tree item's outcome: its counts (kept when it failed too, as are its rows) and the
    handle of its rows; transient only when it failed before it could end with a result."""
    tree = isinstance(op.result, dict)
    outcome = _outcome(op)
    outcome.result = op.result if tree else None
    outcome.handle = (op.id or "") if tree else None
    outcome.transient = outcome.transient and not tree
    return outcome


def _tree_operation(item: Item) -> wire.TreeOperation:
    return wire.TreeOperation(
        src=_storage_path(item.src or item.target),
        dst=_storage_path(item.target),
        **(item.data or {}),
    )


def _single(result: Any) -> Any:
    """A list result is keyed by the listed path; a single item's result is its value."""
    if isinstance(result, dict) and len(result) == 1:
        (value,) = result.values()
        return value
    return result
