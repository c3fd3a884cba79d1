"""Validation results as text, JSON (format_version 1) or GitHub workflow annotations."""

from __future__ import annotations

import json

from planner.errors import Diagnostic
from planner.render.style import paint
from planner.validate import ValidationResult

FORMAT_VERSION = 1


_PLURAL = {
    "directory": "directories",
    "copy": "copies",
    "move": "moves",
    "removal": "removals",
    "permission": "permissions",
    "metadata": "metadata",
    "check": "checks",
}


def summary_line(result: ValidationResult) -> str:
    """`plan.yaml: valid: 5 actions (2 copies, 1 check), DAG depth 2`."""
    assert result.compiled is not None
    total = len(result.compiled.plan.actions)
    parts = ", ".join(
        f"{n} {_PLURAL[k] if n != 1 else k}" for k, n in sorted(result.kinds().items())
    )
    noun = "action" if total == 1 else "actions"
    details = f" ({parts})" if parts else ""
    return f"{result.file}: valid: {total} {noun}{details}, DAG depth {result.compiled.depth}"


def diagnostic_line(d: Diagnostic, color: bool) -> str:
    """`file:line:col: error: pointer: message`."""
    where = paint(str(d.location), color, bold=True)
    prefix = f"{d.pointer_text}: " if d.pointer else ""
    return f"{where}: {paint('error', color, fg='red')}: {prefix}{d.message}"


def note_line(d: Diagnostic, color: bool) -> str:
    """`file:line:col: note: message`: something worth knowing about a valid plan (a `needs`
    that overrides an inferred edge); never an error."""
    where = paint(str(d.location), color, bold=True)
    prefix = f"{d.pointer_text}: " if d.pointer else ""
    return f"{where}: {paint('note', color, fg='cyan')}: {prefix}{d.message}"


def render_notes(notes: list[Diagnostic], color: bool) -> str:
    """The notes of a compiled plan, one line each (`plan` and `run` print them on stderr)."""
    return "\n".join(note_line(d, color) for d in notes)


def render_diagnostics(diagnostics: list[Diagnostic], color: bool) -> str:
    """Problems of one plan outside `validate` (graph, plan, run), with the summary line."""
    noun = "error" if len(diagnostics) == 1 else "errors"
    lines = [diagnostic_line(d, color) for d in diagnostics]
    return "\n".join([*lines, f"Found {len(diagnostics)} {noun}; the plan is invalid."])


def render_text(results: list[ValidationResult], color: bool, quiet: bool = False) -> str:
    """One line per problem, sorted by position, then one summary line per plan or overall."""
    lines: list[str] = []
    for result in results:
        lines.extend(diagnostic_line(d, color) for d in result.diagnostics)
        if result.compiled is not None:
            lines.extend(note_line(d, color) for d in result.compiled.notes)
        if result.is_valid and not quiet:
            lines.append(summary_line(result))
    errors = sum(len(r.diagnostics) for r in results)
    if errors:
        bad = sum(1 for r in results if r.diagnostics)
        noun = "error" if errors == 1 else "errors"
        lines.append(
            f"Found {errors} {noun} in {bad} of {len(results)} "
            f"plan{'s' if len(results) != 1 else ''}."
        )
    return "\n".join(lines)


def diagnostic_json(d: Diagnostic) -> dict[str, object]:
    """The stable JSON shape of one diagnostic."""
    return {
        "file": d.location.file,
        "line": d.location.line,
        "col": d.location.col,
        "code": d.code,
        "pointer": d.pointer_text,
        "message": d.message,
    }


def render_json(results: list[ValidationResult]) -> str:
    """The `validate --format json` document."""
    plans = []
    for r in results:
        entry: dict[str, object] = {
            "file": r.file,
            "valid": r.is_valid,
            "diagnostics": [diagnostic_json(d) for d in r.diagnostics],
        }
        if r.compiled is not None:
            entry.update(
                {
                    "name": r.compiled.plan.name,
                    "actions": len(r.compiled.plan.actions),
                    "kinds": r.kinds(),
                    "depth": r.compiled.depth,
                    "notes": [diagnostic_json(d) for d in r.compiled.notes],
                }
            )
        plans.append(entry)
    document = {
        "format_version": FORMAT_VERSION,
        "valid": all(r.is_valid for r in results),
        "plans": plans,
    }
    return json.dumps(document, indent=2)


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(results: list[ValidationResult]) -> str:
    """`::error file=F,line=L,col=C::message` lines (GitHub Actions workflow commands); notes
    become `::notice` lines."""
    lines = []
    for r in results:
        notes = r.compiled.notes if r.compiled is not None else []
        for command, d in [*(("error", d) for d in r.diagnostics), *(("notice", d) for d in notes)]:
            loc = d.location
            prefix = f"{d.pointer_text}: " if d.pointer else ""
            lines.append(
                f"::{command} file={_escape_property(loc.file)},line={loc.line},col={loc.col},"
                f"title={_escape_property('planner ' + d.code)}::{_escape_data(prefix + d.message)}"
            )
        if r.is_valid:
            lines.append(summary_line(r))
    return "\n".join(lines)
