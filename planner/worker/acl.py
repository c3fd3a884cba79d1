"""Permissions: role grants on resources (paths), inherited by everything below, held by users,
groups or anyone; persisted in SQLite and mirrored in memory for fast checks at submission.

A resource is a path on the default remote `any` (`dir/file`), or `remote:path` on another
remote (`local:/abs/path`, `scratch:dir`): see docs/api.md. Every key this store is given is
canonical (`resource_key` of a path normalised by paths.py, done once by the routes).
"""

from __future__ import annotations

import threading
from collections import defaultdict

from planner.api.wire import Resource, RoleAssignment, RoleQuery, RoleType, Subject, SubjectType
from planner.worker.auth import User
from planner.worker.db import StateDB
from planner.worker.paths import DEFAULT_REMOTE, is_root_key

Grant = tuple[str, str, str]  # (subject_type, subject_id, role)


def resource_key(remote: str, path: str) -> str:
    """The resource naming the canonical `path` (paths.normalise) on `remote`: the path itself
    on `any`, `remote:path` elsewhere. A path on `any` whose first segment holds a ":" is
    written `any:path`, so that it never reads as a path on another remote."""
    if remote == DEFAULT_REMOTE:
        first = path.partition("/")[0]
        return f"{DEFAULT_REMOTE}:{path}" if ":" in first else path
    return f"{remote}:{path}"


def ancestors(key: str) -> list[str]:
    """The resource itself and every resource above it, outermost first."""
    head, sep, rest = key.partition(":")
    prefix, path = (head + sep, rest) if sep and "/" not in head else ("", key)
    absolute = path.startswith("/")
    parts = [p for p in path.split("/") if p]
    lead = "/" if absolute else ""
    # the root of `any` is "" whichever way a path below it is written
    root = "" if prefix == f"{DEFAULT_REMOTE}:" else prefix + lead
    out = [root]
    for i in range(1, len(parts) + 1):
        out.append(prefix + lead + "/".join(parts[:i]))
    return out


def is_below(key: str, top: str) -> bool:
    """True when `key` is `top` or lies below it (`any:a:b` is beside `any:a:`, not below)."""
    if key == top:
        return True
    return key.startswith(top if is_root_key(top) else top + "/")


class PermissionStore:
    """Grants, persisted; every check reads the in-memory mirror. Thread-safe: requests are
    checked on parsing threads while items move and forget grants on the pool."""

    def __init__(self, db: StateDB) -> None:
        self.db = db
        self.lock = threading.RLock()
        self.grants: dict[str, set[Grant]] = defaultdict(set)
        self._holders: set[tuple[str, str]] | None = None  # (subject type, id) holding a grant
        for resource, stype, sid, role in db.execute(
            "SELECT resource, subject_type, subject_id, role FROM grants"
        ):
            self.grants[str(resource)].add((str(stype), str(sid), str(role)))

    # -- mutation -----------------------------------------------------------------------------
    def set(self, assignments: list[RoleAssignment]) -> None:
        """Add grants (their resource paths are canonical keys)."""
        rows = [_row(a) for a in assignments]
        with self.lock:
            self.db.executemany("INSERT OR IGNORE INTO grants VALUES (?, ?, ?, ?)", rows)
            for resource, stype, sid, role in rows:
                self.grants[resource].add((stype, sid, role))
            self._holders = None

    def remove(self, assignments: list[RoleAssignment]) -> None:
        """Drop grants (their resource paths are canonical keys); a missing one is no error."""
        rows = [_row(a) for a in assignments]
        with self.lock:
            self.db.executemany(
                "DELETE FROM grants WHERE resource=? AND subject_type=? AND subject_id=? "
                "AND role=?",
                rows,
            )
            for resource, stype, sid, role in rows:
                self.grants.get(resource, set()).discard((stype, sid, role))
            self._holders = None

    def forget(self, key: str) -> None:
        """Drop the grants of a removed path and of everything below it."""
        with self.lock:
            doomed = [r for r in self.grants if is_below(r, key)]
            for resource in doomed:
                del self.grants[resource]
                self.db.execute("DELETE FROM grants WHERE resource = ?", (resource,))
            if doomed:
                self._holders = None

    def move(self, old: str, new: str) -> None:
        """Carry the grants of a moved path (and of everything below it) to its new place (the
        same subjects hold them: `has_any_grant` is unchanged)."""
        with self.lock:
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
        with self.lock:
            rows = [
                (resource, *grant)
                for resource in sorted(self.grants)
                for grant in sorted(self.grants[resource])
            ]
        return [_assignment(row) for row in rows if any(_matches(q, row) for q in queries)]

    def has_any_grant(self, user: User) -> bool:
        """Whether `user` holds any role anywhere (directly, through a group or `anyone`): a
        caller who does not can be refused before its request body is read (issue 9, item 8)."""
        if user.is_admin:
            return True
        with self.lock:
            if self._holders is None:
                self._holders = {(t, s) for grants in self.grants.values() for t, s, _ in grants}
            holders = self._holders
        return (
            ("any", "") in holders
            or ("user", user.name) in holders
            or any(("group", g) in holders for g in user.groups)
        )

    def holds(self, subject: Subject, key: str, role: RoleType) -> bool:
        """Whether `subject` itself (not through groups) holds at least `role` on `key`."""
        wanted = role.rank
        sid = subject.id or ""
        with self.lock:
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
        with self.lock:
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
    return (a.resource.path, a.subject.type.value, sid, a.role.value)


def _matches(q: RoleQuery, row: tuple[str, str, str, str]) -> bool:
    resource, stype, sid, role = row
    if q.resource is not None and q.resource.path and q.resource.path != resource:
        return False
    if q.role is not None and q.role.value != role:
        return False
    if q.subject is not None:
        if q.subject.type.value != stype:
            return False
        if q.subject.id is not None and stype != "any" and q.subject.id != sid:
            return False
    return True


def _assignment(row: tuple[str, str, str, str]) -> RoleAssignment:
    resource, stype, sid, role = row
    subject = Subject(id=sid or None, type=SubjectType(stype))
    return RoleAssignment(resource=Resource(path=resource), role=RoleType(role), subject=subject)
