"""`planner run` end to end through the real CLI and the real embedded worker: the quickstart,
a filtered directory tree copied byte for byte, idempotent re-runs (nothing rewritten), one
changed file copied alone, and the order the compiler infers observed while running."""

from __future__ import annotations

import random
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

from tests.helpers.cli import EXAMPLES, CliResult, actions_of, copied_keys, run_json
from tests.helpers.trees import make_tree, tree_bytes, tree_stats
from tests.helpers.workers import start_worker


# -- helpers of this module --------------------------------------------------------------------
def parents_of(paths: Iterable[str]) -> set[str]:
    out = set()
    for rel in paths:
        parts = rel.split("/")[:-1]
        out |= {"/".join(parts[: i + 1]) for i in range(len(parts))}
    return out


# -- the quickstart ---------------------------------------------------------------------------
def test_quickstart_runs_then_reruns_without_changing_anything(
    tmp_path: Path, run_cli: Callable[..., CliResult]
) -> None:
    example = tmp_path / "quickstart"
    shutil.copytree(EXAMPLES / "quickstart", example, ignore=shutil.ignore_patterns(".planner"))
    plan = example / "plan.yaml"
    source = example / "data" / "results"
    archive = example / ".planner" / "storage" / "quickstart" / "runs" / "demo" / "results"
    expected = {k: v for k, v in tree_bytes(source).items() if not k.endswith(".tmp")}
    assert len(expected) == 3

    first = run_cli("run", plan)
    assert first.code == 0, first.stdout + first.stderr
    assert tree_bytes(archive) == expected  # solver.tmp excluded, the rest byte for byte
    # no terminal: one plain line per state change, then the summary
    for action in ("directories.0 (directory)", "results (copy)", "tag-results (metadata)"):
        assert f"{action}: running" in first.stdout
        assert f"{action}: succeeded" in first.stdout
    assert "succeeded: 4 actions succeeded, 0 failed, 0 skipped; 3 files copied" in first.stdout

    before = tree_stats(archive)
    code, again = run_json(run_cli, plan)
    assert code == 0
    assert again["result"] == "succeeded"
    assert again["totals"]["files_done"] == 0
    assert {a["id"]: a["change"] for a in again["actions"]} == {
        "directories.0": "unchanged",
        "results": "unchanged",
        "tag-results": "unchanged",
        "summary-arrived": "unchanged",
    }
    assert actions_of(again)["results"]["files_unchanged"] == 3
    assert tree_stats(archive) == before


# -- directory copies -------------------------------------------------------------------------
FILTERED_PLAN = """
    version: 1
    storages:
      src: {remote: local, root: ./src}
      dst: {remote: local, root: ./dst}
    copies:
      - id: tree
        src: src:results/
        dst: dst:copy/
        include: ["*.csv", "*.h5", "/docs/"]
        exclude: ["scratch/", "*.bak.csv"]
"""


@pytest.fixture
def filtered_tree(tmp_path: Path, write_plan: Callable[..., Path]) -> tuple[Path, dict[str, bytes]]:
    """A source tree under src/results and the files FILTERED_PLAN must copy (by relative path)."""
    rng = random.Random(1)
    files = make_tree(
        tmp_path / "src" / "results",
        {
            "top.csv": b"a,b\n1,2\n",
            "notes.txt": b"not included\n",
            "a/b/deep.csv": rng.randbytes(70_000),
            "a/b/old.bak.csv": b"excluded by *.bak.csv\n",
            "fields/pressure.h5": rng.randbytes(3 * 1024 * 1024 + 17),
            "fields/empty.h5": b"",
            "scratch/x.csv": b"excluded: below scratch/\n",
            "a/scratch/y.csv": b"excluded: scratch/ matches at any depth\n",
            "docs/readme.md": b"# included by /docs/\n",
            "docs/img/logo.png": rng.randbytes(4096),
            "sub/docs/other.md": b"not included: /docs/ is anchored\n",
            "with space/\u00fcn\u00efcode \u00e9.csv": b"unicode names too\n",
        },
    )
    wanted = {
        "top.csv",
        "a/b/deep.csv",
        "fields/pressure.h5",
        "fields/empty.h5",
        "docs/readme.md",
        "docs/img/logo.png",
        "with space/\u00fcn\u00efcode \u00e9.csv",
    }
    return write_plan(FILTERED_PLAN), {k: v for k, v in files.items() if k in wanted}


def test_directory_copy_copies_exactly_the_filtered_files_byte_for_byte(
    tmp_path: Path,
    run_cli: Callable[..., CliResult],
    filtered_tree: tuple[Path, dict[str, bytes]],
) -> None:
    plan, expected = filtered_tree
    code, document = run_json(run_cli, plan)

    assert code == 0, document
    copy = tmp_path / "dst" / "copy"
    assert tree_bytes(copy) == expected
    # nothing else: no directory of an excluded file, no temporary file
    present = {p.relative_to(copy).as_posix() for p in copy.rglob("*")}
    assert present == set(expected) | parents_of(expected)
    for rel in expected:  # the source mtime is kept (what if-different compares on re-runs)
        src_mtime = (tmp_path / "src" / "results" / rel).stat().st_mtime_ns
        assert (copy / rel).stat().st_mtime_ns == src_mtime, rel
    # the JSON document tells the same story, file by file
    tree = actions_of(document)["tree"]
    assert tree["state"] == "succeeded"
    assert tree["change"] == "create"
    assert copied_keys(document, "tree") == set(expected)
    assert tree["files_done"] == len(expected)
    assert tree["bytes"] == sum(len(v) for v in expected.values())
    assert document["totals"]["bytes"] == tree["bytes"]
    for item in tree["items"]:
        assert item["dst"].endswith("/dst/copy/" + item["key"]), item
        assert item["size"] == len(expected[item["key"]])


def test_rerun_copies_nothing_and_rewrites_no_destination_file(
    tmp_path: Path,
    run_cli: Callable[..., CliResult],
    filtered_tree: tuple[Path, dict[str, bytes]],
) -> None:
    plan, expected = filtered_tree
    assert run_cli("run", plan).code == 0
    copy = tmp_path / "dst" / "copy"
    before = tree_stats(copy)

    code, document = run_json(run_cli, plan)

    assert code == 0
    tree = actions_of(document)["tree"]
    assert (tree["state"], tree["change"]) == ("succeeded", "unchanged")
    assert (tree["files_done"], tree["files_unchanged"], tree["bytes"]) == (0, len(expected), 0)
    assert copied_keys(document, "tree") == set()
    assert tree_stats(copy) == before  # same inodes, mtimes and ctimes: not even touched
    assert tree_bytes(copy) == expected


def test_one_changed_source_file_is_the_only_file_copied(
    tmp_path: Path,
    run_cli: Callable[..., CliResult],
    filtered_tree: tuple[Path, dict[str, bytes]],
) -> None:
    plan, expected = filtered_tree
    assert run_cli("run", plan).code == 0
    copy = tmp_path / "dst" / "copy"
    before = tree_stats(copy)
    changed = "a/b/deep.csv"
    expected[changed] = b"rewritten, and shorter\n"
    (tmp_path / "src" / "results" / changed).write_bytes(expected[changed])

    code, document = run_json(run_cli, plan)

    assert code == 0
    tree = actions_of(document)["tree"]
    assert copied_keys(document, "tree") == {changed}
    assert (tree["change"], tree["files_done"], tree["files_unchanged"]) == (
        "update",
        1,
        len(expected) - 1,
    )
    assert tree["bytes"] == len(expected[changed])
    assert tree_bytes(copy) == expected
    after = tree_stats(copy)
    assert {rel for rel in before if after[rel] != before[rel]} == {changed}


# -- inferred order ---------------------------------------------------------------------------
def test_inferred_order_holds_even_against_priorities(
    tmp_path: Path, run_cli: Callable[..., CliResult], write_plan: Callable[..., Path]
) -> None:
    # Priorities ask for the opposite order: without the inferred edges the removal (priority 0)
    # would delete the source before the copy reads it, and the check would find nothing.
    expected = make_tree(
        tmp_path / "src" / "data",
        {"a.txt": b"alpha\n", "nested/b.bin": random.Random(2).randbytes(200_000)},
    )
    plan = write_plan(
        """
        version: 1
        storages:
          src: {remote: local, root: ./src}
          dst: {remote: local, root: ./dst}
        directories:
          - {id: make-archive, path: "dst:archive", priority: 300}
        copies:
          - {id: upload, src: "src:data/", dst: "dst:archive/data/", priority: 200}
        removals:
          - {id: cleanup, path: "src:data", priority: 0}
        checks:
          - {id: arrived, exists: "dst:archive/data/nested/b.bin", priority: 0}
        """
    )

    code, document = run_json(run_cli, plan)

    assert code == 0, document
    assert tree_bytes(tmp_path / "dst" / "archive" / "data") == expected
    assert not (tmp_path / "src" / "data").exists()
    a = actions_of(document)
    assert all(x["state"] == "succeeded" for x in a.values()), a
    assert a["make-archive"]["ended_at"] <= a["upload"]["started_at"]
    assert a["upload"]["ended_at"] <= a["cleanup"]["started_at"]
    assert a["upload"]["ended_at"] <= a["arrived"]["started_at"]
    assert (a["cleanup"]["change"], a["cleanup"]["files_done"]) == ("delete", 1)


# -- requests -----------------------------------------------------------------------------------
def test_requests_grow_with_batches_not_with_files(
    tmp_path: Path,
    write_plan: Callable[..., Path],
    run_cli: Callable[..., CliResult],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the item path, where files travel in batches: a worker without tree operations (with
    # them a directory copy is one operation: tests/runner/test_run_tree_requests.py)
    embedded, worker = start_worker(
        tmp_path / "worker", roots={"r": tmp_path / "r"}, tree_operations=False
    )
    monkeypatch.setenv("PLANNER_TOKEN", worker.token)
    for i in range(200):
        path = tmp_path / "r" / "src" / f"d{i % 4}" / f"f{i:03d}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"file {i}\n")
    counts = {}
    try:
        for batch in (500, 10):
            plan = write_plan(
                f"""
                version: 1
                storages:
                  r: {{remote: r, root: .}}
                copies:
                  - {{id: tree, src: "r:src/", dst: "r:dst-{batch}/"}}
                """,
                name=f"plan-{batch}.yaml",
            )
            args = ("--batch-size", str(batch), "--api-url", worker.url)
            code, document = run_json(run_cli, plan, *args)
            assert code == 0, document
            assert document["totals"]["files_done"] == 200
            counts[batch] = document["totals"]["api_requests"]
    finally:
        embedded.stop()
    # 20 batches of 10 need at least 20 submissions; one batch of 200 needs one, plus the
    # status, storages, listings and polls every run makes
    assert counts[10] >= 20
    assert counts[500] < counts[10]
    assert counts[500] <= 200 / 10


def test_single_file_copies_moves_and_directories_list_their_item(
    tmp_path: Path, write_plan: Callable[..., Path], run_cli: Callable[..., CliResult]
) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "one.txt").write_text("one\n")
    (tmp_path / "src" / "moving.txt").write_text("moving!\n")
    plan = write_plan(
        """
        version: 1
        storages:
          src: {remote: local, root: ./src}
          dst: {remote: local, root: ./dst}
        directories:
          - {id: made, path: "dst:made"}
        copies:
          - {id: one, src: "src:one.txt", dst: "dst:copied/one.txt"}
        moves:
          - {id: moved, src: "src:moving.txt", dst: "dst:moved.txt"}
        """
    )
    code, document = run_json(run_cli, plan)
    assert code == 0, document
    items = {a["id"]: a["items"] for a in document["actions"]}
    ((copied,), (moved,), (made,)) = items["one"], items["moved"], items["made"]
    assert (copied["kind"], copied["state"], copied["size"]) == ("copy", "succeeded", 4)
    assert copied["dst"].endswith("/dst/copied/one.txt")
    assert (moved["kind"], moved["state"], moved["size"]) == ("move", "succeeded", 8)
    assert moved["src"].endswith("/src/moving.txt")
    assert (made["kind"], made["state"]) == ("mkdir", "succeeded")
    assert (tmp_path / "dst" / "copied" / "one.txt").read_text() == "one\n"
