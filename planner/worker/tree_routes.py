"""The routes of the tree operations (docs/api.md, "Tree operations"): `storage:copy_tree` and
`storage:compare_tree` (one item per tree, checked and authorized before anything runs) and
`GET /operations/{id}/files` (the rows of a tree operation, paged)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import Field, StrictBool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from planner.api import wire
from planner.api.wire import RoleType
from planner.errors import WorkerError
from planner.tree.filters import Filters
from planner.worker.acl import resource_key
from planner.worker.auth import User
from planner.worker.endpoint import (
    Handler,
    accepted_response,
    parse_off_loop,
    read_guarded_body,
    require_roles,
)
from planner.worker.intake import cap
from planner.worker.paths import PathChecker
from planner.worker.problems import validate_body
from planner.worker.records import child_of
from planner.worker.requests import Place
from planner.worker.service import ItemFunction, WorkerService
from planner.worker.tree_model import TreeSpec
from planner.worker.tree_rows import page
from planner.worker.treeops import tree_item

TREE_FEATURES = [
    wire.FEATURE_TREE_COPY,
    wire.FEATURE_TREE_COMPARE,
    wire.FEATURE_TREE_FILES,
    wire.FEATURE_TREE_MIRROR,
]
MAX_ROWS_PAGE = 10_000
DEFAULT_ROWS_PAGE = 5_000


class TreeOperation(wire.WireModel):
    """One tree of a `storage:copy_tree` or `storage:compare_tree` body."""

    src: wire.StoragePath
    dst: wire.StoragePath
    include: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    overwrite: Literal["always", "never", "if-newer", "if-different"] = "if-different"
    checksum: StrictBool = False
    symlinks: Literal["follow", "skip"] = "follow"
    empty_dirs: StrictBool = True
    mirror: StrictBool = False
    delete_excluded: StrictBool = False
    max_delete: int | None = Field(default=None, ge=0)


class TreeRequest(wire.WireModel):
    operations: list[TreeOperation] = Field(default_factory=list)


def tree_specs(body: Any, checker: PathChecker, limit: int) -> list[TreeSpec]:
    """The trees of a body, their paths canonical and their filters compiled.

    Raises:
        WorkerError: 413 too many; 422 a wrong shape, no trees, an invalid path or pattern
            (located).
    """
    cap(body, "operations", limit)
    request = validate_body(body, TreeRequest)
    if not request.operations:
        raise WorkerError(
            422,
            "operations must not be empty",
            [{"location": "body.operations", "message": "must not be empty", "value": None}],
        )
    specs = []
    for i, op in enumerate(request.operations):
        where = f"body.operations[{i}]"
        try:
            filters = Filters(op.include, op.exclude)
        except (ValueError, TypeError) as exc:
            field = "exclude" if str(exc).startswith("exclude") else "include"
            location = f"{where}.{field}"
            raise WorkerError(
                422,
                f"{location}: {exc}",
                [{"location": location, "message": str(exc), "value": None}],
            ) from exc
        src = Place(op.src.remote, checker.path(f"{where}.src.path", op.src.remote, op.src.path))
        dst = Place(op.dst.remote, checker.path(f"{where}.dst.path", op.dst.remote, op.dst.path))
        specs.append(
            TreeSpec(
                src,
                dst,
                filters,
                op.overwrite,
                op.checksum,
                op.symlinks,
                op.empty_dirs,
                op.mirror,
                op.delete_excluded,
                op.max_delete,
            )
        )
    found = checker.problem()
    if found is not None:
        raise WorkerError(422, *found)
    return specs


def _tree_operation(compare: bool) -> Handler:
    verb = "compare_tree" if compare else "copy_tree"
    dst_role = RoleType.READER if compare else RoleType.WRITER

    async def handle(request: Request, service: WorkerService, user: User) -> Response:
        raw = await read_guarded_body(request, service, user)

        def prepare(body: Any) -> list[tuple[str, ItemFunction]]:
            specs = tree_specs(
                body, PathChecker(service.storages.names()), service.config.max_items
            )
            needs = [
                (f"body.operations[{i}].{end}.path", resource_key(*place), role)
                for i, s in enumerate(specs)
                for end, place, role in (("src", s.src, RoleType.READER), ("dst", s.dst, dst_role))
            ]
            require_roles(service, user, needs)
            return [
                (
                    f"{verb} {s.src.remote}:{s.src.path} -> {s.dst.remote}:{s.dst.path}",
                    tree_item(service, s, compare=compare),
                )
                for s in specs
            ]

        items = await parse_off_loop(request, service, raw, prepare)
        return accepted_response(service.submit(user, f"{verb} {len(items)} trees", items))

    return handle


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    text = request.query_params.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        message = f"must be an integer from {low} to {high}"
        raise WorkerError(
            422,
            f"query.{name}: {message}",
            [{"location": f"query.{name}", "message": message, "value": text[:80]}],
        )
    return value


async def tree_files(request: Request, service: WorkerService, user: User) -> Response:
    op_id = request.path_params["op_id"]
    offset = _int_param(request, "offset", 0, 0, 2**62)
    limit = _int_param(request, "limit", DEFAULT_ROWS_PAGE, 1, MAX_ROWS_PAGE)
    viewer = None if user.is_admin else user.name

    def read() -> bytes:
        if not service.operations.is_visible(op_id, viewer):
            raise WorkerError(404, f"unknown operation '{op_id}'")
        if service.operations.get(op_id, False, viewer)["children"]:
            raise WorkerError(
                404, f"operation '{op_id}' is a group: ask for the rows of its children"
            )
        operation, item = child_of(op_id) or (op_id, 0)
        return page(service.db, operation, item, offset, limit)

    return Response(await service.call(read), media_type="application/json")


def tree_routes(route: Callable[[str, Handler, list[str]], Route]) -> list[Route]:
    """The routes of the tree operations (before `/storage:{op}`, which would take them)."""
    return [
        route("/storage:copy_tree", _tree_operation(compare=False), ["POST"]),
        route("/storage:compare_tree", _tree_operation(compare=True), ["POST"]),
        route("/operations/{op_id}/files", tree_files, ["GET"]),
    ]
