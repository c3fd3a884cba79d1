"""Variables and for_each: `${name}`, `${env:NAME}`, `${env:NAME:-default}`, `$${` escapes, and
the expansion of action entries over lists. Errors point at the exact reference."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from planner.errors import Diagnostic, Pointer, quote
from planner.plan.source import SourceDoc

SECTIONS = ("directories", "copies", "moves", "removals", "permissions", "metadata", "checks")
ITEM = "item"

_TOKEN = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_ENV = re.compile(r"env:([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?\Z", re.DOTALL)


@dataclass
class Expanded:
    """The document after interpolation and for_each expansion, plus where each entry came from."""

    data: dict[str, Any]
    # (section, index after expansion) -> (index in the file, position in its for_each or None)
    origin: dict[tuple[str, int], tuple[int, int | None]] = field(default_factory=dict)
    # (section, index after expansion) -> the for_each element of that entry
    items: dict[tuple[str, int], Any] = field(default_factory=dict)
    # entries (section, index after expansion) holding a reference that could not be resolved
    unresolved: set[tuple[str, int]] = field(default_factory=set)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    def source_pointer(self, pointer: Pointer) -> Pointer:
        """Translate a pointer into the expanded document to one into the file."""
        if len(pointer) >= 2 and pointer[0] in SECTIONS and isinstance(pointer[1], int):
            section = str(pointer[0])
            found = self.origin.get((section, pointer[1]))
            if found is not None:
                return (section, found[0], *pointer[2:])
        return pointer


class _Unresolved(Exception):
    """A reference that cannot be resolved; carries the message and the reference text."""

    def __init__(self, message: str, reference: str) -> None:
        super().__init__(message)
        self.message = message
        self.reference = reference


def parse_var_override(text: str) -> tuple[str, Any]:
    """`NAME=VALUE` from `--var`; a VALUE starting with '[' is a YAML flow list of scalars.

    Raises:
        ValueError: with a message fit for the user.
    """
    name, sep, value = text.partition("=")
    if not sep or not _NAME.match(name):
        raise ValueError(
            f"--var {text!r}: expected NAME=VALUE with NAME made of letters, digits, '_'"
        )
    if value.startswith("["):
        import yaml

        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise ValueError(f"--var {name}: invalid list {value!r}") from exc
        if not isinstance(parsed, list) or any(isinstance(v, list | dict) for v in parsed):
            raise ValueError(f"--var {name}: expected a list of scalars like [a, b]")
        return name, parsed
    return name, value


class Interpolator:
    """Resolves references against vars (with overrides), the environment and a for_each item."""

    def __init__(
        self, doc: SourceDoc, overrides: Mapping[str, Any], env: Mapping[str, str]
    ) -> None:
        self.doc = doc
        self.env = env
        raw_vars = doc.data.get("vars")
        self.raw_vars: dict[str, Any] = dict(raw_vars) if isinstance(raw_vars, dict) else {}
        self.resolving: list[str] = []
        self.diagnostics: list[Diagnostic] = []
        self.failures = 0  # references that could not be resolved so far
        self.overrides = {k: self._typed_override(k, v) for k, v in overrides.items()}
        self.resolved: dict[str, Any] = dict(self.overrides)

    def _typed_override(self, name: str, value: Any) -> Any:
        """A `--var` value as the type the plan declares for that variable (Terraform-like)."""
        where = ("vars", name) if name in self.raw_vars else ("vars",)
        if name not in self.raw_vars:
            declared = ", ".join(sorted(self.raw_vars)) or "none"
            message = f"--var {name}: the plan declares no variable '{name}' (declared: {declared})"
            self.diagnostics.append(
                Diagnostic(self.doc.locate(where, key=True), message, "variable", ("vars",))
            )
            return value
        declared_value = self.raw_vars[name]
        if not isinstance(value, str) or isinstance(declared_value, str):
            return value
        converted = _convert(value, declared_value)
        if converted is None:
            kind = {bool: "a boolean (true or false)", int: "an integer", float: "a number"}.get(
                type(declared_value), "value"
            )
            message = f"--var {name}={value}: expected {kind}, like the declared value"
            self.diagnostics.append(
                Diagnostic(self.doc.locate(where), message, "variable", ("vars", name))
            )
            return declared_value
        return converted

    # -- variables ---------------------------------------------------------------------------
    def variable(self, name: str, reference: str) -> Any:
        if name in self.resolved:
            return self.resolved[name]
        if name not in self.raw_vars:
            known = sorted(set(self.raw_vars) | set(self.overrides))
            import difflib

            hint = difflib.get_close_matches(name, known, n=1)
            extra = f" (did you mean '{hint[0]}'?)" if hint else ""
            if name == ITEM:
                extra = " (${item} is only defined inside a for_each entry)"
            raise _Unresolved(f"unknown variable '{name}'{extra}", reference)
        if name in self.resolving:
            chain = " -> ".join([*self.resolving[self.resolving.index(name) :], name])
            raise _Unresolved(f"variable refers to itself: {chain}", reference)
        self.resolving.append(name)
        try:
            value = self.value(self.raw_vars[name], ("vars", name), None)
        finally:
            self.resolving.pop()
        self.resolved[name] = value
        return value

    # -- values --------------------------------------------------------------------------------
    def value(self, value: Any, pointer: Pointer, item: Any) -> Any:
        """Interpolate every string inside `value`; errors are recorded, the reference kept."""
        if isinstance(value, str):
            return self.string(value, pointer, item)
        if isinstance(value, list):
            return [self.value(v, (*pointer, i), item) for i, v in enumerate(value)]
        if isinstance(value, dict):
            return {k: self.value(v, (*pointer, k), item) for k, v in value.items()}
        return value

    def string(self, text: str, pointer: Pointer, item: Any) -> Any:
        if "$" not in text:
            return text
        try:
            return self._string(text, item)
        except _Unresolved as problem:
            location = self.doc.locate_text(pointer, problem.reference)
            self.diagnostics.append(Diagnostic(location, problem.message, "variable", pointer))
            self.failures += 1
            return text

    def _string(self, text: str, item: Any) -> Any:
        parts: list[str] = []
        position = 0
        for match in _TOKEN.finditer(text):
            parts.append(text[position : match.start()])
            position = match.end()
            token = match.group(0)
            if token == "$${":
                parts.append("${")
                continue
            if match.group(1) is None:
                raise _Unresolved("unterminated '${' (write '$${' for a literal '${')", token)
            resolved = self._reference(match.group(1), token, item)
            if match.start() == 0 and match.end() == len(text):
                return resolved  # a whole-value reference keeps its type (list, number, bool)
            if isinstance(resolved, list | dict):
                kind = "list" if isinstance(resolved, list) else "mapping"
                raise _Unresolved(
                    f"{kind} variable '{match.group(1)}' cannot be part of a string", token
                )
            parts.append(_text(resolved))
        parts.append(text[position:])
        return "".join(parts)

    def _reference(self, body: str, token: str, item: Any) -> Any:
        env = _ENV.match(body)
        if env:
            name, default = env.group(1), env.group(2)
            if name in self.env:
                return self.env[name]
            if default is not None:
                return default
            raise _Unresolved(
                f"environment variable '{name}' is not set (give a default: "
                f"${{env:{name}:-value}})",
                token,
            )
        if body == ITEM and item is not _NO_ITEM:
            return item
        if not _NAME.match(body):
            raise _Unresolved(
                f"invalid reference '{token}': expected ${{name}} or ${{env:NAME}}", token
            )
        return self.variable(body, token)


_NO_ITEM: Any = object()


def _ids_as_text(entry: dict[str, Any]) -> dict[str, Any]:
    def text(value: Any) -> Any:
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        return str(value) if is_number else value

    out: dict[str, Any] = {}
    if "id" in entry:
        out["id"] = text(entry["id"])
    if isinstance(entry.get("needs"), list):
        out["needs"] = [text(n) for n in entry["needs"]]
    return out


def _convert(text: str, like: Any) -> Any:
    """`text` parsed as the type of `like` (bool, int, float, list), or None."""
    if isinstance(like, bool):
        lowered = text.lower()
        return {"true": True, "false": False}.get(lowered)
    if isinstance(like, int):
        try:
            return int(text)
        except ValueError:
            return None
    if isinstance(like, float):
        try:
            return float(text)
        except ValueError:
            return None
    if isinstance(like, list):
        return [item.strip() for item in text.split(",")] if text else []
    return text


def _describe(value: Any) -> str:
    kind = {
        str: "the string",
        bool: "the boolean",
        int: "the number",
        float: "the number",
        dict: "a mapping",
        list: "the list",
    }.get(type(value), type(value).__name__)
    return f"{kind} {quote(value)}" if not isinstance(value, dict | list) else kind


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def expand_document(
    doc: SourceDoc, overrides: Mapping[str, Any], env: Mapping[str, str]
) -> Expanded:
    """Resolve every reference and expand for_each entries of every section."""
    interp = Interpolator(doc, overrides, env)
    for name in interp.raw_vars:
        if isinstance(name, str) and _NAME.match(name):
            try:
                interp.variable(name, "${" + name + "}")
            except _Unresolved as problem:  # a cycle through vars: report at the var
                location = doc.locate(("vars", name))
                interp.diagnostics.append(
                    Diagnostic(location, problem.message, "variable", ("vars", name))
                )
    out: dict[str, Any] = {}
    expanded = Expanded(out)
    for key, value in doc.data.items():
        if key == "vars":
            out[key] = (
                {k: interp.resolved.get(k, v) for k, v in value.items()}
                if isinstance(value, dict)
                else value
            )
        elif key in SECTIONS and isinstance(value, list):
            out[key] = _expand_section(interp, key, value, expanded)
        else:
            out[key] = interp.value(value, (key,), _NO_ITEM)
    expanded.diagnostics = interp.diagnostics
    return expanded


def _expand_section(
    interp: Interpolator, section: str, entries: list[Any], expanded: Expanded
) -> list[Any]:
    result: list[Any] = []

    def add(entry: Any, pointer: Pointer, item: Any, origin: tuple[int, int | None]) -> None:
        failures = interp.failures
        key = (section, len(result))
        expanded.origin[key] = origin
        if item is not _NO_ITEM:
            expanded.items[key] = item
        resolved = interp.value(entry, pointer, item)
        if isinstance(resolved, dict):  # ids are text even when ${item} is a number
            resolved.update(_ids_as_text(resolved))
        result.append(resolved)
        if interp.failures > failures:
            expanded.unresolved.add(key)

    for index, entry in enumerate(entries):
        pointer: Pointer = (section, index)
        if not (isinstance(entry, dict) and "for_each" in entry):
            add(entry, pointer, _NO_ITEM, (index, None))
            continue
        where: Pointer = (*pointer, "for_each")
        items = interp.value(entry["for_each"], where, _NO_ITEM)
        if not isinstance(items, list):
            if not (isinstance(items, str) and "${" in items):  # unresolved: already reported
                message = f"for_each needs a list, got {_describe(items)}"
                interp.diagnostics.append(
                    Diagnostic(interp.doc.locate(where), message, "variable", where)
                )
            continue
        body = {k: v for k, v in entry.items() if k != "for_each"}
        for position, item in enumerate(items):
            if isinstance(item, list | dict):
                at: Pointer = (*where, position)
                message = "for_each elements must be scalars"
                interp.diagnostics.append(
                    Diagnostic(interp.doc.locate(at), message, "variable", at)
                )
                continue
            add(body, pointer, item, (index, position))
    return result
