"""Permissions: role grants on resources (paths), inherited by everything below, held by users,
groups or anyone; persisted in SQLite and mirrored in memory for fast checks at submission.

A resource is a path on the default remote `any` (`dir/file`), or `remote:path` on another
remote (`local:/abs/path`, `scratch:dir`): see docs/api.md.
"""

from __future__ import annotations

import posixpath
from collections import defaultdict

from planner.api.wire import Resource, RoleAssignment, RoleQuery, RoleType, Subject, SubjectType
from planner.worker.auth import User
from planner.worker.db import StateDB

DEFAULT_REMOTE = "any"
Grant = tuple[str, str, str]  # (subject_type, subject_id, role)


def resource_key(remote: str, path: str) -> str:
    """The resource naming `path` on `remote` (normalised, no trailing '/')."""
    cleaned = posixpath.normpath(path) if path else ""
    if cleaned == ".":
        cleaned = ""
    if remote == DEFAULT_REMOTE:
        return cleaned.strip("/")
    return f"{remote}:{cleaned.rstrip('/') if cleaned != '/' else '/'}"


def split_resource(key: str, remotes: set[str] | None = None) -> tuple[str, str]:
    """(remote, path) of a resource key (a key without a known `remote:` prefix is on `any`)."""
    head, sep, rest = key.partition(":")
    if sep and (remotes is None or head in remotes) and "/" not in head:
        return head, rest
    return DEFAULT_REMOTE, key


def ancestors(key: str) -> list[str]:
    """The resource itself and every resource above it, outermost first."""
    head, sep, rest = key.partition(":")
    prefix, path = (head + sep, rest) if sep and "/" not in head else ("", key)
    absolute = path.startswith("/")
    parts = [p for p in path.split("/") if p]
    lead = "/" if absolute else ""
    out = [prefix + lead if absolute else prefix]
    for i in range(1, len(parts) + 1):
        out.append(prefix + lead + "/".join(parts[:i]))
    return out


def is_below(key: str, top: str) -> bool:
    """True when `key` is `top` or lies below it."""
    if key == top or top in ("", "/") or top.endswith(":") or top.endswith(":/"):
        return key == top or key.startswith(top)
    return key.startswith(top + "/")


class PermissionStore:
    """Grants, persisted; every check reads the in-memory mirror."""

    def __init__(self, db: StateDB) -> None:
        self.db = db
        self.grants: dict[str, set[Grant]] = defaultdict(set)
        for resource, stype, sid, role in db.execute(
            "SELECT resource, subject_type, subject_id, role FROM grants"
        ):
            self.grants[str(resource)].add((str(stype), str(sid), str(role)))

    # -- mutation -----------------------------------------------------------------------------
    def set(self, assignments: list[RoleAssignment]) -> None:
        rows = [_row(a) for a in assignments]
        self.db.executemany("INSERT OR IGNORE INTO grants VALUES (?, ?, ?, ?)", rows)
        for resource, stype, sid, role in rows:
            self.grants[resource].add((stype, sid, role))

    def remove(self, assignments: list[RoleAssignment]) -> None:
        rows = [_row(a) for a in assignments]
        self.db.executemany(
            "DELETE FROM grants WHERE resource=? AND subject_type=? AND subject_id=? AND role=?",
            rows,
        )
        for resource, stype, sid, role in rows:
            self.grants.get(resource, set()).discard((stype, sid, role))

    def forget(self, key: str) -> None:
        """Drop the grants of a removed path and of everything below it."""
        doomed = [r for r in self.grants if is_below(r, key)]
        for resource in doomed:
            del self.grants[resource]
            self.db.execute("DELETE FROM grants WHERE resource = ?", (resource,))

    def move(self, old: str, new: str) -> None:
        """Carry the grants of a moved path (and of everything below it) to its new place."""
        moving = [r for r in self.grants if is_below(r, old)]
        for resource in moving:
            target = new + resource[len(old) :]
            grants = self.grants.pop(resource)
            self.grants[target] |= grants
            self.db.execute("DELETE FROM grants WHERE resource = ?", (resource,))
            self.db.executemany(
                "INSERT OR IGNORE INTO grants VALUES (?, ?, ?, ?)",
                [(target, *g) for g in grants],
            )

    # -- queries ------------------------------------------------------------------------------
    def query(self, queries: list[RoleQuery]) -> list[RoleAssignment]:
        """Grants matching any query (null fields match anything), in a stable order."""
        out: list[RoleAssignment] = []
        seen: set[tuple[str, str, str, str]] = set()
        for resource in sorted(self.grants):
            for stype, sid, role in sorted(self.grants[resource]):
                row = (resource, stype, sid, role)
                if row not in seen and any(_matches(q, row) for q in queries):
                    seen.add(row)
                    out.append(_assignment(row))
        return out

    def holds(self, subject: Subject, key: str, role: RoleType) -> bool:
        """Whether `subject` itself (not through groups) holds at least `role` on `key`."""
        wanted = role.rank
        sid = subject.id or ""
        for resource in ancestors(key):
            for stype, gsid, grole in self.grants.get(resource, ()):
                same = stype == subject.type.value and (stype == "any" or gsid == sid)
                if same and RoleType(grole).rank >= wanted:
                    return True
        return False

    def allows(self, user: User, key: str, role: RoleType) -> bool:
        """Whether `user` holds at least `role` on `key`, directly, through a group, through
        `anyone`, or on an ancestor; admins always do."""
        if user.is_admin:
            return True
        wanted = role.rank
        for resource in ancestors(key):
            for stype, sid, grole in self.grants.get(resource, ()):
                if RoleType(grole).rank < wanted:
                    continue
                if (
                    stype == "any"
                    or (stype == "user" and sid == user.name)
                    or (stype == "group" and sid in user.groups)
                ):
                    return True
        return False


def _row(a: RoleAssignment) -> tuple[str, str, str, str]:
    sid = "" if a.subject.type is SubjectType.ANY else (a.subject.id or "")
    return (_row_key(a.resource.path), a.subject.type.value, sid, a.role.value)


def _matches(q: RoleQuery, row: tuple[str, str, str, str]) -> bool:
    resource, stype, sid, role = row
    if q.resource is not None and q.resource.path and _row_key(q.resource.path) != resource:
        return False
    if q.role is not None and q.role.value != role:
        return False
    if q.subject is not None:
        if q.subject.type.value != stype:
            return False
        if q.subject.id is not None and stype != "any" and q.subject.id != sid:
            return False
    return True


def _row_key(path: str) -> str:
    return resource_key(DEFAULT_REMOTE, path) if ":" not in path else path.rstrip("/") or path


def _assignment(row: tuple[str, str, str, str]) -> RoleAssignment:
    resource, stype, sid, role = row
    subject = Subject(id=sid or None, type=SubjectType(stype))
    return RoleAssignment(resource=Resource(path=resource), role=RoleType(role), subject=subject)
