"""Semantic checks and model building on a schema-valid, resolved document: storages, paths,
ids and needs. Every problem is collected; entries with schema errors are left out."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from planner.durations import DURATION_HINT, parse_duration
from planner.errors import Diagnostic, DiagnosticSink, Location, Pointer, quote
from planner.plan.interpolate import SECTIONS, Expanded
from planner.plan.model import KIND_OF_SECTION, Action, Plan, RetryPolicy, Storage
from planner.plan.overlap import into_itself, mirror_holds_source
from planner.plan.paths import (
    LOCAL_REMOTE,
    PlanPath,
    explain_path_syntax,
    has_glob,
    resolve_path,
    split_path,
    storage_root,
)
from planner.tree.filters import Filters

_ID = re.compile(r"[a-z0-9][a-z0-9_.-]*\Z")
_NAME = re.compile(r"[A-Za-z0-9_.-]+\Z")
_PATH_FIELDS = ("path", "src", "dst", "exists", "absent")
_ACTION_ADAPTER: TypeAdapter[Action] = TypeAdapter(Action)

Locate = Callable[[Pointer, bool], Location]


_MIRROR_KEYS = ("mirror", "delete_excluded", "max_delete")


class PlanBuilder:
    """Builds a Plan from an expanded document, collecting every semantic problem."""

    def __init__(
        self, expanded: Expanded, locate: Locate, plan_dir: Path, invalid: set[Pointer]
    ) -> None:
        self.data = expanded.data
        self.expanded = expanded
        self.locate = locate
        self.plan_dir = plan_dir
        self.invalid = invalid
        self.sink = DiagnosticSink()
        self.storages: dict[str, Storage] = {}
        self._retry_cache: dict[tuple[tuple[str, str], ...], RetryPolicy] = {}

    def _error(self, pointer: Pointer, message: str, code: str, key: bool = False) -> None:
        self.sink.add(self.locate(pointer, key), message, code, pointer)

    def build(self, file: str, digest: str) -> tuple[Plan | None, list[Diagnostic]]:
        self._storages()
        defaults = self.data.get("defaults")
        if not isinstance(defaults, dict) or ("defaults",) in self.invalid:
            defaults = {}  # its problems are reported; build the actions without it
        entries: list[tuple[Location, str, int, Any]] = []
        for section in SECTIONS:
            listed = self.data.get(section)
            for index, entry in enumerate(listed if isinstance(listed, list) else []):
                if (section, index) not in self.invalid | self.expanded.unresolved:
                    entries.append((self.locate((section, index), False), section, index, entry))
        # file order: by position, for_each expansions in element order
        entries.sort(key=lambda e: (e[0].line, e[0].col, e[2]))
        built: list[tuple[Action, Pointer]] = []
        for order, (location, section, index, entry) in enumerate(entries):
            action = self._action(section, index, entry, defaults, location, order)
            if action is not None:
                built.append((action, (section, index)))
        self._check_ids_and_needs(built)
        name = self.data.get("name")
        if isinstance(name, str) and not _NAME.match(name):
            message = f"invalid name {quote(name)}: use letters, digits, '_', '.' and '-'"
            self._error(("name",), message, "schema")
        if self.sink:
            return None, self.sink.diagnostics
        actions = [action for action, _ in built]
        plan = Plan(
            file=file,
            name=str(self.data.get("name") or Path(file).stem),
            description=str(self.data.get("description") or ""),
            digest=digest,
            storages=self.storages,
            actions=tuple(actions),
        )
        return plan, []

    # -- storages ------------------------------------------------------------------------------
    def _storages(self) -> None:
        storages = self.data.get("storages")
        for name, spec in (storages if isinstance(storages, dict) else {}).items():
            if ("storages", name) in self.invalid or not isinstance(spec, dict):
                continue
            remote, root = str(spec["remote"]), str(spec.get("root") or "")
            pointer: Pointer = ("storages", name, "root")
            if remote != LOCAL_REMOTE:
                if root.startswith("/"):
                    self._error(
                        pointer,
                        f"the root of a storage on remote '{remote}' must be "
                        "relative (only remote 'local' takes absolute paths)",
                        "storage",
                    )
                    continue
                if ".." in root.split("/") or "\\" in root or "\x00" in root:
                    self._error(
                        pointer, "root must not contain '..', backslashes or NUL", "storage"
                    )
                    continue
            self.storages[name] = Storage(
                name=name,
                remote=remote,
                root=storage_root(remote, root, self.plan_dir),
                written_root=root,
            )

    # -- one action ----------------------------------------------------------------------------
    def _action(
        self,
        section: str,
        index: int,
        entry: Any,
        defaults: dict[str, Any],
        location: Location,
        order: int,
    ) -> Action | None:
        pointer: Pointer = (section, index)
        body: dict[str, Any] = {"path": entry} if isinstance(entry, str) else dict(entry)
        before = len(self.sink.diagnostics)
        origin, position = self.expanded.origin.get((section, index), (index, None))
        action_id = body.get("id")
        if action_id is None:
            action_id = f"{section}.{origin}" + (f".{position}" if position is not None else "")
        elif not _ID.match(str(action_id)):
            self._error(
                (*pointer, "id"),
                f"invalid id {quote(action_id)}: use lowercase letters, digits, "
                "'_', '.' and '-', starting with a letter or digit",
                "schema",
            )
        fields: dict[str, Any] = {
            "id": str(action_id),
            "needs": tuple(str(n) for n in body.get("needs") or ()),
            "needs_at": tuple(
                self.locate((*pointer, "needs", n), False)
                for n in range(len(body.get("needs") or ()))
            ),
            "description": str(body.get("description") or ""),
            "priority": _integer(body.get("priority", defaults.get("priority")), 100),
            "location": location,
            "order": order,
        }
        if position is not None:
            fields["item"] = self.expanded.items[(section, index)]
        fields["retry"] = self._retry(pointer, defaults.get("retry") or {}, body.get("retry") or {})
        timeout = body.get("timeout", defaults.get("timeout"))
        if timeout is not None:
            fields["timeout"] = self._duration(
                (*pointer, "timeout") if "timeout" in body else ("defaults", "timeout"), timeout
            )
        kind = KIND_OF_SECTION[section]
        fields["kind"] = kind
        for name in (f for f in _PATH_FIELDS if f in body):
            target = "path" if name in ("exists", "absent") else name
            where = pointer if isinstance(entry, str) else (*pointer, name)
            fields[target] = self._path(where, str(body[name]), kind)
        if any(fields.get(f, "") is None for f in ("path", "src", "dst")):
            return None  # reported, here or at its storage
        if kind == "check":
            fields["expect"] = "exists" if "exists" in body else "absent"
        if kind in ("copy", "move"):
            fields["overwrite"] = body.get("overwrite", defaults.get("overwrite", "if-different"))
        if kind in ("copy", "move") and not isinstance(entry, str):
            problem = into_itself(kind, fields["src"], fields["dst"], body.get("exclude") or ())
            if problem:
                self._error((*pointer, "dst"), problem, "path")
        if kind == "copy":
            self._check_patterns(pointer, body)
            fields.update(
                {
                    k: tuple(body[k]) if isinstance(body[k], list) else body[k]
                    for k in (
                        "include",
                        "exclude",
                        "checksum",
                        "symlinks",
                        "empty_dirs",
                        *_MIRROR_KEYS,
                    )
                    if k in body
                }
            )
            self._check_mirror(pointer, body)
            if body.get("mirror") is True and not isinstance(entry, str):
                problem = mirror_holds_source(fields["src"], fields["dst"])
                if problem:
                    self._error((*pointer, "mirror"), problem, "path")
        if kind == "permission":
            fields["grant"] = [_grant(g) for g in body.get("grant") or ()]
            fields["revoke"] = [_grant(g) for g in body.get("revoke") or ()]
        if kind == "metadata":
            fields["set"] = dict(body.get("set") or {})
            fields["unset"] = tuple(body.get("unset") or ())
        if len(self.sink.diagnostics) > before:
            return None
        try:
            return _ACTION_ADAPTER.validate_python(fields)
        except ValidationError as exc:
            for err in exc.errors():
                loc = tuple(p for p in err["loc"] if isinstance(p, str | int))
                self._error((*pointer, *loc[1:]), err["msg"], "schema")
            return None

    def _check_mirror(self, pointer: Pointer, body: dict[str, Any]) -> None:
        """delete_excluded and max_delete only mean something on a mirror copy."""
        if body.get("mirror") is True:
            return
        for key in ("delete_excluded", "max_delete"):
            if key in body and body[key] not in (False, None):
                self._error((*pointer, key), f"{key} needs mirror: true on this copy", "schema")

    def _check_patterns(self, pointer: Pointer, body: dict[str, Any]) -> None:
        """include/exclude must compile as gitignore patterns (found now, not mid-run)."""
        for key in ("include", "exclude"):
            for n, pattern in enumerate(body.get(key) or []):
                try:
                    Filters([pattern], []) if key == "include" else Filters([], [pattern])
                except (ValueError, TypeError) as exc:
                    message = str(exc).split(": ", 1)[-1]
                    self._error((*pointer, key, n), f"{key} {message}", "schema")

    def _retry(self, pointer: Pointer, base: dict[str, Any], own: dict[str, Any]) -> RetryPolicy:
        merged = {**base, **own}
        cache_key = tuple(sorted((k, str(v)) for k, v in merged.items()))
        cached = self._retry_cache.get(cache_key)
        if cached is not None:
            return cached
        values: dict[str, Any] = {}
        for key, value in merged.items():
            at: Pointer = (*pointer, "retry", key) if key in own else ("defaults", "retry", key)
            values[key] = self._duration(at, value) if key in ("delay", "max_delay") else value
        try:
            policy = self._retry_cache[cache_key] = RetryPolicy(**values)
        except ValidationError as exc:
            for err in exc.errors():
                self._error((*pointer, "retry", *err["loc"]), err["msg"], "schema")
            return RetryPolicy()
        return policy

    def _duration(self, pointer: Pointer, value: Any) -> float:
        try:
            return parse_duration(value)
        except ValueError:
            self._error(pointer, f"invalid duration {quote(value)}: {DURATION_HINT}", "schema")
            return 0.0

    def _path(self, pointer: Pointer, text: str, kind: str) -> PlanPath | None:
        problem = explain_path_syntax(text)
        if problem:
            self._error(pointer, f"invalid path {quote(text)}: {problem}", "path")
            return None
        storage_name, rest = split_path(text)
        storage = self.storages.get(storage_name)
        if storage is None:
            storages = self.data.get("storages")
            declared = sorted(storages) if isinstance(storages, dict) else []
            if storage_name in declared:
                return None  # declared but invalid: already reported
            hint = difflib.get_close_matches(storage_name, declared, n=1)
            if hint:
                extra = f" (did you mean '{hint[0]}'?)"
            else:
                extra = f"; declared: {', '.join(declared) or 'none'}"
            self._error(pointer, f"unknown storage '{storage_name}'{extra}", "storage")
            return None
        segments = [s for s in rest.split("/") if s]
        globbed = [s for s in segments if has_glob(s)]
        if globbed and (kind != "removal" or any(has_glob(s) for s in segments[:-1])):
            where = "in the last segment of a removal" if kind == "removal" else "in removals"
            advice = " (to pick files, copy a directory with include)" if kind == "copy" else ""
            self._error(pointer, f"glob characters are only allowed {where}{advice}", "path")
            return None
        return resolve_path(text, storage.remote, storage.root)

    # -- across actions ------------------------------------------------------------------------
    def _check_ids_and_needs(self, actions: list[tuple[Action, Pointer]]) -> None:
        seen: dict[str, Action] = {}
        first_pointer: dict[str, Pointer] = {}
        for action, pointer in actions:
            first = seen.get(action.id)
            if first is not None:
                first_at = self.locate((*first_pointer[action.id], "id"), False)
                where: Pointer = (*pointer, "id")
                if first.location == action.location:
                    item = self.expanded.items.get((str(pointer[0]), int(pointer[1])))
                    first_item = self.expanded.items.get(
                        (str(first_pointer[action.id][0]), int(first_pointer[action.id][1]))
                    )
                    message = (
                        f"for_each repeats the element {quote(item)} (id '{action.id}')"
                        if item == first_item
                        else f"for_each gives every element the same id '{action.id}'; "
                        "put ${item} in the id"
                    )
                else:
                    message = f"duplicate id '{action.id}' (first used on line {first_at.line})"
                self._error(where, message, "duplicate-id")
            else:
                seen[action.id] = action
                first_pointer[action.id] = pointer
        known = set(seen) | self._ids_of_invalid_entries()
        for action, pointer in actions:
            for n, need in enumerate(action.needs):
                at: Pointer = (*pointer, "needs", n)
                if need == action.id:
                    self._error(at, f"action '{action.id}' needs itself", "cycle")
                elif need not in known:
                    hint = difflib.get_close_matches(need, sorted(known), n=1)
                    extra = f" (did you mean '{hint[0]}'?)" if hint else ""
                    self._error(at, f"unknown action '{need}'{extra}", "needs")

    def _ids_of_invalid_entries(self) -> set[str]:
        ids = set()
        for part in self.invalid:
            section, index = part[0], part[-1]
            entries = self.data.get(str(section)) or []
            if (
                section in SECTIONS
                and isinstance(index, int)
                and isinstance(entries, list)
                and index < len(entries)
                and isinstance(entries[index], dict)
            ):
                ids.add(str(entries[index].get("id")))
        return ids


def _integer(value: Any, default: int) -> int:
    """An integer field; a value that is not one was reported already (an unresolved ${...})."""
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _grant(spec: dict[str, Any]) -> dict[str, Any]:
    """A grant entry as Grant fields (validated with the action)."""
    if spec.get("anyone"):
        return {"subject_type": "any", "subject": None, "role": spec["role"]}
    kind = "user" if "user" in spec else "group"
    return {"subject_type": kind, "subject": str(spec[kind]), "role": spec["role"]}
