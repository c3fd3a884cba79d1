"""The package's layers point one way (docs/architecture.md): every import inside `planner/`,
at module level, in a function or under TYPE_CHECKING, goes down the order written once in
`MAY_IMPORT`; a forbidden one fails naming its file and line."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

import planner

PACKAGE = Path(planner.__file__).parent

# Each unit of planner/ (a subpackage, or a module at the top) and the units it may import;
# what those may import it may import too. Units below everything, importable by all.
NEUTRAL = frozenset({"errors", "durations", "timestamps", "gcpause", "atomic", "__version__"})
MAY_IMPORT: dict[str, frozenset[str]] = {
    "tree": frozenset(),  # entries, filters, decisions of a tree copy: pure, below all
    "plan": frozenset({"tree"}),
    "compile": frozenset({"plan"}),
    "validate": frozenset({"compile"}),
    "api": frozenset(),
    "runner": frozenset({"compile", "api"}),
    "render": frozenset({"runner", "validate"}),
    "worker": frozenset({"api", "tree"}),  # the worker knows no plans and no runner
    "cli": frozenset({"render", "worker"}),
    "__main__": frozenset({"cli"}),
    "planner": frozenset({"compile"}),  # planner/__init__.py: the lazy public API
}
# `planner/__init__.py` is imported before any module of the package: `from planner import
# __version__` is the pseudo-unit `__version__`, any other name of it the unit `planner`.


def allowed_units(unit: str) -> frozenset[str]:
    """Every unit `unit` may import: itself, the neutral ones, and MAY_IMPORT's closure."""
    seen = {unit}
    todo = [unit]
    while todo:
        for lower in MAY_IMPORT.get(todo.pop(), frozenset()):
            if lower not in seen:
                seen.add(lower)
                todo.append(lower)
    return frozenset(seen | NEUTRAL)


def unit_of_module(module: str) -> str:
    """`planner.runner.session` -> `runner`; `planner.errors` -> `errors`; `planner` itself."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "planner"


def module_name(path: Path) -> str:
    """The dotted name of a file of the package."""
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@dataclass(frozen=True)
class Violation:
    file: str
    line: int
    unit: str
    imported: str
    target: str

    def __str__(self) -> str:
        return (
            f"{self.file}:{self.line}: {self.unit} must not import {self.target} ({self.imported})"
        )


def _root_unit(name: str) -> str:
    """The unit `from planner import name` imports: a subpackage or top-level module of that
    name, `__version__`, or else the lazy public API of `planner/__init__.py`."""
    if name == "__version__":
        return name
    if (PACKAGE / name).is_dir() or (PACKAGE / f"{name}.py").is_file():
        return name
    return "planner"


def imported_units(module: str, tree: ast.AST) -> list[tuple[int, str, str]]:
    """(line, imported name, unit) of every import of planner code in `tree`, wherever it is."""
    package = module if module == "planner" else module.rsplit(".", 1)[0]
    found: list[tuple[int, str, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "planner" or alias.name.startswith("planner."):
                    found.append((node.lineno, alias.name, unit_of_module(alias.name)))
        elif isinstance(node, ast.ImportFrom):
            source = node.module or ""
            if node.level:  # relative: resolved against the importing module's package
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join([*base, source] if source else base)
            if source == "planner":
                for alias in node.names:
                    found.append((node.lineno, f"planner.{alias.name}", _root_unit(alias.name)))
            elif source.startswith("planner."):
                found.append((node.lineno, source, unit_of_module(source)))
    return found


def violations_in(path: Path, source: str) -> list[Violation]:
    """The imports of `source` (the text of `path`, a file of the package) that go up or across
    the layers."""
    module = module_name(path)
    unit = unit_of_module(module)
    allowed = allowed_units(unit)
    where = str(path.relative_to(PACKAGE.parent))
    return [
        Violation(where, line, unit, imported, target)
        for line, imported, target in imported_units(module, ast.parse(source, where))
        if target not in allowed
    ]


def package_files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_every_import_goes_down_the_layers() -> None:
    found = [v for path in package_files() for v in violations_in(path, path.read_text())]
    assert not found, "imports against the layers:\n" + "\n".join(map(str, found))


def test_every_unit_has_a_place_in_the_order() -> None:
    units = {unit_of_module(module_name(path)) for path in package_files()}
    placed = set(MAY_IMPORT) | NEUTRAL
    assert units - placed == set(), "add these to MAY_IMPORT or NEUTRAL"
    assert PACKAGE / "runner" / "testing.py" in package_files()  # the test seam is checked too


@pytest.mark.parametrize(
    ("file", "source", "line", "target"),
    [
        # at module level
        ("runner/progress.py", "from planner.render.style import use_color\n", 1, "render"),
        # in a function
        ("runner/embedded.py", "def f():\n    from planner.worker import serve\n", 2, "worker"),
        # under TYPE_CHECKING
        (
            "plan/filters.py",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
            "    from planner.runner.expand import Entry\n",
            3,
            "runner",
        ),
        ("worker/faults.py", "import planner.plan.durations\n", 1, "plan"),
        ("runner/session.py", "from planner import cli\n", 1, "cli"),
        ("worker/routes.py", "from ..runner import session\n", 1, "runner"),
        ("api/client.py", "from planner import load_plan\n", 1, "planner"),
    ],
)
def test_a_forbidden_import_is_named_with_its_line(
    file: str, source: str, line: int, target: str
) -> None:
    [violation] = violations_in(PACKAGE / file, source)
    assert (violation.file, violation.line, violation.target) == (f"planner/{file}", line, target)
    assert str(violation).startswith(f"planner/{file}:{line}: ")


def test_imports_down_the_layers_and_of_neutral_modules_pass() -> None:
    source = (
        "from planner import __version__\nfrom planner.errors import UsageError\n"
        "from planner.api.wire import Operation\nfrom planner.compile import CompiledPlan\n"
        "from planner.plan.model import Plan\nfrom planner.durations import parse_duration\n"
    )
    assert violations_in(PACKAGE / "runner" / "session.py", source) == []
    assert violations_in(PACKAGE / "cli" / "run.py", "from planner.worker import serve\n") == []
