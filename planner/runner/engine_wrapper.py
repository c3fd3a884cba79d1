"""`WrappedEngine`: an Engine that passes every call to another. The engines that change one
part of what a run does (the preview's model of writes, a saved plan's observations and its
guard) derive from it and override that part only, so a member added to the Engine protocol
reaches them all."""

from __future__ import annotations

from collections.abc import Sequence

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
)


class WrappedEngine:
    """Everything answered by `real`."""

    def __init__(self, real: Engine) -> None:
        self.real = real

    @property
    def recursive_listing(self) -> bool:
        return self.real.recursive_listing

    def listed_mtimes(self, target: Target) -> bool:
        return self.real.listed_mtimes(target)

    @property
    def stat_paths(self) -> bool:
        return self.real.stat_paths

    @property
    def tree_operations(self) -> bool:
        return self.real.tree_operations

    @property
    def mirror_trees(self) -> bool:
        return self.real.mirror_trees

    async def serves_tree(self, src: Target, dst: Target) -> bool:
        return await self.real.serves_tree(src, dst)

    def keeps_directories(self, target: Target) -> bool:
        return self.real.keeps_directories(target)

    async def tree_rows(self, handle: str, offset: int, limit: int) -> TreePage:
        return await self.real.tree_rows(handle, offset, limit)

    async def connect(self) -> EngineInfo:
        return await self.real.connect()

    async def submit(self, kind: ItemKind, items: Sequence[Item]) -> str:
        return await self.real.submit(kind, items)

    @property
    def waits_for_ends(self) -> bool:
        return self.real.waits_for_ends

    async def poll(self, handles: Sequence[str], wait: float = 0.0) -> list[BatchStatus]:
        return await self.real.poll(handles, wait)

    async def outcomes(self, handle: str, count: int) -> list[Outcome]:
        return await self.real.outcomes(handle, count)

    async def cancel(self, handles: Sequence[str]) -> None:
        await self.real.cancel(handles)

    async def grants(self, resource: Target) -> list[RoleGrant]:
        return await self.real.grants(resource)

    async def grant(self, grants: Sequence[RoleGrant]) -> None:
        await self.real.grant(grants)

    async def revoke(self, grants: Sequence[RoleGrant]) -> None:
        await self.real.revoke(grants)

    async def may(self, needs: Sequence[tuple[Target, str]]) -> bool:
        return await self.real.may(needs)

    def requests_sent(self) -> int:
        return self.real.requests_sent()

    async def close(self) -> None:
        await self.real.close()
