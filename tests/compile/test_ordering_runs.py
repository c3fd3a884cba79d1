"""The DAG follows the plan's meaning, observed by running plans through the real CLI and the
embedded worker (issue 10, items 1-3): an `absent:` check after the removal that makes it true,
a prune below a move's destination after the move, a clean before the publish it precedes, and
a `needs` that overrides an inferred edge said out loud without changing any exit code."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

from tests.helpers.cli import EXAMPLES, CliResult, run_json
from tests.helpers.trees import make_tree, tree_bytes

Run = Callable[..., CliResult]
Write = Callable[..., Path]


def test_absent_check_passes_after_the_removal_it_checks(
    tmp_path: Path, run_cli: Run, write_plan: Write
) -> None:
    make_tree(tmp_path / "fs" / "legacy", {"a.txt": b"a", "deep/b.txt": b"b"})
    plan = write_plan(
        """
        version: 1
        storages:
          fs: {remote: local, root: ./fs}
        removals:
          - {id: drop-legacy, path: "fs:legacy/", priority: 200}
        checks:
          - {id: legacy-gone, absent: "fs:legacy", priority: 0}
        """
    )

    preview = run_cli("plan", plan)
    code, document = run_json(run_cli, plan)

    assert preview.code == 0, preview.stdout + preview.stderr
    (check_line,) = [line for line in preview.stdout.splitlines() if "legacy-gone" in line]
    assert check_line == "  = legacy-gone  check    holds"
    assert code == 0, document
    assert [a["state"] for a in document["actions"]] == ["succeeded", "succeeded"]
    assert not (tmp_path / "fs" / "legacy").exists()


def test_removal_below_a_move_destination_prunes_what_the_move_brought(
    tmp_path: Path, run_cli: Run, write_plan: Write
) -> None:
    make_tree(
        tmp_path / "fs" / "legacy" / "wing_run1",
        {"mesh.cas": b"mesh", "core.1": b"c1", "core.2": b"c2", "out/log.txt": b"log"},
    )
    plan = write_plan(
        """
        version: 1
        storages:
          fs: {remote: local, root: ./fs}
        moves:
          - {id: file-run, src: "fs:legacy/wing_run1", dst: "fs:projects/wing/runs/1"}
        removals:
          - {id: drop-cores, path: "fs:projects/wing/runs/1/core.*"}
        """
    )

    code, document = run_json(run_cli, plan)

    assert code == 0, document
    assert tree_bytes(tmp_path / "fs" / "projects" / "wing" / "runs" / "1") == {
        "mesh.cas": b"mesh",
        "out/log.txt": b"log",
    }


def test_clean_then_publish_keeps_the_copy_without_needs(
    tmp_path: Path, run_cli: Run, write_plan: Write
) -> None:
    make_tree(tmp_path / "build" / "html", {"index.html": b"new", "img/logo.png": b"png"})
    make_tree(tmp_path / "site" / "html", {"index.html": b"old", "stale.html": b"stale"})
    plan = write_plan(
        """
        version: 1
        storages:
          build: {remote: local, root: ./build}
          site: {remote: local, root: ./site}
        removals:
          - {id: clean, path: "site:html/"}
        copies:
          - {id: publish, src: "build:html/", dst: "site:html/"}
        """
    )

    code, document = run_json(run_cli, plan)

    assert code == 0, document
    assert tree_bytes(tmp_path / "site" / "html") == {
        "index.html": b"new",
        "img/logo.png": b"png",
    }


def test_clean_then_publish_example_runs_in_the_order_its_paths_imply(
    tmp_path: Path, run_cli: Run
) -> None:
    example = tmp_path / "example"
    shutil.copytree(EXAMPLES / "clean-then-publish", example)
    make_tree(example / "site", {"html/old.html": b"old", "legacy/x.html": b"x"})

    graph = run_cli("graph", example / "plan.yaml")
    code, document = run_json(run_cli, example / "plan.yaml")

    assert "needs" not in (example / "plan.yaml").read_text().split("version: 1", 1)[1]
    assert graph.stdout.splitlines()[-4:] == [
        "    n0 -->|clean-before-write| n2",
        "    n1 -->|removal-before-absent| n3",
        "    n2 -->|write-before-prune| n4",
        "    n2 -->|write-before-read| n5",
    ]
    assert code == 0, document
    assert tree_bytes(example / "site") == {
        "html/index.html": b"<h1>Release 2</h1>\n",
        "html/img/logo.svg": b"logo\n",
    }


OVERRIDE = """
version: 1
storages:
  site: {remote: local, root: ./site}
copies:
  - {id: stage, src: "site:new.html", dst: "site:index.html", needs: [publish]}
  - {id: publish, src: "site:index.html", dst: "site:published/index.html"}
"""
NOTE = (
    ":5:71: note: 'stage' needs 'publish': this overrides write-before-read ('stage' writes "
    "site:index.html, 'publish' reads site:index.html), so 'publish' runs first"
)


def test_validate_notes_an_overriding_needs_and_still_exits_0(
    run_cli: Run, write_plan: Write
) -> None:
    plan = write_plan(OVERRIDE)

    result = run_cli("validate", plan)

    assert result.code == 0
    assert result.stdout.splitlines() == [
        f"{plan}{NOTE}",
        f"{plan}: valid: 2 actions (2 copies), DAG depth 2",
    ]


def test_validate_quiet_still_prints_the_note(run_cli: Run, write_plan: Write) -> None:
    plan = write_plan(OVERRIDE)

    result = run_cli("validate", "-q", plan)

    assert result.code == 0
    assert result.stdout.splitlines() == [f"{plan}{NOTE}"]


def test_validate_json_and_github_carry_the_note(run_cli: Run, write_plan: Write) -> None:
    plan = write_plan(OVERRIDE)

    as_json = run_cli("validate", "--format", "json", plan)
    as_github = run_cli("validate", "--format", "github", plan)

    assert as_json.code == as_github.code == 0
    (entry,) = json.loads(as_json.stdout)["plans"]
    assert entry["valid"] is True
    assert entry["diagnostics"] == []
    assert entry["notes"] == [
        {
            "file": str(plan),
            "line": 5,
            "col": 71,
            "code": "needs-override",
            "pointer": "",
            "message": NOTE.split(": note: ", 1)[1],
        }
    ]
    assert as_github.stdout.splitlines()[0] == (
        f"::notice file={plan},line=5,col=71,title=planner needs-override::"
        + NOTE.split(": note: ", 1)[1]
    )


def test_run_and_plan_print_the_note_and_keep_the_override(
    tmp_path: Path, run_cli: Run, write_plan: Write
) -> None:
    make_tree(tmp_path / "site", {"index.html": b"old page", "new.html": b"new page!"})
    plan = write_plan(OVERRIDE)

    preview = run_cli("plan", plan)
    result = run_cli("run", plan)

    assert preview.code == 0, preview.stderr
    assert preview.stderr.splitlines() == [f"{plan}{NOTE}"]
    assert result.code == 0, result.stderr
    assert result.stderr.splitlines() == [f"{plan}{NOTE}"]
    # publish ran first: it published the old page, then stage overwrote it
    assert (tmp_path / "site" / "published" / "index.html").read_bytes() == b"old page"
    assert (tmp_path / "site" / "index.html").read_bytes() == b"new page!"
