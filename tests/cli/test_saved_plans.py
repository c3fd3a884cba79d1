"""Saved plans through the real CLI and embedded workers: `planner plan --out FILE` saves what
the preview read and decided, `planner show FILE` shows it as the preview did, and
`planner run FILE` applies exactly that, or refuses (exit 1, nothing changed) when anything
changed since, and refuses a damaged or edited file (exit 2)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from planner.runner.saved_plan import seal
from tests.helpers.cli import CliResult
from tests.helpers.trees import tree_bytes
from tests.helpers.workers import start_worker

PLAN = """
    version: 1
    vars:
      run: demo
    storages:
      src: {remote: local, root: ./src}
      dst: {remote: local, root: ./dst}
    directories:
      - {id: made, path: "dst:made/${run}"}
    copies:
      - {id: tree, src: "src:tree/", dst: "dst:tree/", exclude: ["*.skip"]}
      - {id: single, src: "src:one.txt", dst: "dst:single/"}
    metadata:
      - {id: tag, path: "dst:tree", set: {owner: cfd, run: "${run}"}}
    permissions:
      - {id: share, path: "dst:tree", grant: [{group: cfd, role: reader}]}
"""


def _trees(root: Path) -> None:
    """Sources, and a destination that holds part of them already (and a file of its own)."""
    files = {"a.txt": b"alpha\n", "sub/b.bin": bytes(range(200)), "sub/deep/c.txt": b"c" * 3000}
    for rel, data in {**files, "x.skip": b"skipped\n"}.items():
        path = root / "src" / "tree" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (root / "src" / "one.txt").write_text("one\n")
    same = root / "dst" / "tree" / "a.txt"
    same.parent.mkdir(parents=True)
    same.write_bytes(files["a.txt"])
    stat = (root / "src" / "tree" / "a.txt").stat()
    os.utime(same, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    (root / "dst" / "tree" / "sub").mkdir()
    (root / "dst" / "tree" / "sub" / "b.bin").write_bytes(b"old")  # to overwrite
    (root / "dst" / "own.txt").write_text("the destination's own\n")


def _snapshot(root: Path) -> dict[str, tuple[int, int] | None]:
    """Every path below src and dst with (size, mtime_ns) for files."""
    found: dict[str, tuple[int, int] | None] = {}
    for top in ("src", "dst"):
        for path in sorted((root / top).rglob("*")):
            stat = path.stat()
            found[str(path.relative_to(root))] = (
                (stat.st_size, stat.st_mtime_ns) if path.is_file() else None
            )
    return found


@pytest.fixture
def saved(
    tmp_path: Path, write_plan: Callable[..., Path], run_cli: Callable[..., CliResult]
) -> Path:
    """The trees, the plan, and the plan saved (tmp_path/reviewed.yaml: a saved plan is
    recognised by its content, not its name)."""
    _trees(tmp_path)
    plan = write_plan(PLAN)
    out = tmp_path / "reviewed.yaml"
    result = run_cli("plan", plan, "--out", out)
    assert result.code == 0, result.stderr
    return out


def _stale(result: CliResult) -> int:
    """The number of differences a refused run reported (asserting it was refused)."""
    assert result.code == 1, result.stdout + result.stderr
    head = next(line for line in result.stderr.splitlines() if "stale plan:" in line)
    return int(head.split("stale plan: ")[1].split()[0])


def test_a_saved_plan_applies_exactly_what_the_preview_listed(
    tmp_path: Path, saved: Path, run_cli: Callable[..., CliResult]
) -> None:
    document = json.loads(saved.read_text())
    listed = {a["id"]: a for a in document["preview"]["actions"]}
    before = _snapshot(tmp_path)
    checked = run_cli("run", saved, "--dry-run")
    assert (checked.code, "up to date" in checked.stdout) == (0, True), checked.stderr
    assert _snapshot(tmp_path) == before
    result = run_cli("run", saved, "-q")
    assert result.code == 0, result.stdout + result.stderr
    after = _snapshot(tmp_path)
    # the files the preview listed are the sources' bytes now
    copied = {i["dst"] for a in listed.values() for i in a["items"] if i["kind"] == "copy"}
    assert copied == {
        f"local:{tmp_path}/dst/tree/sub/b.bin",
        f"local:{tmp_path}/dst/tree/sub/deep/c.txt",
        f"local:{tmp_path}/dst/single/one.txt",
    }
    src, dst = tree_bytes(tmp_path / "src" / "tree"), tree_bytes(tmp_path / "dst" / "tree")
    assert dst == {k: v for k, v in src.items() if not k.endswith(".skip")}
    # nothing else was touched: no source, the file already there, the destination's own file
    changed = {p for p in before.keys() ^ after.keys()}
    changed |= {p for p in before.keys() & after.keys() if before[p] != after[p]}
    assert changed == {
        "dst/tree/sub/b.bin",
        "dst/tree/sub/deep",
        "dst/tree/sub/deep/c.txt",
        "dst/single",
        "dst/single/one.txt",
        "dst/made",
        "dst/made/demo",
    }
    # the metadata and the grant are those of the plan: a new preview finds nothing to do
    again = run_cli("plan", tmp_path / "plan.yaml", "--detailed-exitcode")
    assert again.code == 0, again.stdout


def test_a_file_that_appears_after_the_check_is_not_copied(
    tmp_path: Path, saved: Path, run_cli: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    from planner.cli import apply

    checked = apply.check_saved

    def check_then_add(*args: Any, **kwargs: Any) -> Any:
        found = checked(*args, **kwargs)
        (tmp_path / "src" / "tree" / "late.txt").write_text("late\n")  # after the check
        return found

    monkeypatch.setattr(apply, "check_saved", check_then_add)
    result = run_cli("run", saved, "--format", "json")
    monkeypatch.undo()
    assert not (tmp_path / "dst" / "tree" / "late.txt").exists()
    document = json.loads(result.stdout)
    tree = next(a for a in document["actions"] if a["id"] == "tree")
    refused = [i for i in tree["items"] if i["key"] == "late.txt"]
    assert [i["state"] for i in refused] == ["failed"]
    assert "not in the saved plan" in refused[0]["error"]
    # everything the plan saved was done
    assert (tmp_path / "dst" / "tree" / "sub" / "deep" / "c.txt").read_bytes() == b"c" * 3000
    assert (result.code, document["exit_code"]) == (1, 1)
    # --resume checks the file and its inputs, not the storages the run changed; the guard holds
    resumed = run_cli("run", saved, "-q", "--resume")
    assert resumed.code == 1, resumed.stdout + resumed.stderr
    assert not (tmp_path / "dst" / "tree" / "late.txt").exists()
    (tmp_path / "src" / "tree" / "late.txt").unlink()
    resumed = run_cli("run", saved, "--resume", "--format", "json")
    assert resumed.code == 0, resumed.stdout + resumed.stderr
    ran = {a["id"]: a for a in json.loads(resumed.stdout)["actions"]}
    assert ran["tree"]["files_done"] == 0  # all copied before; what was to do is done


def _grant_elsewhere(tmp_path: Path, write_plan: Callable[..., Path], run_cli: Any) -> None:
    other = write_plan(
        """
        version: 1
        storages:
          dst: {remote: local, root: ./dst}
        permissions:
          - {id: share, path: "dst:tree", grant: [{group: cfd, role: reader}]}
        """,
        name="grant.yaml",
    )
    assert run_cli("run", other, "-q").code == 0


def _change(name: str, root: Path, write_plan: Callable[..., Path], run_cli: Any) -> list[str]:
    """Make the change `name` after the plan was saved; the options to run it with."""
    if name == "source edited":
        (root / "src/tree/a.txt").write_text("ALPHA\n")
    elif name == "destination edited":
        (root / "dst/tree/a.txt").write_text("x")
    elif name == "new source file":
        (root / "src/tree/sub/new.txt").write_text("n")
    elif name == "source removed":
        (root / "src/one.txt").unlink()
    elif name == "grant changed":
        _grant_elsewhere(root, write_plan, run_cli)
    elif name == "plan edited":
        (root / "plan.yaml").write_text((root / "plan.yaml").read_text() + "# edited\n")
    elif name == "plan made invalid":
        (root / "plan.yaml").write_text("version: [\n")
    elif name == "var changed":
        return ["--var=run=other"]
    return []


# a difference each change is reported by (a part of its path)
_NAMED = {
    "source edited": "local:{root}/src/tree/a.txt",
    "destination edited": "local:{root}/dst/tree/a.txt",
    "new source file": "local:{root}/src/tree/sub/new.txt",
    "source removed": "local:{root}/src/one.txt",
    "grant changed": "local:{root}/dst/tree (grants)",
    "plan edited": "plan {root}/plan.yaml",
    "plan made invalid": "plan {root}/plan.yaml",
    "var changed": "variable run",
}


@pytest.mark.parametrize("change", sorted(_NAMED))
def test_a_stale_plan_is_refused_and_nothing_changes(
    change: str,
    tmp_path: Path,
    saved: Path,
    write_plan: Callable[..., Path],
    run_cli: Callable[..., CliResult],
) -> None:
    args = _change(change, tmp_path, write_plan, run_cli)
    before = _snapshot(tmp_path)
    result = run_cli("run", saved, *args)
    assert _stale(result) >= 1
    assert "nothing was changed" in result.stderr
    assert _snapshot(tmp_path) == before
    code = run_cli("run", saved, "--format", "json", *args)
    document = json.loads(code.stdout)
    assert (code.code, document["stale"], document["exit_code"]) == (1, True, 1)
    assert len(document["differences"]) == _stale(result)
    assert _stale(run_cli("run", saved, "--dry-run", *args)) == _stale(result)
    assert all(set(d) == {"path", "then", "now"} for d in document["differences"])
    paths = [d["path"] for d in document["differences"]]
    assert any(_NAMED[change].format(root=tmp_path) in p for p in paths), paths
    assert _snapshot(tmp_path) == before


def test_a_stale_plan_names_each_difference(
    tmp_path: Path, saved: Path, run_cli: Callable[..., CliResult]
) -> None:
    (tmp_path / "src" / "tree" / "sub" / "new.txt").write_text("new\n")
    code = run_cli("run", saved, "--format", "json")
    paths = {d["path"]: d for d in json.loads(code.stdout)["differences"]}
    seen = paths[f"local:{tmp_path}/src/tree/sub/new.txt"]
    assert seen["then"] == "absent"
    assert seen["now"].startswith("file, 4 B, mtime ")
    decision = f"local:{tmp_path}/src/tree/sub/new.txt -> local:{tmp_path}/dst/tree/sub/new.txt"
    assert paths[f"decision: copy {decision}"] == {
        "path": f"decision: copy {decision}",
        "then": "not planned",
        "now": "planned",
    }


def test_a_plan_saved_against_one_worker_is_stale_on_another(
    tmp_path: Path,
    write_plan: Callable[..., Path],
    run_cli: Callable[..., CliResult],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = tmp_path / "data"
    (data / "in").mkdir(parents=True)
    (data / "in" / "f.txt").write_text("f\n")
    plan = write_plan(
        """
        version: 1
        storages:
          d: {remote: data, root: ""}
        copies:
          - {id: c, src: "d:in/", dst: "d:out/"}
        """
    )
    first, one = start_worker(tmp_path / "one", roots={"data": data})
    second, two = start_worker(tmp_path / "two", roots={"data": data}, token=one.token)
    try:
        monkeypatch.setenv("PLANNER_TOKEN", one.token)
        out = tmp_path / "saved.json"
        assert run_cli("plan", plan, "--out", out, "--api-url", one.url).code == 0
        result = run_cli("run", out, "--api-url", two.url, "--format", "json")
        differences = json.loads(result.stdout)["differences"]
        assert {"path": "worker api", "then": one.url, "now": two.url} in differences
        assert not (data / "out").exists()
        # against the worker it was made for, it runs
        assert run_cli("run", out, "--api-url", one.url, "-q").code == 0
        assert (data / "out" / "f.txt").read_text() == "f\n"
    finally:
        first.stop()
        second.stop()


def _rewrite(path: Path, change: Callable[[dict[str, Any]], None], *, reseal: bool) -> None:
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(seal(document) if reseal else document))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda p: p.write_bytes(p.read_bytes()[:-200]), "damaged (not valid JSON"),
        (
            lambda p: _rewrite(p, lambda d: d["writes"].pop(), reseal=False),
            "was edited or damaged (its digest does not match",
        ),
        (
            lambda p: _rewrite(p, lambda d: d.update(planner_saved_plan=99), reseal=True),
            "saved plan format 99 is unknown to this planner",
        ),
        (
            lambda p: _rewrite(p, lambda d: d.update(planner_version="9.0.0"), reseal=True),
            "saved by planner 9.0.0, which is not compatible",
        ),
        (
            lambda p: _rewrite(p, lambda d: d.pop("planner_version"), reseal=True),
            "damaged (it does not say which planner saved it)",
        ),
    ],
    ids=["truncated", "edited", "unknown-format", "incompatible-planner", "no-planner-version"],
)
def test_a_damaged_or_edited_plan_file_is_refused(
    damage: Callable[[Path], None],
    message: str,
    tmp_path: Path,
    saved: Path,
    run_cli: Callable[..., CliResult],
) -> None:
    damage(saved)
    before = _snapshot(tmp_path)
    for command in ("run", "show"):
        result = run_cli(command, saved)
        assert result.code == 2, result.stdout + result.stderr
        assert message in result.stderr
        assert "planner plan --out" in result.stderr or "not valid JSON" in result.stderr
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize("output_format", ["text", "markdown", "json"])
def test_show_prints_what_the_preview_printed(
    output_format: str,
    tmp_path: Path,
    write_plan: Callable[..., Path],
    run_cli: Callable[..., CliResult],
) -> None:
    _trees(tmp_path)
    plan = write_plan(PLAN)
    out = tmp_path / "saved.json"
    previewed = run_cli("plan", plan, "--out", out, "--format", output_format)
    assert previewed.code == 0, previewed.stderr
    (tmp_path / "src" / "tree" / "a.txt").write_text("changed: show contacts no worker\n")
    shown = run_cli("show", out, "--format", output_format)
    assert (shown.code, shown.stdout) == (0, previewed.stdout)


def test_out_into_a_directory_that_cannot_be_written_is_refused_before_the_preview(
    tmp_path: Path, write_plan: Callable[..., Path], run_cli: Callable[..., CliResult]
) -> None:
    plan = write_plan(PLAN)
    result = run_cli("plan", plan, "--out", tmp_path / "missing" / "saved.json")
    assert result.code == 2
    assert "--out" in result.stderr
    assert "cannot write into" in result.stderr
    assert result.stdout == ""


def test_detailed_exitcode_with_out(
    tmp_path: Path, saved: Path, write_plan: Callable[..., Path], run_cli: Callable[..., CliResult]
) -> None:
    plan = tmp_path / "plan.yaml"
    out = tmp_path / "again.json"
    assert run_cli("plan", plan, "--out", out, "--detailed-exitcode").code == 2
    assert run_cli("run", out, "-q").code == 0
    assert run_cli("plan", plan, "--out", out, "--detailed-exitcode").code == 0
    assert json.loads(out.read_text())["preview"]["changes_pending"] is False
    failing = write_plan(
        """
        version: 1
        storages:
          src: {remote: local, root: ./src}
        copies:
          - {id: gone, src: "src:missing.txt", dst: "src:copy.txt"}
        """,
        name="failing.yaml",
    )
    assert run_cli("plan", failing, "--out", out, "--detailed-exitcode").code == 1


def test_a_saved_plan_holds_no_token_and_no_secret(
    tmp_path: Path,
    write_plan: Callable[..., Path],
    run_cli: Callable[..., CliResult],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret, token = "s3cr3t-value-42", "tok-0123456789abcdef"
    monkeypatch.setenv("SECRET_TAG", secret)
    data = tmp_path / "data"
    (data / "in").mkdir(parents=True)
    (data / "in" / "f.txt").write_text("f\n")
    plan = write_plan(
        """
        version: 1
        vars:
          tag: "${env:SECRET_TAG}"
          plain: visible
        storages:
          d: {remote: data, root: ""}
        copies:
          - {id: c, src: "d:in/", dst: "d:out/"}
        metadata:
          - {id: m, path: "d:in", set: {plain: "${plain}"}}
        """
    )
    embedded, handle = start_worker(tmp_path / "w", roots={"data": data}, token=token)
    try:
        monkeypatch.setenv("PLANNER_TOKEN", token)
        out = tmp_path / "saved.json"
        assert run_cli("plan", plan, "--out", out, "--api-url", handle.url).code == 0
        text = out.read_text()
        assert secret not in text
        assert token not in text
        inputs = json.loads(text)["inputs"]
        assert inputs["variables"]["plain"] == "visible"
        assert set(inputs["variables"]["tag"]) == {"sha256"}
        assert set(inputs["env"]) == {"SECRET_TAG"}
        # the secret changed: stale, and the report names it without either value
        monkeypatch.setenv("SECRET_TAG", "another-secret")
        result = run_cli("run", out, "--api-url", handle.url, "--format", "json")
        paths = {d["path"] for d in json.loads(result.stdout)["differences"]}
        assert paths == {"variable tag", "environment variable SECRET_TAG"}
        assert secret not in result.stdout + result.stderr
        assert "another-secret" not in result.stdout + result.stderr
    finally:
        embedded.stop()


MIRROR_PLAN = """
    version: 1
    storages:
      src: {remote: local, root: ./src}
      dst: {remote: local, root: ./dst}
    copies:
      - {id: mirrored, src: "src:", dst: "dst:", mirror: true}
"""


def test_a_saved_mirror_deletes_exactly_what_it_listed_and_a_new_extra_file_makes_it_stale(
    tmp_path: Path, write_plan: Callable[..., Path], run_cli: Callable[..., CliResult]
) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "keep.txt").write_text("keep\n")
    (tmp_path / "dst" / "gone").mkdir(parents=True)
    (tmp_path / "dst" / "gone" / "old.txt").write_text("old\n")
    (tmp_path / "dst" / "extra.txt").write_text("extra\n")
    plan = write_plan(MIRROR_PLAN)
    out = tmp_path / "mirror.plan"
    assert run_cli("plan", plan, "--out", out).code == 0
    deletions = {
        i["dst"]
        for a in json.loads(out.read_text())["preview"]["actions"]
        for i in a["items"]
        if i["kind"] in ("remove", "rmdir")
    }
    assert {d.rsplit("/dst/", 1)[1] for d in deletions} >= {"extra.txt", "gone"}
    # a file that appears in the mirrored destination after planning: not in what was reviewed
    (tmp_path / "dst" / "late.txt").write_text("late\n")
    assert _stale(run_cli("run", out)) >= 1
    assert (tmp_path / "dst" / "extra.txt").exists()
    (tmp_path / "dst" / "late.txt").unlink()
    result = run_cli("run", out, "-q")
    assert result.code == 0, result.stdout + result.stderr
    assert tree_bytes(tmp_path / "dst") == {"keep.txt": b"keep\n"}
    assert not (tmp_path / "dst" / "gone").exists()


def _extras(root: Path, count: int) -> None:
    """A source of one file, a destination holding it already (so that a mirror run that
    fails changes nothing) and `count` files of its own."""
    (root / "src").mkdir()
    (root / "src" / "keep.txt").write_text("keep\n")
    (root / "dst").mkdir()
    shutil.copy2(root / "src" / "keep.txt", root / "dst" / "keep.txt")
    for i in range(count):
        (root / "dst" / f"extra{i}.txt").write_text("extra\n")


def test_a_plan_saved_with_max_delete_runs_with_it_and_is_not_stale(
    tmp_path: Path, write_plan: Callable[..., Path], run_cli: Callable[..., CliResult]
) -> None:
    _extras(tmp_path, 3)
    plan = write_plan(MIRROR_PLAN)
    out = tmp_path / "mirror.plan"
    assert run_cli("plan", plan, "--out", out, "--max-delete", "1").code == 1  # would fail
    # the check previews with the saved limit too: the same failure, not a stale plan
    result = run_cli("run", out)
    assert result.code == 1, result.stdout + result.stderr
    assert "stale plan" not in result.stderr
    assert "3 deletions needed, more than max_delete 1" in result.stdout + result.stderr
    assert sorted(p.name for p in (tmp_path / "dst").iterdir()) == [
        "extra0.txt",
        "extra1.txt",
        "extra2.txt",
        "keep.txt",
    ]


def test_max_delete_given_to_a_saved_plan_lowers_the_saved_limit_and_never_raises_it(
    tmp_path: Path, write_plan: Callable[..., Path], run_cli: Callable[..., CliResult]
) -> None:
    _extras(tmp_path, 3)
    plan = write_plan(MIRROR_PLAN)
    lenient, strict = tmp_path / "lenient.plan", tmp_path / "strict.plan"
    assert run_cli("plan", plan, "--out", lenient, "--max-delete", "5").code == 0
    assert run_cli("plan", plan, "--out", strict, "--max-delete", "1").code == 1
    raised = run_cli("run", strict, "--max-delete", "10")  # the saved 1 still holds
    assert raised.code == 1, raised.stdout + raised.stderr
    assert "more than max_delete 1" in raised.stdout + raised.stderr
    lowered = run_cli("run", lenient, "--max-delete", "2")
    assert lowered.code == 1, lowered.stdout + lowered.stderr
    assert "3 deletions needed, more than max_delete 2: nothing deleted" in (
        lowered.stdout + lowered.stderr
    )
    assert len(list((tmp_path / "dst").iterdir())) == 4  # the source's file, and the 3 extras
    result = run_cli("run", lenient, "-q")
    assert result.code == 0, result.stdout + result.stderr
    assert tree_bytes(tmp_path / "dst") == {"keep.txt": b"keep\n"}
