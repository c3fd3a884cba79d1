"""What a parsed request body asks for, checked before anything is authorized or started: the
number of items against the per-request cap, the shape (fast readers, else the wire models,
which locate every problem), and every path normalised once (paths.py), so the permission
check and the handlers see the same canonical value."""

from __future__ import annotations

from typing import Any

from planner.api import wire
from planner.errors import WorkerError
from planner.worker.acl import resource_key
from planner.worker.paths import PathChecker
from planner.worker.problems import locate, validate_body
from planner.worker.requests import Pair, Place, read_pairs, read_places


def cap(body: Any, key: str, limit: int) -> None:
    """Refuse a body whose `key` holds more than `limit` items (before any model sees it).

    Raises:
        WorkerError: 413 naming the limit.
    """
    items = body.get(key) if type(body) is dict else None
    if isinstance(items, list | dict) and len(items) > limit:
        message = f"at most {limit:,} items per request (--max-items); got {len(items):,}"
        raise WorkerError(
            413,
            f"too many items: {message}",
            [{"location": locate([key]), "message": message, "value": None}],
        )


def _finish(checker: PathChecker) -> None:
    found = checker.problem()
    if found is not None:
        raise WorkerError(422, *found)


def _nonempty(items: list[Any] | dict[str, Any], key: str) -> None:
    if not items:
        raise WorkerError(
            422,
            f"{key} must not be empty",
            [{"location": locate([key]), "message": "must not be empty", "value": None}],
        )


def places(body: Any, checker: PathChecker, limit: int) -> list[Place]:
    """The StoragePaths of `{"operations": [...]}`, canonical.

    Raises:
        WorkerError: 413 too many; 422 a wrong shape, no items or an invalid path (located).
    """
    cap(body, "operations", limit)
    found = read_places(body)
    if found is None:  # not the plain shape: the models locate what is wrong
        parsed = validate_body(body, wire.OperationsRequest).operations
        found = [Place(p.remote, p.path) for p in parsed]
    _nonempty(found, "operations")
    out = [
        Place(p.remote, checker.path(f"body.operations[{i}].path", p.remote, p.path))
        for i, p in enumerate(found)
    ]
    _finish(checker)
    return out


def pairs(body: Any, checker: PathChecker, limit: int) -> list[Pair]:
    """The SrcDst pairs of `{"operations": [...]}`, canonical.

    Raises:
        WorkerError: 413 too many; 422 a wrong shape, no items or an invalid path (located).
    """
    cap(body, "operations", limit)
    found = read_pairs(body)
    if found is None:
        parsed = validate_body(body, wire.CopyRequest).operations
        found = [
            Pair(Place(p.src.remote, p.src.path), Place(p.dst.remote, p.dst.path)) for p in parsed
        ]
    _nonempty(found, "operations")
    out = []
    for i, (src, dst) in enumerate(found):
        where = f"body.operations[{i}]"
        out.append(
            Pair(
                Place(src.remote, checker.path(f"{where}.src.path", src.remote, src.path)),
                Place(dst.remote, checker.path(f"{where}.dst.path", dst.remote, dst.path)),
            )
        )
    _finish(checker)
    return out


def metadata_paths(body: Any, checker: PathChecker, limit: int) -> list[tuple[str, str, Place]]:
    """(location, label as asked, canonical place) of a metadata:get body: its `paths`
    (`remote:path` labels), else its deprecated `operations` (StoragePaths).

    Raises:
        WorkerError: 413 too many; 422 a wrong shape, no paths or an invalid path (located).
    """
    cap(body, "paths", limit)
    cap(body, "operations", limit)
    request = validate_body(body, wire.GetMetadataRequest)
    out = []
    if request.paths:
        for i, label in enumerate(request.paths):
            where = f"body.paths[{i}]"
            out.append((where, label, Place(*checker.resource(where, label))))
    else:
        for i, sp in enumerate(request.operations):
            where = f"body.operations[{i}].path"
            label = f"{sp.remote}:{sp.path}" if sp.remote != "any" else sp.path
            out.append((where, label, Place(sp.remote, checker.path(where, sp.remote, sp.path))))
    _nonempty(out, "paths")
    _finish(checker)
    return out


def metadata_assignments(
    body: Any, checker: PathChecker, limit: int
) -> list[tuple[str, Place, dict[str, Any]]]:
    """(location, canonical place, custom fields) of a metadata:set body.

    Raises:
        WorkerError: 413 too many; 422 a wrong shape, no paths or an invalid path (located).
    """
    cap(body, "metadata", limit)
    request = validate_body(body, wire.SetMetadataRequest)
    _nonempty(request.metadata, "metadata")
    out = []
    for label, assignment in request.metadata.items():
        where = locate(["metadata", label])
        out.append((where, Place(*checker.resource(where, label)), assignment.custom))
    _finish(checker)
    return out


def role_assignments(
    body: Any, checker: PathChecker, limit: int
) -> list[tuple[str, wire.RoleAssignment]]:
    """(location of the resource path, assignment with its canonical resource key) of a
    permissions:check, :set or :remove body.

    Raises:
        WorkerError: 413 too many; 422 a wrong shape or an invalid path (located).
    """
    cap(body, "permissions", limit)
    request = validate_body(body, wire.PermissionsRequest)
    out = []
    for i, a in enumerate(request.permissions):
        where = f"body.permissions[{i}].resource.path"
        canonical = resource_key(*checker.resource(where, a.resource.path))
        resource = a.resource.model_copy(update={"path": canonical})
        out.append((where, a.model_copy(update={"resource": resource})))
    _finish(checker)
    return out


def role_queries(body: Any, checker: PathChecker, limit: int) -> list[tuple[str, wire.RoleQuery]]:
    """(location of the resource path, query with its canonical resource key) of a
    permissions:get body; a query without a resource path stays without one (matches all).

    Raises:
        WorkerError: 413 too many; 422 a wrong shape or an invalid path (located).
    """
    cap(body, "permissions", limit)
    request = validate_body(body, wire.PermissionsQueryRequest)
    out = []
    for i, q in enumerate(request.permissions):
        where = f"body.permissions[{i}].resource.path"
        if q.resource is not None and q.resource.path:
            canonical = resource_key(*checker.resource(where, q.resource.path))
            q = q.model_copy(update={"resource": q.resource.model_copy(update={"path": canonical})})
        out.append((where, q))
    _finish(checker)
    return out
