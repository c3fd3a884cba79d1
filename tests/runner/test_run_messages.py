"""Failure messages of `planner run` and `planner plan` a newcomer can act on, through the real
CLI and real workers: a missing source names where its storage's root resolved to (issue 10
item 8), and a restricted user refused on an action is told the role that action needs and it
lacks, not the role of the probe the worker happened to refuse first (item 14)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from planner.worker.auth import Authenticator
from tests.helpers.cli import CliResult, actions_of, preview_json, run_json
from tests.helpers.workers import WorkerHandle, start_worker

RELATIVE_ROOTS = "storage roots are relative to the plan file's directory"


# -- item 8: a missing source names the resolved location ---------------------------------------
def test_a_missing_source_names_its_root_and_where_it_resolved(
    tmp_path: Path, write_plan: Callable[..., Path], run_cli: Callable[..., CliResult]
) -> None:
    (tmp_path / "ci").mkdir()
    plan = write_plan(
        """
        version: 1
        storages:
          scratch: {remote: local, root: ./sim}
        copies:
          - {id: results, src: "scratch:out/", dst: "scratch:published/"}
        """,
        name="ci/plan.yaml",
    )
    where = tmp_path.resolve() / "ci" / "sim" / "out"
    message = f"scratch:out/ (root ./sim → {where}): no such file or directory; {RELATIVE_ROOTS}"

    ran = run_cli("run", plan)
    assert ran.code == 1, ran.stderr
    assert f"  results (copy) failed: {message}\n" in ran.stdout

    previewed = run_cli("plan", plan)
    assert previewed.code == 1, previewed.stderr
    assert f"  ! results  copy  would fail: {message}\n" in previewed.stdout


def test_a_missing_path_below_an_absolute_root_gets_no_relative_root_hint(
    tmp_path: Path, write_plan: Callable[..., Path], run_cli: Callable[..., CliResult]
) -> None:
    root = tmp_path.resolve() / "abs"
    root.mkdir()
    plan = write_plan(
        f"""
        version: 1
        storages:
          data: {{remote: local, root: {root}}}
        moves:
          - {{id: archive, src: "data:old.txt", dst: "data:archive/old.txt"}}
        """
    )
    code, document = run_json(run_cli, plan)
    assert code == 1
    assert actions_of(document)["archive"]["error"] == (
        f"data:old.txt (root {root} → {root}/old.txt): no such file or directory"
    )


# -- item 14: a refusal names the role the action needs -----------------------------------------
@pytest.fixture(params=[True, False], ids=["tree-operations", "plain"])
def restricted(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[WorkerHandle]:
    """A worker with `alice` (reader on `src` only) and an admin `root`; `src/a.txt` exists.
    With and without tree operations (a directory copy as one operation, or file by file)."""
    yield from _restricted(tmp_path, tree_operations=request.param)


@pytest.fixture
def restricted_plain(tmp_path: Path) -> Iterator[WorkerHandle]:
    """`restricted` without planner's `stat` extension: the runner learns what a path is by
    listing its parent, which needs the reader role on the parent."""
    yield from _restricted(tmp_path, stat=False)


def _restricted(tmp_path: Path, **options: Any) -> Iterator[WorkerHandle]:
    users = tmp_path / "users.yaml"
    users.write_text(
        "users:\n"
        "  - {name: alice, token: alice-token}\n"
        "  - {name: root, token: root-token, admin: true}\n"
    )
    embedded, handle = start_worker(
        tmp_path, authenticator=Authenticator.from_users_file(users), **options
    )
    try:
        (handle.roots["any"] / "src").mkdir(parents=True)
        (handle.roots["any"] / "src" / "a.txt").write_text("a")
        (handle.roots["any"] / "legacy" / "materials").mkdir(parents=True)
        grant = {
            "resource": {"path": "src"},
            "role": "reader",
            "subject": {"id": "alice", "type": "user"},
        }
        response = httpx.post(
            f"{handle.url}/permissions:set",
            headers={"Authorization": "Bearer root-token"},
            json={"permissions": [grant]},
        )
        assert response.is_success, response.text
        yield handle
    finally:
        embedded.stop()


REFUSED_PLAN = """
    version: 1
    storages:
      src: {remote: any, root: src}
      models: {remote: any}
    copies:
      - {id: materials, src: "src:", dst: "models:legacy/materials/"}
"""


def test_a_refused_copy_names_the_writer_role_it_lacks_not_the_probes_reader_role(
    restricted: WorkerHandle,
    write_plan: Callable[..., Path],
    run_cli: Callable[..., CliResult],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plan = write_plan(REFUSED_PLAN)
    monkeypatch.setenv("PLANNER_TOKEN", "alice-token")

    # file by file, the first request refused is the listing of the destination (a reader
    # probe); as one tree operation, the copy itself (writer) or, previewed, its compare (reader)
    def refused(request: str, role: str) -> str:
        return (
            f"{request}: HTTP 403 Forbidden: permission denied: 'alice' lacks the {role} role on "
            "legacy/materials (the caller lacks the role) (code 403)"
        )

    probe = refused("cannot list any:legacy/materials: POST /api/v1/storage:list", "reader")
    trees = restricted.config.tree_operations
    head = (
        "permission denied: this copy needs writer on models:legacy/materials, which the "
        "caller lacks (refused: "
    )
    run_refused = refused("POST /api/v1/storage:copy_tree", "writer") if trees else probe
    code, document = run_json(run_cli, plan, "--api-url", restricted.url)
    assert code == 1
    assert actions_of(document)["materials"]["error"] == f"{head}{run_refused})"

    preview_refused = refused("POST /api/v1/storage:compare_tree", "reader") if trees else probe
    code, preview = preview_json(run_cli, plan, "--api-url", restricted.url)
    assert code == 1
    assert preview["actions"][0]["error"] == f"{head}{preview_refused})"


def test_a_refusal_of_a_role_the_plan_does_not_ask_for_names_no_held_role_as_lacking(
    restricted_plain: WorkerHandle,
    write_plan: Callable[..., Path],
    run_cli: Callable[..., CliResult],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (restricted_plain.roots["any"] / "legacy" / "materials" / "m.txt").write_text("m")
    grants = [
        {"resource": {"path": path}, "role": role, "subject": {"id": "alice", "type": "user"}}
        for path, role in (("legacy/materials", "reader"), ("legacy/materials-copy", "writer"))
    ]
    response = httpx.post(
        f"{restricted_plain.url}/permissions:set",
        headers={"Authorization": "Bearer root-token"},
        json={"permissions": grants},
    )
    assert response.is_success, response.text
    plan = write_plan(
        """
        version: 1
        storages:
          m: {remote: any, root: legacy}
        copies:
          - {id: materials, src: "m:materials", dst: "m:materials-copy/"}
        """
    )  # no trailing '/': what is at m:materials is asked (a listing of its parent, here)
    monkeypatch.setenv("PLANNER_TOKEN", "alice-token")

    code, document = run_json(run_cli, plan, "--api-url", restricted_plain.url)

    error = actions_of(document)["materials"]["error"]
    assert code == 1
    assert error.startswith(
        "permission denied: a request this copy makes was refused, though the worker reports "
        "none of the roles it needs (writer on m:materials-copy and reader on m:materials) as "
        "lacking (refused: "
    ), error
    assert "which the caller lacks" not in error


def test_with_the_stat_extension_a_copy_needs_no_role_on_its_sources_parent(
    restricted: WorkerHandle,
    write_plan: Callable[..., Path],
    run_cli: Callable[..., CliResult],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The plan above, on a worker with `planner.stat`: the copy asks about its own paths only,
    so the roles it names are all it needs."""
    (restricted.roots["any"] / "legacy" / "materials" / "m.txt").write_text("m")
    grants = [
        {"resource": {"path": path}, "role": role, "subject": {"id": "alice", "type": "user"}}
        for path, role in (("legacy/materials", "reader"), ("legacy/materials-copy", "writer"))
    ]
    response = httpx.post(
        f"{restricted.url}/permissions:set",
        headers={"Authorization": "Bearer root-token"},
        json={"permissions": grants},
    )
    assert response.is_success, response.text
    plan = write_plan(
        """
        version: 1
        storages:
          m: {remote: any, root: legacy}
        copies:
          - {id: materials, src: "m:materials/", dst: "m:materials-copy/"}
        """
    )
    monkeypatch.setenv("PLANNER_TOKEN", "alice-token")

    code, document = run_json(run_cli, plan, "--api-url", restricted.url)

    assert code == 0, actions_of(document)["materials"]["error"]
    copied = restricted.roots["any"] / "legacy" / "materials-copy" / "m.txt"
    assert copied.read_text() == "m"


def test_a_refused_write_names_every_role_lacking(
    restricted: WorkerHandle,
    write_plan: Callable[..., Path],
    run_cli: Callable[..., CliResult],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plan = write_plan(
        """
        version: 1
        storages:
          src: {remote: any, root: src}
          models: {remote: any}
        moves:
          - {id: retire, src: "src:a.txt", dst: "models:legacy/a.txt"}
        """
    )
    monkeypatch.setenv("PLANNER_TOKEN", "alice-token")
    code, document = run_json(run_cli, plan, "--api-url", restricted.url)
    assert code == 1
    error = actions_of(document)["retire"]["error"]
    assert error.startswith(
        "permission denied: this move needs writer on models:legacy/a.txt and writer on "
        "src:a.txt, which the caller lacks (refused: "
    ), error
    assert (restricted.roots["any"] / "src" / "a.txt").read_text() == "a"
