"""`planner run --report FILE`: the run as JUnit XML, one testcase per action, written atomically.

<testsuites name="planner" tests= failures= errors="0" skipped= time=>
  <testsuite name=PLAN NAME tests= failures= errors="0" skipped= time= timestamp=>
    <testcase classname=KIND name=ACTION ID time=SECONDS>
      <failure message=ERROR>error text, then one line per failed item</failure>
      | <skipped message="skipped: depends on a failed action"/>
      <system-out>detail lines</system-out>
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import IO

from planner.atomic import write_atomically
from planner.errors import UsageError
from planner.render.run_json import timestamp
from planner.runner.results import ActionResult, ActionState, ItemState, RunResult

SKIPPED_MESSAGE = "skipped: depends on a failed action"

# XML 1.0 cannot carry most control characters, even escaped; error texts from remote
# filesystems can contain them, so they become U+FFFD rather than an unparseable report.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml_text(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def _seconds(value: float) -> str:
    return f"{value:.3f}"


def _testcase(parent: ET.Element, run: RunResult, action: ActionResult) -> None:
    case = ET.SubElement(
        parent,
        "testcase",
        classname=_xml_text(action.kind),
        name=_xml_text(action.id),
        time=_seconds(action.duration),
    )
    if action.state is ActionState.FAILED:
        error = action.error or "failed"
        failure = ET.SubElement(case, "failure", message=_xml_text(error.splitlines()[0]))
        failed_items = [
            f"{i.key}: {i.error}" for i in run.items_of(action) if i.state is ItemState.FAILED
        ]
        failure.text = _xml_text("\n".join([error, *failed_items]))
    elif action.state is not ActionState.SUCCEEDED:
        # The executor records why ("skipped: 'fetch' failed"); a run cut short leaves the rest.
        reason = action.error if action.error.startswith("skipped") else ""
        if not reason:
            reason = SKIPPED_MESSAGE if action.state is ActionState.SKIPPED else "not run"
        ET.SubElement(case, "skipped", message=_xml_text(reason))
    lines = [*action.detail, *(f"warning: {w}" for w in action.warnings)]
    if lines:
        ET.SubElement(case, "system-out").text = _xml_text("\n".join(lines))


def junit_tree(run: RunResult) -> ET.ElementTree:
    """The report as an element tree (see the module docstring for its shape)."""
    failures = len(run.failed)
    skipped = len(run.actions) - failures - len(run.succeeded)
    counts = {
        "tests": str(len(run.actions)),
        "failures": str(failures),
        "errors": "0",
        "skipped": str(skipped),
        "time": _seconds(run.duration),
    }
    root = ET.Element("testsuites", {"name": "planner", **counts})
    suite = ET.SubElement(
        root,
        "testsuite",
        {
            "name": _xml_text(run.plan_name),
            **counts,
            "timestamp": timestamp(run.started_at) or "",
        },
    )
    properties = ET.SubElement(suite, "properties")
    for name, value in (
        ("run_id", run.run_id),
        ("plan_file", run.plan_file),
        ("digest", run.digest),
    ):
        ET.SubElement(properties, "property", name=name, value=_xml_text(value))
    for action in run.actions:
        _testcase(suite, run, action)
    ET.indent(root)
    return ET.ElementTree(root)


def write_junit(run: RunResult, path: Path) -> None:
    """Write the report to `path` through a temporary file in the same directory and
    `os.replace`, so a reader never sees half a report.

    Raises:
        UsageError: the file cannot be written (exit 2).
    """
    tree = junit_tree(run)

    def write(out: IO[bytes]) -> None:
        tree.write(out, encoding="utf-8", xml_declaration=True)
        out.write(b"\n")

    try:
        write_atomically(path, write)
    except OSError as exc:
        raise UsageError(f"--report {path}: cannot write: {exc.strerror or exc}") from exc
