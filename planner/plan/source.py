"""Safe YAML loading that keeps the position of every node, so any later stage can point at
`file:line:col` of the key or value it complains about."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from planner.errors import Diagnostic, Location, PlanError, Pointer

try:  # libyaml's C parser when available: same nodes, several times faster
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

_MAX_NODES = 5_000_000  # bounds alias expansion ("billion laughs")
_MAX_DEPTH = 100  # no plan nests this deep; bounds recursion
_TYPED_TAGS = {
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
}
_constructor = yaml.constructor.SafeConstructor()


@dataclass
class SourceDoc:
    """A parsed plan file: plain data plus the YAML node tree to locate any pointer in it."""

    file: str
    text: str
    root: yaml.Node
    data: dict[str, Any]
    _line_starts: list[int] = field(default_factory=list, repr=False)

    def node_at(self, pointer: Pointer) -> tuple[yaml.Node, yaml.Node | None]:
        """The deepest node on `pointer`'s way, and the key node that led to it (if any)."""
        node: yaml.Node = self.root
        key_node: yaml.Node | None = None
        for part in pointer:
            nxt: tuple[yaml.Node, yaml.Node | None] | None = None
            if isinstance(node, yaml.MappingNode) and isinstance(part, str):
                for k, v in node.value:
                    if isinstance(k, yaml.ScalarNode) and k.value == part:
                        nxt = (v, k)
            elif (
                isinstance(node, yaml.SequenceNode)
                and isinstance(part, int)
                and 0 <= part < len(node.value)
            ):
                nxt = (node.value[part], None)
            if nxt is None:
                break
            node, key_node = nxt
        return node, key_node

    def locate(self, pointer: Pointer, *, key: bool = False) -> Location:
        """Location of the value at `pointer` (or of its key with `key=True`); a pointer that
        goes past the document falls back to its nearest ancestor."""
        node, key_node = self.node_at(pointer)
        mark = key_node.start_mark if key and key_node is not None else node.start_mark
        return Location(self.file, mark.line + 1, mark.column + 1)

    def locate_text(self, pointer: Pointer, needle: str) -> Location:
        """Location of `needle` inside the scalar at `pointer` (e.g. one `${var}` reference);
        the scalar's own start when the text cannot be found verbatim."""
        node, _ = self.node_at(pointer)
        start = self._offset(node.start_mark.line, node.start_mark.column)
        end = self._offset(node.end_mark.line, node.end_mark.column)
        stop = max(end, start + len(needle))
        found = self.text.find(needle, start, stop)
        while found > 0 and needle.startswith("${") and self.text[found - 1] == "$":
            found = self.text.find(needle, found + 1, stop)  # skip `$${` escapes
        if found < 0:
            return Location(self.file, node.start_mark.line + 1, node.start_mark.column + 1)
        return self._location_of(found)

    def _offset(self, line: int, column: int) -> int:
        starts = self._starts()
        return starts[min(line, len(starts) - 1)] + column

    def _location_of(self, offset: int) -> Location:
        starts = self._starts()
        line = bisect.bisect_right(starts, offset) - 1
        return Location(self.file, line + 1, offset - starts[line] + 1)

    def _starts(self) -> list[int]:
        if not self._line_starts:
            self._line_starts = [0] + [i + 1 for i, c in enumerate(self.text) if c == "\n"]
        return self._line_starts


def read_source(path: Path, display: str | None = None) -> SourceDoc:
    """Read and parse one plan file.

    Raises:
        PlanError: unreadable or non-UTF-8 file, YAML syntax error, duplicate key,
            multi-document file, or a document that is not a mapping.
    """
    name = display or str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PlanError(
            [Diagnostic(Location(name), f"cannot read plan: {exc.strerror}", "io")]
        ) from exc
    return parse_source(decode_source(raw, name), name)


def decode_source(raw: bytes | str, name: str) -> str:
    """The text of a plan (UTF-8, a BOM allowed); text that came through a lenient decoder
    (surrogate escapes, as stdin may give) is checked the same way.

    Raises:
        PlanError: not valid UTF-8, located at the first bad byte.
    """
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogateescape")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = (
            len(raw[raw.rfind(b"\n", 0, exc.start) + 1 : exc.start].decode("utf-8", "replace")) + 1
        )
        message = f"file is not valid UTF-8 (byte 0x{raw[exc.start]:02x})"
        raise PlanError([Diagnostic(Location(name, line, col), message, "yaml")]) from exc


def parse_source(text: str, name: str) -> SourceDoc:
    """Parse YAML text into a SourceDoc (see `read_source` for the errors raised)."""
    try:
        documents = list(yaml.compose_all(text, Loader=_Loader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Location(name, mark.line + 1, mark.column + 1) if mark else Location(name)
        problem = exc.problem or "syntax error"
        context = f" ({exc.context})" if exc.context and exc.context not in problem else ""
        lines = text.splitlines()
        if (
            mark
            and "flow" in (exc.context or "")
            and "${" in "".join(lines[mark.line : mark.line + 1])
        ):
            context += "; quote values holding ${...} inside {...} or [...]"
        tab = _indenting_tab(lines[mark.line] if mark and mark.line < len(lines) else "")
        if mark and tab is not None:
            where = Location(name, mark.line + 1, tab + 1)
            context += "; YAML forbids tabs for indentation: replace the tab here with spaces"
        raise PlanError([Diagnostic(where, f"invalid YAML: {problem}{context}", "yaml")]) from exc
    except yaml.YAMLError as exc:  # ReaderError: a character YAML does not allow
        position = getattr(exc, "position", 0)
        doc = SourceDoc(name, text, yaml.ScalarNode("tag:yaml.org,2002:null", ""), {})
        reason = getattr(exc, "reason", "unreadable")
        character = getattr(exc, "character", None)
        what = f" #x{ord(character):04x}" if isinstance(character, str) else ""
        message = f"invalid YAML: {reason}{what}"
        raise PlanError([Diagnostic(doc._location_of(position), message, "yaml")]) from exc
    documents = [d for d in documents if d is not None]
    if not documents:
        raise PlanError([Diagnostic(Location(name), "plan is empty: expected a mapping", "yaml")])
    if len(documents) > 1:
        mark = documents[1].start_mark
        line = mark.line
        lines = text.splitlines()
        while line > 0 and not lines[min(line, len(lines) - 1)].startswith("---"):
            line -= 1  # point at the separator that starts the second document
        where = Location(name, line + 1, 1) if line > 0 else Location(name, mark.line + 1, 1)
        message = "a plan file holds exactly one YAML document; found another here"
        raise PlanError([Diagnostic(where, message, "yaml")])
    root = documents[0]
    if not isinstance(root, yaml.MappingNode):
        mark = root.start_mark
        where = Location(name, mark.line + 1, mark.column + 1)
        raise PlanError([Diagnostic(where, "a plan must be a YAML mapping", "yaml")])
    converter = _Converter(name)
    data = converter.convert(root)
    if converter.diagnostics:
        raise PlanError(converter.diagnostics)
    assert isinstance(data, dict)
    return SourceDoc(name, text, root, data)


def _indenting_tab(line: str) -> int | None:
    """The 0-based column of the first tab in `line`'s indentation, or None."""
    indent = line[: len(line) - len(line.lstrip(" \t"))]
    column = indent.find("\t")
    return column if column >= 0 else None


class _Converter:
    """Node tree -> plain data, rejecting duplicate keys, non-scalar keys and recursive aliases."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.diagnostics: list[Diagnostic] = []
        self.count = 0
        self.active: set[int] = set()

    def _here(self, node: yaml.Node) -> Location:
        return Location(self.name, node.start_mark.line + 1, node.start_mark.column + 1)

    def convert(self, node: yaml.Node) -> Any:
        self.count += 1
        if self.count > _MAX_NODES:
            raise PlanError(
                [Diagnostic(self._here(node), "document too large (alias expansion?)", "yaml")]
            )
        if isinstance(node, yaml.ScalarNode):
            return _scalar(node)
        if len(self.active) >= _MAX_DEPTH:
            message = f"nesting deeper than {_MAX_DEPTH} levels"
            raise PlanError([Diagnostic(self._here(node), message, "yaml")])
        if id(node) in self.active:
            self.diagnostics.append(Diagnostic(self._here(node), "recursive alias", "yaml"))
            return None
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                return [self.convert(item) for item in node.value]
            return self._mapping(node)
        finally:
            self.active.discard(id(node))

    def _mapping(self, node: yaml.Node) -> dict[str, Any]:
        out: dict[str, Any] = {}
        first_seen: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self.diagnostics.append(
                    Diagnostic(self._here(key_node), "mapping keys must be plain strings", "yaml")
                )
                continue
            if key_node.tag == "tag:yaml.org,2002:merge":
                self.diagnostics.append(
                    Diagnostic(self._here(key_node), "merge keys (<<) are not supported", "yaml")
                )
                continue
            key = str(key_node.value)
            if key in first_seen:
                line = first_seen[key].start_mark.line + 1
                message = f"duplicate key '{key}' (first defined on line {line})"
                self.diagnostics.append(Diagnostic(self._here(key_node), message, "yaml"))
                continue
            first_seen[key] = key_node
            out[key] = self.convert(value_node)
        return out


def _scalar(node: yaml.ScalarNode) -> Any:
    if node.tag in _TYPED_TAGS:
        try:
            return _constructor.construct_object(node)
        except (yaml.YAMLError, ValueError):
            return node.value
    return node.value  # strings, and timestamps/binary kept verbatim as text
