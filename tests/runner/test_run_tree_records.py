"""A directory copy's per-file records through the real CLI and the real embedded worker
(issue 12, "Results in bulk"): they go to the journal as the tree operation's rows are read and
are not kept in the run's results; `--format json` still lists every file (read back from the
journal as the document is written, in json's own indented layout), and so does
`planner runs show`, with each file's checksum (the worker's, of what it wrote)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import xxhash

from planner.runner import session
from planner.runner.results import RunResult
from tests.helpers.cli import CliResult, actions_of, run_json
from tests.helpers.trees import make_tree

# more files than the JSON writer joins per write (render/run_json.py, _CHUNK)
FILES = 1_234
PLAN = """
    version: 1
    storages:
      src: {remote: local, root: ./src}
      dst: {remote: local, root: ./dst}
    copies:
      - {id: tree, src: "src:", dst: "dst:"}
"""


@pytest.fixture
def source(tmp_path: Path) -> dict[str, bytes]:
    """FILES small files, in ten directories."""
    files = {f"d{i % 10}/f{i:04d}.txt": f"file {i}\n".encode() for i in range(FILES)}
    return make_tree(tmp_path / "src", files)


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch) -> list[RunResult]:
    """The results of the runs the CLI makes, as the CLI holds them once they ended."""
    seen: list[RunResult] = []
    real = session.run_session

    async def keeping(*args: object, **kwargs: object) -> tuple[RunResult, int]:
        run, code = await real(*args, **kwargs)  # type: ignore[arg-type]
        seen.append(run)
        return run, code

    monkeypatch.setattr(session, "run_session", keeping)
    return seen


def xxh64(data: bytes) -> str:
    return xxhash.xxh64(data).hexdigest()


def test_the_json_document_lists_every_file_though_the_run_keeps_none(
    tmp_path: Path,
    source: dict[str, bytes],
    runs: list[RunResult],
    write_plan: Callable[..., Path],
    run_cli: Callable[..., CliResult],
) -> None:
    plan = write_plan(PLAN)
    result = run_cli("run", plan, "--format", "json")

    assert result.code == 0, result.stderr
    document = json.loads(result.stdout)
    # written piecewise, it reads as json.dumps(indent=2) writes the whole document
    assert result.stdout == json.dumps(document, indent=2) + "\n"
    tree = actions_of(document)["tree"]
    assert tree["files_done"] == FILES
    assert [i["key"] for i in tree["items"]] == sorted(source)  # walk order
    assert {i["key"]: i["checksum"] for i in tree["items"]} == {
        rel: xxh64(data) for rel, data in source.items()
    }
    assert {(i["kind"], i["state"], i["attempts"], i["error"]) for i in tree["items"]} == {
        ("copy", "succeeded", 1, "")
    }
    first = tree["items"][0]
    assert (first["src"], first["dst"], first["size"]) == (
        f"local:{tmp_path / 'src' / 'd0/f0000.txt'}",
        f"local:{tmp_path / 'dst' / 'd0/f0000.txt'}",
        len(source["d0/f0000.txt"]),
    )

    # what the run held at its end: counts, no record or checksum per file
    (run,) = runs
    (action,) = run.actions
    assert action.items == []
    assert action.items_journaled == FILES
    assert (action.files_done, action.bytes_done) == (FILES, sum(map(len, source.values())))


def test_runs_show_lists_every_file_of_the_run_with_its_checksum(
    tmp_path: Path,
    source: dict[str, bytes],
    runs: list[RunResult],
    write_plan: Callable[..., Path],
    run_cli: Callable[..., CliResult],
) -> None:
    plan = write_plan(PLAN)
    code, document = run_json(run_cli, plan)
    assert code == 0, document

    shown = run_cli("runs", "show", document["run_id"], "--plan", plan)
    assert shown.code == 0, shown.stderr
    assert "tree (copy): succeeded" in shown.stdout
    copied = f"local:{tmp_path / 'src/d0/f0000.txt'} -> local:{tmp_path / 'dst/d0/f0000.txt'}, 7 B"
    assert f"succeeded copy {copied}" in shown.stdout
    assert f"... and {FILES - 10:,} more items (--format json lists them all)" in shown.stdout

    listed = run_cli("runs", "show", document["run_id"], "--plan", plan, "--format", "json")
    assert listed.code == 0, listed.stderr
    assert listed.stdout == json.dumps(json.loads(listed.stdout), indent=2) + "\n"
    recorded = actions_of(json.loads(listed.stdout))["tree"]["items"]
    assert recorded == actions_of(document)["tree"]["items"]
    assert {i["key"]: i["checksum"] for i in recorded} == {
        rel: xxh64(data) for rel, data in source.items()
    }


def test_a_resumed_tree_copy_lists_only_what_it_copied_and_runs_show_lists_all(
    tmp_path: Path,
    source: dict[str, bytes],
    runs: list[RunResult],
    write_plan: Callable[..., Path],
    run_cli: Callable[..., CliResult],
) -> None:
    plan = write_plan(PLAN)
    # the first run fails on one unwritable directory: the rest is copied
    blocked = tmp_path / "dst" / "d3"
    blocked.parent.mkdir()
    blocked.write_text("a file where a directory goes")
    code, first = run_json(run_cli, plan)
    assert code == 1, first
    done_first = {i["key"] for i in actions_of(first)["tree"]["items"] if i["state"] == "succeeded"}
    assert len(done_first) == FILES - len([k for k in source if k.startswith("d3/")])

    blocked.unlink()
    code, resumed = run_json(run_cli, plan, "--resume")

    assert code == 0, resumed
    again = {i["key"] for i in actions_of(resumed)["tree"]["items"]}
    assert again == {k for k in source if k.startswith("d3/")}
    # the journal of the resumed run holds what it carried over too
    listed = run_cli("runs", "show", resumed["run_id"], "--plan", plan, "--format", "json")
    recorded = {i["key"] for i in actions_of(json.loads(listed.stdout))["tree"]["items"]}
    assert recorded == set(source)
