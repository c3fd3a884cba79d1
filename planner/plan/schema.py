"""The published JSON Schema (`schemas/plan.schema.json`): finding it, and turning its
validation errors into located, human-worded Diagnostics."""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from planner.durations import DURATION_HINT
from planner.errors import Diagnostic, Location, Pointer, quote

if TYPE_CHECKING:  # imported when a document is validated, and jsonschema only when the quick
    # check does not find it valid (plan/schema_fast.py, plan/valid_cache.py)
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

    from planner.plan.schema_fast import Check

SCHEMA_NAME = "plan.schema.json"

# Maps a pointer in the validated document to (location of the value, location of its key).
Locator = Callable[[Pointer, bool], Location]


def schema_path() -> Path:
    """The schema file: inside the installed wheel, or `schemas/` of a source checkout."""
    shipped = resources.files("planner") / "_schemas" / SCHEMA_NAME
    if shipped.is_file():
        return Path(str(shipped))
    return Path(__file__).resolve().parents[2] / "schemas" / SCHEMA_NAME


def schema_bytes() -> bytes:
    """The schema exactly as shipped."""
    return schema_path().read_bytes()


@cache
def _inlined() -> dict[str, Any]:
    """The schema with its (non-recursive) local $refs inlined: resolving them per instance
    through `referencing` dominated validation time on large plans."""
    schema = json.loads(schema_bytes())
    inlined: dict[str, Any] = _inline_refs(schema, schema.get("$defs", {}))
    return inlined


@cache
def _validator() -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(_inlined())


@cache
def _quick_check() -> Check | None:
    """The schema compiled by schema_fast.py (None: it uses what that module does not know)."""
    from planner.plan.schema_fast import UnsupportedSchemaError, compile_schema

    try:
        return compile_schema(_inlined())
    except UnsupportedSchemaError:
        return None


def _inline_refs(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_inline_refs(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: _inline_refs(v, defs) for k, v in node.items() if k != "$defs"}
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        target = _inline_refs(defs[ref.removeprefix("#/$defs/")], defs)
        del out["$ref"]
        out = {**target, **out}
    return out


def validate_document(data: Any, locate: Locator) -> list[Diagnostic]:
    """Validate a (resolved) plan document; one Diagnostic per problem. A document the quick
    check finds valid is valid (schema_fast.py); any other is validated by jsonschema."""
    from planner.plan.schema_fast import is_valid

    check = _quick_check()
    if check is not None and is_valid(check, data):
        return []
    return full_validation(data, locate)


def full_validation(data: Any, locate: Locator) -> list[Diagnostic]:
    """`validate_document` through jsonschema alone."""
    out: list[Diagnostic] = []
    for error in _validator().iter_errors(data):
        out.extend(_explain(error, locate))
    return out


_TYPE_NAMES = {
    dict: "a mapping",
    list: "a list",
    str: "a string",
    bool: "a boolean",
    int: "a number",
    float: "a number",
    type(None): "null",
}
_SCHEMA_TYPES = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "boolean": "a boolean",
    "number": "a number",
    "integer": "an integer",
    "null": "null",
}


def _kind(value: Any) -> str:
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def _matches_type(value: Any, expected: str | list[str]) -> bool:
    names = [expected] if isinstance(expected, str) else expected
    checks = {
        "object": isinstance(value, dict),
        "array": isinstance(value, list),
        "string": isinstance(value, str),
        "null": value is None,
        "boolean": isinstance(value, bool),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "integer": isinstance(value, int) and not isinstance(value, bool),
    }
    return any(checks.get(n, False) for n in names)


def _schema_of(error: object) -> dict[str, Any]:
    schema = getattr(error, "schema", None)
    return schema if isinstance(schema, dict) else {}


def _expected(error: ValidationError) -> Any:
    """The keyword's value in the schema (e.g. the list of `required` keys)."""
    return cast(Any, error.validator_value)


def _explain(error: ValidationError, locate: Locator) -> list[Diagnostic]:
    pointer: Pointer = tuple(error.absolute_path)
    value = error.instance
    keyword = error.validator

    def diag(
        message: str, at: Pointer | None = None, key: bool = False, code: str = "schema"
    ) -> Diagnostic:
        target = pointer if at is None else at
        return Diagnostic(locate(target, key), message, code, target)

    if keyword in ("anyOf", "oneOf"):
        return _explain_alternatives(error, locate, diag)
    if keyword == "additionalProperties" and isinstance(value, dict):
        allowed = sorted(_schema_of(error).get("properties", {}))
        out = []
        for key in value:
            if key in allowed:
                continue
            hint = difflib.get_close_matches(str(key), allowed, n=1)
            suffix = f" (did you mean '{hint[0]}'?)" if hint else f"; allowed: {', '.join(allowed)}"
            out.append(diag(f"unknown key '{key}'{suffix}", (*pointer, key), key=True))
        return out
    if keyword == "required":
        missing = [k for k in _expected(error) if isinstance(value, dict) and k not in value]
        return [diag(f"missing required key '{k}'") for k in missing]
    if keyword == "type":
        expected = _expected(error)
        names = [expected] if isinstance(expected, str) else list(expected)
        wanted = " or ".join(_SCHEMA_TYPES.get(n, n) for n in names)
        return [diag(f"expected {wanted}, got {_kind(value)}")]
    if keyword == "enum":
        options = ", ".join(str(o) for o in _expected(error))
        return [diag(f"invalid value {quote(value)}: expected one of {options}")]
    if keyword == "const":
        expected = _expected(error)
        kind = f" ({_kind(value)})" if _kind(value) != _kind(expected) else ""
        return [diag(f"invalid value {quote(value)}{kind}: must be {json.dumps(expected)}")]
    if keyword == "pattern" and "propertyNames" in error.schema_path and isinstance(value, str):
        return [diag(_pattern_message(error, value), (*pointer, value), key=True)]
    if keyword == "pattern":
        message = _pattern_message(error, value)
        return [diag(message, code="path" if message.startswith("invalid path") else "schema")]
    if keyword == "minProperties" and pointer == ("storages",):
        return [diag("declare at least one storage")]
    if keyword == "minimum":
        return [diag(f"must be at least {_expected(error)}, got {quote(value)}")]
    if keyword == "minLength":
        return [diag("must not be empty")]
    return [diag(error.message)]


_PATTERN_HINTS = {
    "Path": "expected storage:relative/path without '..' or empty segments, backslashes or NUL",
    "Action id": "use lowercase letters, digits, '_', '.' and '-', starting with a letter or digit",
    "Duration": DURATION_HINT,
    "Reference": "expected a ${...} reference",
    "Plan name": "use letters, digits, '_', '.' and '-'",
    "Variable name": "use letters, digits and '_', not starting with a digit",
    "Storage name": "use letters, digits, '_' and '-', starting with a letter",
    "Remote": "use letters, digits, '_' and '-', starting with a letter",
}
_LABELS = {
    "Action id": "id",
    "Duration": "duration",
    "Plan name": "name",
    "Variable name": "variable name",
    "Storage name": "storage name",
    "Remote": "remote",
}


def _pattern_message(error: ValidationError, value: Any) -> str:
    title = _schema_of(error).get("title", "")
    parent = error.parent
    while not title and parent is not None:
        title = _schema_of(parent).get("title", "")
        parent = parent.parent
    if title == "Path" and isinstance(value, str):
        from planner.plan.paths import explain_path_syntax

        return f"invalid path {quote(value)}: {explain_path_syntax(value)}"
    label = _LABELS.get(title, "value")
    hint = _PATTERN_HINTS.get(title, f"must match {_expected(error)}")
    return f"invalid {label} {quote(value)}: {hint}"


def _explain_alternatives(
    error: ValidationError, locate: Locator, diag: Callable[..., Diagnostic]
) -> list[Diagnostic]:
    """anyOf/oneOf: report the errors of the alternative the user most plausibly meant."""
    value = error.instance
    branches = _expected(error)
    if all(set(b) == {"required"} for b in branches):
        names = [b["required"][0] for b in branches]
        if error.validator == "oneOf" and isinstance(value, dict):
            given = [n for n in names if n in value]
            if len(given) > 1:
                return [diag(f"give exactly one of {', '.join(names)} (got {', '.join(given)})")]
        how = "exactly one" if error.validator == "oneOf" else "at least one"
        return [diag(f"needs {how} of: {', '.join(names)}")]
    by_branch: dict[int, list[ValidationError]] = {}
    for sub in error.context or []:
        by_branch.setdefault(int(sub.relative_schema_path[0]), []).append(sub)
    # after interpolation a value is a ${...} reference only if it still holds one
    is_reference = isinstance(value, str) and "${" in value
    plausible = [
        i
        for i in range(len(branches))
        if _fits_type(branches[i], value)
        and (is_reference or branches[i].get("title") != "Reference")
    ]
    if not plausible:
        wanted = sorted({_describe_branch(b) for b in branches if b.get("title") != "Reference"})
        return [diag(f"expected {' or '.join(wanted)}, got {_kind(value)}")]
    non_reference = [i for i in plausible if branches[i].get("title") != "Reference"]
    chosen = (non_reference or plausible)[0]
    out: list[Diagnostic] = []
    for sub in by_branch.get(chosen, []):
        out.extend(_explain(sub, locate))
    return out or [diag(error.message)]


def _fits_type(branch: dict[str, Any], value: Any) -> bool:
    if "type" in branch:
        return _matches_type(value, branch["type"])
    if "enum" in branch:
        return isinstance(value, str)
    if "anyOf" in branch:
        return any(_fits_type(b, value) for b in branch["anyOf"])
    return True


def _describe_branch(branch: dict[str, Any]) -> str:
    if branch.get("title") in ("Path", "Reference", "Duration"):
        return "a " + str(branch["title"]).lower()
    if "type" in branch:
        t = branch["type"]
        return " or ".join(_SCHEMA_TYPES.get(n, n) for n in ([t] if isinstance(t, str) else t))
    if "enum" in branch:
        return "one of " + ", ".join(branch["enum"])
    return "a valid value"
