"""What a command imports is what it needs: `planner validate` does not load the HTTP stack,
`planner run --help` neither the validator nor the runner, and `planner run` leaves the worker's
modules to the embedded worker's own process. Each command runs in a fresh interpreter (real
CLI, real embedded worker), which then reports which of the watched modules it loaded."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.helpers.cli import EXAMPLES

WATCHED = (
    "networkx",
    "jsonschema",
    "planner.plan.schema_fast",
    "pydantic",
    "httpx",
    "uvicorn",
    "starlette",
    "pathspec",
    "yaml",
    "planner.runner",
    "planner.worker",
    "planner.compile",
    "rich",
    "obstore",
)

PROBE = """
import json, sys
from planner.cli.main import main
code = main(sys.argv[2:])
with open(sys.argv[1], "w", encoding="utf-8") as out:
    json.dump({"code": code, "loaded": [m for m in WATCHED if m in sys.modules]}, out)
"""

NO_FILTERS = """\
version: 1
storages:
  data: {remote: local, root: ./data}
  out: {remote: any, root: out}
copies:
  - {id: all, src: "data:", dst: "out:"}
"""


def loaded_by(tmp_path: Path, *args: str | Path, expect: int = 0) -> set[str]:
    """The watched modules `planner ARGS...` imported in its own interpreter (cwd `tmp_path`),
    which ends with exit code `expect`."""
    report = tmp_path / "loaded.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLANNER_")}
    done = subprocess.run(
        [sys.executable, "-c", f"WATCHED = {WATCHED!r}\n{PROBE}", report, *map(str, args)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    found = json.loads(report.read_text(encoding="utf-8"))
    assert found["code"] == expect, done.stdout + done.stderr
    return set(found["loaded"])


def quickstart(tmp_path: Path) -> Path:
    # without the state a run of the example in the checkout left (its journal, its remembered
    # schema checks): each test starts from the plan as a user gets it
    shutil.copytree(
        EXAMPLES / "quickstart",
        tmp_path / "quickstart",
        ignore=shutil.ignore_patterns(".planner"),
    )
    return tmp_path / "quickstart" / "plan.yaml"


def test_validate_loads_no_http_stack(tmp_path: Path) -> None:
    loaded = loaded_by(tmp_path, "validate", quickstart(tmp_path))

    assert {"yaml", "planner.plan.schema_fast", "planner.compile"} <= loaded  # validated, compiled
    assert "jsonschema" not in loaded  # the quick check found it valid
    assert not loaded & {"httpx", "uvicorn", "starlette", "planner.runner"}
    assert "networkx" not in loaded  # the DAG is planner/compile/dag.py


def test_a_plan_with_a_schema_error_is_worded_by_jsonschema(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(NO_FILTERS.replace("id: all", "id: All"), encoding="utf-8")

    assert {"planner.plan.schema_fast", "jsonschema"} <= loaded_by(
        tmp_path, "validate", plan, expect=2
    )


def test_run_help_loads_neither_the_validator_nor_the_runner(tmp_path: Path) -> None:
    loaded = loaded_by(tmp_path, "run", "--help")

    assert not loaded & {"networkx", "jsonschema", "pydantic", "httpx", "planner.runner"}
    assert "obstore" not in loaded


def test_a_plan_without_patterns_does_not_load_the_pattern_matcher(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    plan = tmp_path / "plan.yaml"
    plan.write_text(NO_FILTERS, encoding="utf-8")

    assert "pathspec" not in loaded_by(tmp_path, "validate", plan)
    # the quickstart's `exclude` does need it: the probe sees what was loaded
    assert "pathspec" in loaded_by(tmp_path, "validate", quickstart(tmp_path))


def test_run_leaves_the_worker_to_its_own_process(
    tmp_path: Path,
) -> None:
    plan = quickstart(tmp_path)

    loaded = loaded_by(tmp_path, "run", plan, "-q")

    assert (plan.parent / ".planner" / "storage" / "quickstart" / "runs" / "demo").is_dir()
    assert {"httpx", "planner.runner"} <= loaded
    assert not loaded & {"uvicorn", "starlette", "planner.worker", "networkx", "obstore"}
    assert "rich" not in loaded  # no terminal: no progress bars, and httpx's own CLI stays out


def test_a_remote_on_the_command_line_is_checked_without_the_worker_http_stack(
    tmp_path: Path,
) -> None:
    plan = quickstart(tmp_path)

    loaded = loaded_by(tmp_path, "run", plan, "-q", "--remote", f"extra={tmp_path / 'extra'}")

    assert (plan.parent / ".planner" / "storage" / "quickstart" / "runs" / "demo").is_dir()
    assert (tmp_path / "extra").is_dir()  # the embedded worker made the remote's root
    assert not loaded & {"uvicorn", "starlette", "obstore"}


def test_a_second_run_of_an_unchanged_plan_does_not_load_the_schema_validator(
    tmp_path: Path,
) -> None:
    plan = quickstart(tmp_path)
    validator = "planner.plan.schema_fast"  # jsonschema only words the problems of a bad plan
    assert validator in loaded_by(tmp_path, "run", plan, "-q")  # validated, makes .planner
    assert validator in loaded_by(tmp_path, "run", plan, "-q")  # validated, remembered

    again = loaded_by(tmp_path, "run", plan, "-q")
    (plan.parent / "data" / "results" / "new.csv").write_text("x\n", encoding="utf-8")
    edited = plan.read_text(encoding="utf-8").replace("run: demo", "run: other")
    plan.write_text(edited, encoding="utf-8")
    changed = loaded_by(tmp_path, "run", plan, "-q")

    assert validator not in again
    assert validator in changed  # another document: validated again
    assert "jsonschema" not in again | changed
    assert (plan.parent / ".planner" / "storage" / "quickstart" / "runs" / "other").is_dir()


READY_PROBE = """
import json, sys
import planner.cli.embedded as embedded
from planner.cli.main import main
first_line = embedded._first_line
at_ready = set()
def recorded(*args):
    url = first_line(*args)
    at_ready.update(sys.modules)
    return url
embedded._first_line = recorded
code = main(sys.argv[2:])
later = sorted(m.split(".")[0] for m in set(sys.modules) - at_ready)
with open(sys.argv[1], "w", encoding="utf-8") as out:
    json.dump({"code": code, "later": sorted(set(later))}, out)
"""


def test_what_the_first_request_imports_is_imported_while_the_worker_starts(
    tmp_path: Path,
) -> None:
    plan = quickstart(tmp_path)
    report = tmp_path / "later.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLANNER_")}

    done = subprocess.run(
        [sys.executable, "-c", READY_PROBE, report, "run", plan, "-q"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    found = json.loads(report.read_text(encoding="utf-8"))
    assert found["code"] == 0
    # the HTTP stack's lazily loaded parts were in before the worker answered
    assert not set(found["later"]) & {"httpcore", "anyio", "h11", "sniffio"}
