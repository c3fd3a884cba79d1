"""The HTTP routes of docs/api.md: thin handlers that validate a request, check permissions at
submission and start operations, each wrapped by endpoint.py (fault injection, authentication,
problem responses)."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from planner import __version__
from planner.api import wire
from planner.api.wire import RoleType
from planner.errors import WorkerError
from planner.worker import handlers, intake, outcome_view
from planner.worker.acl import resource_key
from planner.worker.auth import User
from planner.worker.body import read_body
from planner.worker.endpoint import (
    API,
    Handler,
    accepted_response,
    endpoint,
    ok_response,
    parse_off_loop,
    read_guarded_body,
    require_roles,
)
from planner.worker.operations import TooManyDetailsError
from planner.worker.outcome_view import outcome
from planner.worker.paths import PathChecker
from planner.worker.requests import Pair
from planner.worker.service import ItemFunction, WorkerService
from planner.worker.tree_routes import TREE_FEATURES, tree_routes

READ, WRITE, ADMIN = RoleType.READER, RoleType.WRITER, RoleType.ADMIN
MAX_POLLED_IDS = 1000


# -- status and storages ---------------------------------------------------------------------
async def status(request: Request, service: WorkerService, user: User) -> Response:
    auth = ["none"] if not service.authenticator.requires_token else ["bearer", "api_key"]
    features = wire.Features(
        auth_types=auth,
        storage_plugins=["posix"],
        permissions_plugins=["planner"],
        metadata_plugins=["planner"],
        operation_plugins=[
            *([wire.FEATURE_RECURSIVE_LIST] if service.config.recursive_listing else []),
            wire.FEATURE_LISTED_MTIMES,
            *(TREE_FEATURES if service.config.tree_operations else []),
            *(
                [wire.FEATURE_TREE_OBJECTS]
                if service.config.tree_operations and service.config.object_trees
                else []
            ),
            wire.FEATURE_RECENT_OPERATIONS,
            wire.FEATURE_CANCEL,
            wire.FEATURE_DELETE,
            *([wire.FEATURE_WAIT] if service.config.operation_waits else []),
            *([wire.FEATURE_STAT] if service.config.stat else []),
            *([wire.FEATURE_OUTCOME_VIEW] if service.config.outcome_view else []),
        ]
        + ([wire.FEATURE_SHUTDOWN] if service.config.allow_shutdown else []),
    )
    body = wire.StatusResponse(
        ready=True,
        time=datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        build_info=wire.BuildInfo(version=__version__, version_hash="", branch="planner"),
        features=features,
    )
    return ok_response(body.model_dump(mode="json"))


async def storages(request: Request, service: WorkerService, user: User) -> Response:
    names = sorted(service.storages.names(), key=lambda n: (n != "any", n))
    return ok_response(
        {
            "storage": [
                {"name": n, "type": service.storages.kind(n), "priority": i}
                for i, n in enumerate(names)
            ]
        }
    )


# -- storage operations ------------------------------------------------------------------------
_PATH_ROLES = {
    "exists": READ,
    "stat": READ,
    "list": READ,
    "mkdir": WRITE,
    "remove": WRITE,
    "rmdir": WRITE,
}


async def storage_operation(request: Request, service: WorkerService, user: User) -> Response:
    op = request.path_params["op"]
    known = op in ("copy", "move") or (op in _PATH_ROLES and (op != "stat" or service.config.stat))
    if not known:
        raise WorkerError(404, f"unknown storage operation '{op}'")
    raw = await read_guarded_body(request, service, user)
    limit = service.config.max_items
    extended = request.query_params.get("mode", "basic") == "extended"
    recursive = service.config.recursive_listing and request.query_params.get(
        "recursive", "false"
    ).lower() in ("true", "1")
    # planner extension (FEATURE_LISTED_MTIMES): an object's LastModified may stand for its
    # stored mtime, flagged `mtime_exact: false` (the caller stats what it compares)
    exact_mtimes = request.query_params.get("mtimes", "exact") != "listed"

    def pair_items(body: Any) -> list[tuple[str, ItemFunction]]:
        pairs = intake.pairs(body, PathChecker(service.storages.names()), limit)
        src_role = READ if op == "copy" else WRITE
        needs = [
            (f"body.operations[{i}].{end}.path", resource_key(sp.remote, sp.path), role)
            for i, p in enumerate(pairs)
            for end, sp, role in (("src", p.src, src_role), ("dst", p.dst, WRITE))
        ]
        require_roles(service, user, needs)
        return [
            (f"{op} {p.src.remote}:{p.src.path} -> {p.dst.remote}:{p.dst.path}", pair_item(p))
            for p in pairs
        ]

    def pair_item(p: Pair) -> ItemFunction:
        if op == "copy":
            return handlers.copy_item(service, p)
        # grants travel with a move only where its caller could have set them (admin on the
        # destination); otherwise they go as a removal's do, and nobody gains a role by a move
        dst_key = resource_key(p.dst.remote, p.dst.path)
        return handlers.move_item(service, p, service.permissions.allows(user, dst_key, ADMIN))

    def path_items(body: Any) -> list[tuple[str, ItemFunction]]:
        paths = intake.places(body, PathChecker(service.storages.names()), limit)
        needs = [
            (f"body.operations[{i}].path", resource_key(sp.remote, sp.path), _PATH_ROLES[op])
            for i, sp in enumerate(paths)
        ]
        require_roles(service, user, needs)
        made = handlers.path_items(
            service, op, paths, extended, recursive, exact_mtimes=exact_mtimes
        )
        return [(f"{op} {sp.remote}:{sp.path}", item) for sp, item in zip(paths, made, strict=True)]

    items = await parse_off_loop(
        request, service, raw, pair_items if op in ("copy", "move") else path_items
    )
    return accepted_response(service.submit(user, f"{op} {len(items)} items", items))


# -- operations --------------------------------------------------------------------------------
# A non-admin sees and acts on its own operations only: another user's id answers exactly as an
# unknown id does (GET: a failed `unknown operation` record; cancel, delete: 404).
def _viewer(user: User) -> str | None:
    """Whose operations the caller may see: its own, or everyone's (None) for an admin."""
    return None if user.is_admin else user.name


async def operations(request: Request, service: WorkerService, user: User) -> Response:
    ids = request.query_params.getlist("ids")
    expand = request.query_params.get("expand", "false").lower() in ("true", "1")
    viewer = _viewer(user)
    if ids:
        if len(ids) > MAX_POLLED_IDS:
            raise WorkerError(422, f"at most {MAX_POLLED_IDS} ids per request ({len(ids)} given)")
        if service.config.operation_waits:
            wait = _wait_seconds(request.query_params.get("wait"))
            if wait:
                await service.waits.wait(ids, user.name, viewer, wait, _gone(request))
        # ended operations may be read back from SQLite: off the event loop
        limit = service.config.max_items
        try:
            ops = await service.call(
                lambda: service.operations.get_many(ids, expand, viewer, limit)
            )
        except TooManyDetailsError as exc:
            raise WorkerError(413, str(exc)) from exc
    else:
        try:
            limit = max(1, min(int(request.query_params.get("limit", "50")), 1000))
        except ValueError as exc:
            raise WorkerError(400, "limit must be an integer") from exc
        after = request.query_params.get("after")

        def page() -> list[dict[str, Any]]:
            cursor = after if after and service.operations.is_visible(after, viewer) else None
            # another user's id is a cursor no more than an unknown one is
            return service.operations.recent(viewer, limit, cursor)

        ops = await service.call(page)
    body: dict[str, Any] = {"operations": ops}
    if not ids and ops:
        body["next_after"] = ops[-1]["id"]
    return ok_response(body)


def _wait_seconds(text: str | None) -> float:
    """The `wait` query parameter: seconds, 0 when absent (capped by waits.MAX_WAIT)."""
    if text is None:
        return 0.0
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0:
        raise WorkerError(400, "wait must be a number of seconds, 0 or more")
    return seconds


def _gone(request: Request) -> Callable[[], Awaitable[None]]:
    """What returns once the client of `request` (a GET: no body) has disconnected."""

    async def gone() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    return gone


async def operation(request: Request, service: WorkerService, user: User) -> Response:
    op_id, viewer = request.path_params["op_id"], _viewer(user)
    view = request.query_params.get("view") if service.config.outcome_view else None
    if view is not None and view != outcome_view.VIEW:
        raise WorkerError(400, f"unknown view '{view}' (known: {outcome_view.VIEW})")
    if view:
        return ok_response(await service.call(lambda: outcome(service.operations, op_id, viewer)))
    return ok_response(await service.call(lambda: service.operations.get(op_id, True, viewer)))


async def cancel_operation(request: Request, service: WorkerService, user: User) -> Response:
    op_id = request.path_params["op_id"]
    viewer = _viewer(user)
    if not service.operations.is_visible(op_id, viewer):
        raise WorkerError(404, f"unknown operation '{op_id}'")
    service.cancel(op_id)  # False once it ended and left memory: then it is unchanged
    return ok_response(service.operations.get(op_id, viewer=viewer))


async def delete_operation(request: Request, service: WorkerService, user: User) -> Response:
    op_id = request.path_params["op_id"]
    viewer = _viewer(user)
    current = service.operations.get(op_id, viewer=viewer)
    if current["state"] not in ("succeeded", "failed"):
        raise WorkerError(409, f"operation '{op_id}' is still {current['state']}; cancel it first")
    if not service.operations.delete(op_id, viewer):
        raise WorkerError(404, f"unknown operation '{op_id}'")
    return Response(status_code=204)


# -- metadata ----------------------------------------------------------------------------------
async def metadata_get(request: Request, service: WorkerService, user: User) -> Response:
    raw = await read_guarded_body(request, service, user)

    def prepare(body: Any) -> tuple[ItemFunction, int]:
        found = intake.metadata_paths(
            body, PathChecker(service.storages.names()), service.config.max_items
        )
        require_roles(service, user, [(where, resource_key(*sp), READ) for where, _, sp in found])
        return handlers.metadata_get_item(service, [(label, sp) for _, label, sp in found]), len(
            found
        )

    item, paths = await parse_off_loop(request, service, raw, prepare)
    return accepted_response(
        service.submit(user, "metadata:get", [("metadata:get", item)], weight=paths)
    )


async def metadata_set(request: Request, service: WorkerService, user: User) -> Response:
    raw = await read_guarded_body(request, service, user)

    def prepare(body: Any) -> tuple[ItemFunction, int]:
        found = intake.metadata_assignments(
            body, PathChecker(service.storages.names()), service.config.max_items
        )
        require_roles(service, user, [(where, resource_key(*sp), WRITE) for where, sp, _ in found])
        return handlers.metadata_set_item(service, [(sp, custom) for _, sp, custom in found]), len(
            found
        )

    item, paths = await parse_off_loop(request, service, raw, prepare)
    return accepted_response(
        service.submit(user, "metadata:set", [("metadata:set", item)], weight=paths)
    )


# -- permissions -------------------------------------------------------------------------------
async def permissions_check(request: Request, service: WorkerService, user: User) -> Response:
    raw = await read_body(request, service.config.max_body)

    def prepare(body: Any) -> bool:
        found = intake.role_assignments(
            body, PathChecker(service.storages.names()), service.config.max_items
        )
        # a caller may ask about itself anywhere; about others only where it may read grants
        require_roles(
            service,
            user,
            [(where, a.resource.path, READ) for where, a in found if not _is_self(a.subject, user)],
        )
        return all(subject_holds_role(service, a, user) for _, a in found)

    return ok_response({"allowed": await parse_off_loop(request, service, raw, prepare)})


def _is_self(subject: wire.Subject, caller: User) -> bool:
    """Whether a subject is the caller, one of its groups, or everyone."""
    if subject.type is wire.SubjectType.USER:
        return subject.id == caller.name
    if subject.type is wire.SubjectType.GROUP:
        return subject.id in caller.groups
    return True


def subject_holds_role(service: WorkerService, a: wire.RoleAssignment, caller: User) -> bool:
    """Whether the assignment's subject holds at least its role on its (canonical) resource
    (groups, ancestors and the admin flag count; a caller asking about itself is known even
    without a users file)."""
    key = a.resource.path
    subject = a.subject
    if subject.type is wire.SubjectType.USER:
        name = subject.id or ""
        member = caller if name == caller.name else service.authenticator.user_named(name)
        if member is not None:
            return service.permissions.allows(member, key, a.role)
    return service.permissions.holds(subject, key, a.role) or service.permissions.holds(
        wire.Subject(type=wire.SubjectType.ANY), key, a.role
    )


async def permissions_get(request: Request, service: WorkerService, user: User) -> Response:
    raw = await read_guarded_body(request, service, user)

    def prepare(body: Any) -> list[wire.RoleAssignment]:
        found = intake.role_queries(
            body, PathChecker(service.storages.names()), service.config.max_items
        )
        if not user.is_admin:
            needs = [
                (where, q.resource.path, READ)
                for where, q in found
                if q.resource is not None and q.resource.path
            ]
            if len(needs) != len(found):
                raise WorkerError(403, "only admins may query permissions without a resource path")
            require_roles(service, user, needs)
        return service.permissions.query([q for _, q in found])

    found = await parse_off_loop(request, service, raw, prepare)
    return ok_response({"permissions": [a.model_dump(mode="json") for a in found]})


async def permissions_change(request: Request, service: WorkerService, user: User) -> Response:
    op = request.path_params["op"]
    if op not in ("set", "remove"):
        raise WorkerError(404, f"unknown permissions operation '{op}'")
    raw = await read_guarded_body(request, service, user)

    def prepare(body: Any) -> list[wire.RoleAssignment]:
        found = intake.role_assignments(
            body, PathChecker(service.storages.names()), service.config.max_items
        )
        require_roles(service, user, [(where, a.resource.path, ADMIN) for where, a in found])
        return [a for _, a in found]

    assignments = await parse_off_loop(request, service, raw, prepare)
    if op == "set":
        service.permissions.set(assignments)
    else:
        service.permissions.remove(assignments)
    return ok_response({})


async def shutdown(request: Request, service: WorkerService, user: User) -> Response:
    if not service.config.allow_shutdown or not user.is_admin:
        raise WorkerError(403, "this worker does not accept /shutdown from this caller")
    service.shutdown_requested.set()
    return ok_response({"message": "shutting down"}, status=202)


def build_routes(service: WorkerService) -> list[BaseRoute]:
    """Every route, mounted under /api/v1."""

    def r(path: str, handler: Handler, methods: list[str], public: bool = False) -> Route:
        return Route(path, endpoint(service, handler, public=public), methods=methods)

    api = [
        r("/", status, ["GET"], public=True),
        r("/storage", storages, ["GET"]),
        *(tree_routes(r) if service.config.tree_operations else []),
        r("/storage:{op}", storage_operation, ["POST"]),
        r("/operations", operations, ["GET"]),
        r("/operations/{op_id}:cancel", cancel_operation, ["POST"]),
        r("/operations/{op_id}", operation, ["GET"]),
        r("/operations/{op_id}", delete_operation, ["DELETE"]),
        r("/metadata:get", metadata_get, ["POST"]),
        r("/metadata:set", metadata_set, ["POST"]),
        r("/permissions:check", permissions_check, ["POST"]),
        r("/permissions:get", permissions_get, ["POST"]),
        r("/permissions:{op}", permissions_change, ["POST"]),
        r("/shutdown", shutdown, ["POST"]),
    ]
    return [r(API, status, ["GET"], public=True), Mount(API, routes=api)]
