"""A quick "is this document valid?" against the plan schema, without jsonschema.

Importing jsonschema (with `referencing`, attrs, its format checkers) and walking a plan of
thousands of `for_each` entries through it cost about 0.3 s per command (tests/bench/README.md),
paid by every valid plan. The schema uses a handful of keywords, so it is compiled here once per
process into plain closures that answer exactly what `Draft202012Validator.is_valid` answers on
the same (inlined) schema, for the values a parsed plan holds. Where exactness is not certain
(a float where an integer is wanted, an `enum` of non-strings, a value of a type YAML alone
produces) the check gives up (`_Unsure`), and so does the compilation for a keyword it does not
know: the caller then validates with jsonschema. Only "valid" is trusted: a document found
invalid is validated again with jsonschema, which words the located diagnostics, so they are
what they always were.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

Check = Callable[[Any], bool]

# keywords that never make a document invalid (annotations; `format` only annotates: the
# validator runs without a format checker)
_ANNOTATIONS = frozenset(
    {
        "$schema",
        "$id",
        "$comment",
        "title",
        "description",
        "default",
        "examples",
        "deprecated",
        "readOnly",
        "writeOnly",
        "format",
        "markdownDescription",
    }
)
_PLAIN = (dict, list, str, int, float, bool, type(None))


class _Unsure(Exception):
    """This value is outside what the compiled checks decide exactly."""


class UnsupportedSchemaError(ValueError):
    """The schema uses a keyword (or a form of one) that this module does not compile."""


def compile_schema(schema: Any) -> Check:
    """The check of `schema` (with its `$ref`s inlined).

    Raises:
        UnsupportedSchemaError: a keyword or form this module does not decide exactly.
    """
    if schema is True:
        return _always
    if schema is False:
        return _never
    if not isinstance(schema, dict):
        raise UnsupportedSchemaError(f"a schema must be an object or a boolean: {schema!r}")
    unknown = set(schema) - _ANNOTATIONS - set(_KEYWORDS)
    if unknown:
        raise UnsupportedSchemaError(f"keywords not compiled: {', '.join(sorted(unknown))}")
    checks = [
        _KEYWORDS[keyword](value, schema)
        for keyword, value in schema.items()
        if keyword in _KEYWORDS and keyword != "additionalProperties"
    ]
    if "additionalProperties" in schema:
        checks.append(_additional(schema["additionalProperties"], schema))
    if len(checks) == 1:
        return checks[0]

    def every(value: Any) -> bool:
        return all(check(value) for check in checks)

    return every


def is_valid(check: Check, document: Any) -> bool | None:
    """True when `document` is valid, False when not, None when the checks cannot tell."""
    try:
        return check(document)
    except (_Unsure, TypeError):  # TypeError: a key YAML made unhashable, say
        return None


def _always(value: Any) -> bool:
    _plain(value)
    return True


def _never(value: Any) -> bool:
    return False


def _plain(value: Any) -> None:
    """Give up on a value no JSON document holds (YAML's dates, binaries, sets ...)."""
    if type(value) not in _PLAIN:
        raise _Unsure


# -- type -------------------------------------------------------------------------------------
def _is_integer(value: Any) -> bool:
    if type(value) is float:  # 2020-12 counts 1.0 as an integer: left to jsonschema
        raise _Unsure
    return type(value) is int


_TYPES: Mapping[str, Callable[[Any], bool]] = {
    "object": lambda v: type(v) is dict,
    "array": lambda v: type(v) is list,
    "string": lambda v: type(v) is str,
    "boolean": lambda v: type(v) is bool,
    "null": lambda v: v is None,
    "number": lambda v: type(v) in (int, float),
    "integer": _is_integer,
}


def _type(types: Any, schema: dict[str, Any]) -> Check:
    names = [types] if isinstance(types, str) else types
    if not isinstance(names, list) or any(n not in _TYPES for n in names):
        raise UnsupportedSchemaError(f"type {types!r}")
    tests = [_TYPES[n] for n in names]

    def check(value: Any) -> bool:
        _plain(value)
        return any(test(value) for test in tests)

    return check


# -- values -----------------------------------------------------------------------------------
def _equal_to(expected: Any) -> Check:
    """jsonschema's `equal(value, expected)` for a string, boolean or integer `expected` (a
    boolean equals only itself: not 1, not 1.0)."""
    if type(expected) is str:
        return lambda v: type(v) is str and v == expected
    if type(expected) is bool:
        return lambda v: type(v) is bool and v is expected
    if type(expected) is int:

        def same_number(value: Any) -> bool:
            _plain(value)
            if type(value) is float:
                raise _Unsure
            return type(value) is int and value == expected

        return same_number
    raise UnsupportedSchemaError(f"a constant of another type: {expected!r}")


def _const(expected: Any, schema: dict[str, Any]) -> Check:
    return _equal_to(expected)


def _enum(options: Any, schema: dict[str, Any]) -> Check:
    if not isinstance(options, list):
        raise UnsupportedSchemaError("enum must be a list")
    if all(type(o) is str for o in options):
        allowed = frozenset(options)
        return lambda v: type(v) is str and v in allowed
    tests = [_equal_to(o) for o in options]
    return lambda v: any(test(v) for test in tests)


def _pattern(pattern: Any, schema: dict[str, Any]) -> Check:
    search = re.compile(pattern).search  # jsonschema: re.search(pattern, instance)
    return lambda v: type(v) is not str or search(v) is not None


def _min_length(limit: Any, schema: dict[str, Any]) -> Check:
    return lambda v: type(v) is not str or len(v) >= limit


def _minimum(limit: Any, schema: dict[str, Any]) -> Check:
    # as jsonschema words it (`instance < minimum` fails): NaN (YAML's .nan) passes
    return lambda v: type(v) not in (int, float) or not v < limit


def _min_properties(limit: Any, schema: dict[str, Any]) -> Check:
    return lambda v: type(v) is not dict or len(v) >= limit


def _required(names: Any, schema: dict[str, Any]) -> Check:
    wanted = list(names)
    return lambda v: type(v) is not dict or all(n in v for n in wanted)


# -- containers -------------------------------------------------------------------------------
def _properties(properties: Any, schema: dict[str, Any]) -> Check:
    checks = {name: compile_schema(sub) for name, sub in properties.items()}

    def check(value: Any) -> bool:
        if type(value) is not dict:
            return True
        for name, item in value.items():
            found = checks.get(name)
            if found is not None and not found(item):
                return False
        return True

    return check


def _additional(rule: Any, schema: dict[str, Any]) -> Check:
    if "patternProperties" in schema:
        raise UnsupportedSchemaError("patternProperties")
    known = frozenset(schema.get("properties", {}))
    if rule is True:
        return _always_object
    if rule is False:
        return lambda v: type(v) is not dict or all(k in known for k in v)
    extra = compile_schema(rule)

    def check(value: Any) -> bool:
        if type(value) is not dict:
            return True
        return all(extra(item) for key, item in value.items() if key not in known)

    return check


def _always_object(value: Any) -> bool:
    return True


def _property_names(rule: Any, schema: dict[str, Any]) -> Check:
    names = compile_schema(rule)
    return lambda v: type(v) is not dict or all(names(k) for k in v)


def _items(rule: Any, schema: dict[str, Any]) -> Check:
    if "prefixItems" in schema:
        raise UnsupportedSchemaError("prefixItems")
    each = compile_schema(rule)
    return lambda v: type(v) is not list or all(each(item) for item in v)


# -- combinations -----------------------------------------------------------------------------
def _branches(rules: Any) -> list[Check]:
    if not isinstance(rules, list) or not rules:
        raise UnsupportedSchemaError("anyOf/oneOf/allOf need a non-empty list")
    return [compile_schema(rule) for rule in rules]


def _any_of(rules: Any, schema: dict[str, Any]) -> Check:
    branches = _branches(rules)
    return lambda v: any(branch(v) for branch in branches)


def _one_of(rules: Any, schema: dict[str, Any]) -> Check:
    branches = _branches(rules)
    return lambda v: sum(1 for branch in branches if branch(v)) == 1


def _all_of(rules: Any, schema: dict[str, Any]) -> Check:
    branches = _branches(rules)
    return lambda v: all(branch(v) for branch in branches)


def _not(rule: Any, schema: dict[str, Any]) -> Check:
    inner = compile_schema(rule)
    return lambda v: not inner(v)


_KEYWORDS: Mapping[str, Callable[[Any, dict[str, Any]], Check]] = {
    "type": _type,
    "const": _const,
    "enum": _enum,
    "pattern": _pattern,
    "minLength": _min_length,
    "minimum": _minimum,
    "minProperties": _min_properties,
    "required": _required,
    "properties": _properties,
    "additionalProperties": _additional,
    "propertyNames": _property_names,
    "items": _items,
    "anyOf": _any_of,
    "oneOf": _one_of,
    "allOf": _all_of,
    "not": _not,
}
