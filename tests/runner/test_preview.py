"""`planner plan` (and `planner run --dry-run`) through the real CLI and real workers: the preview
sends only read requests and changes nothing; a run right after it does exactly what it said, on
varied trees; actions reading what earlier actions write are predicted, not reported missing."""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from planner.worker.auth import Authenticator
from tests.helpers.cli import CliResult, actions_of, preview_json, run_json
from tests.helpers.trees import tree_stats
from tests.helpers.workers import start_worker

READ_ROUTES = {
    ("GET", "/api/v1/"),
    ("GET", "/api/v1"),
    ("GET", "/api/v1/storage"),
    ("GET", "/api/v1/operations"),
    ("GET", "/api/v1/operations/{id}"),
    ("POST", "/api/v1/storage:list"),
    ("POST", "/api/v1/storage:exists"),
    ("POST", "/api/v1/storage:stat"),
    ("POST", "/api/v1/metadata:get"),
    ("POST", "/api/v1/permissions:get"),
    ("POST", "/api/v1/permissions:check"),
    ("POST", "/api/v1/storage:compare_tree"),  # the same walk as copy_tree, nothing written
    ("GET", "/api/v1/operations/{id}/files"),
}

PLAN = """
    version: 1
    storages:
      src: {remote: local, root: ./src}
      dst: {remote: local, root: ./dst}
    directories:
      - {id: made, path: "dst:made/sub"}
    copies:
      - id: mirror
        src: "src:tree/"
        dst: "dst:mirror/"
        exclude: ["*.skip"]
        overwrite: OVERWRITE
      - {id: second, src: "dst:mirror/", dst: "dst:second/"}
      - {id: single, src: "src:one.txt", dst: "dst:single/"}
    moves:
      - {id: moved, src: "src:tomove.txt", dst: "dst:moved.txt"}
    removals:
      - {id: clean, path: "dst:old/"}
      - {id: tmps, path: "dst:junk/*.tmp"}
    metadata:
      - {id: tag, path: "dst:mirror", set: {owner: cfd, stage: "1"}, unset: [draft]}
    permissions:
      - {id: share, path: "dst:second", grant: [{group: cfd, role: reader}]}
    checks:
      - {id: arrived, exists: "dst:second"}
"""


def route(method: str, path: str) -> tuple[str, str]:
    """A logged request as its route: operation ids become `{id}`."""
    head, _, last = path.rpartition("/")
    if head == "/api/v1/operations" and ":" not in last:
        return method, "/api/v1/operations/{id}"
    if last == "files" and head.rpartition("/")[0] == "/api/v1/operations":
        return method, "/api/v1/operations/{id}/files"
    return method, path


def varied_trees(root: Path, seed: int) -> None:
    """A source tree and a destination that partly holds it already: identical, changed, missing
    and extra files, old directories and junk to remove (all seeded)."""
    rng = random.Random(seed)
    src, dst = root / "src", root / "dst"
    for i in range(rng.randint(20, 60)):
        deeper = f"e{rng.randint(0, 2)}/" if rng.random() < 0.4 else ""
        suffix = rng.choice(["txt", "bin", "skip"])
        rel = f"d{rng.randint(0, 4)}/{deeper}f{i}.{suffix}"
        data = rng.randbytes(rng.randint(0, 3000))
        source = src / "tree" / rel
        source.parent.mkdir(parents=True, exist_ok=True)
        source.write_bytes(data)
        fate = rng.choice(["same", "changed", "missing"])
        if fate == "missing" or rel.endswith(".skip"):
            continue
        there = dst / "mirror" / rel
        there.parent.mkdir(parents=True, exist_ok=True)
        there.write_bytes(data if fate == "same" else data + b"!")
        if fate == "same":
            stat = source.stat()
            os.utime(there, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    (src / "one.txt").write_text("one\n")
    if rng.random() < 0.7:
        (src / "tomove.txt").write_text("moving\n")
    else:
        (dst / "moved.txt").parent.mkdir(parents=True, exist_ok=True)
        (dst / "moved.txt").write_text("moving\n")
    if rng.random() < 0.5:
        (dst / "old" / "deep").mkdir(parents=True)
        (dst / "old" / "deep" / "x").write_text("old")
    junk = dst / "junk"
    junk.mkdir(parents=True, exist_ok=True)
    for i in range(rng.randint(0, 4)):
        (junk / f"j{i}.tmp").write_text("junk")
    (junk / "keep.txt").write_text("keep")


def everything(root: Path) -> dict[str, tuple[int, int] | None]:
    """Every path under the trees and the worker's storage, with (size, mtime) for files."""
    found: dict[str, tuple[int, int] | None] = {}
    for top in ("src", "dst", "data"):
        for path in sorted((root / top).rglob("*")):
            stat = path.stat()
            found[str(path)] = (stat.st_size, stat.st_mtime_ns) if path.is_file() else None
    return found


_CHANGE = {"+": "create", "~": "update", "=": "unchanged", "-": "delete"}


@pytest.mark.parametrize(
    ("seed", "overwrite"), [(1, "if-different"), (2, "always"), (3, "if-newer"), (4, "never")]
)
def test_a_run_right_after_the_preview_does_exactly_what_it_said(
    seed: int,
    overwrite: str,
    tmp_path: Path,
    write_plan: Callable[..., Path],
    run_cli: Callable[..., CliResult],
) -> None:
    varied_trees(tmp_path, seed)
    plan = write_plan(PLAN.replace("OVERWRITE", overwrite))
    code, preview = preview_json(run_cli, plan)
    assert code == 0, preview
    code, run = run_json(run_cli, plan)
    assert code == 0, run

    ran = actions_of(run)
    for predicted in preview["actions"]:
        actual = ran[predicted["id"]]
        assert predicted["state"] == "would-succeed", predicted
        where = predicted["id"]
        assert _CHANGE[predicted["symbol"]] == actual["change"], where
        assert predicted["files"] == actual["files_done"], where
        assert predicted["files_unchanged"] == actual["files_unchanged"], where
        assert predicted["bytes"] == actual["bytes"], where
        assert predicted["detail"] == actual["detail"], where
        keys = {(i["kind"], i["key"]) for i in predicted["items"]}
        assert keys == {(i["kind"], i["key"]) for i in actual["items"]}, where
    totals = preview["totals"]
    assert totals["to_copy"] + totals["to_overwrite"] + totals["to_move"] == sum(
        a["files_done"] for a in run["actions"] if a["kind"] in ("copy", "move")
    )
    # and now nothing is pending (but `always` copies, which copy every time)
    code, again = preview_json(run_cli, plan, "--detailed-exitcode")
    pending = {a["id"] for a in again["actions"] if a["symbol"] != "="}
    if overwrite == "always":
        assert (code, pending) == (2, {"mirror"})
    else:
        assert (code, pending, again["changes_pending"]) == (0, set(), False)


def test_the_preview_sends_only_read_requests_and_changes_nothing(
    tmp_path: Path,
    write_plan: Callable[..., Path],
    run_cli: Callable[..., CliResult],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    varied_trees(tmp_path, 5)
    plan = write_plan(PLAN.replace("OVERWRITE", "always"))
    log: list[tuple[str, str]] = []
    embedded, handle = start_worker(tmp_path, request_log=log)
    try:
        monkeypatch.setenv("PLANNER_TOKEN", handle.token)
        before = everything(tmp_path)
        code, preview = preview_json(run_cli, plan, "--api-url", handle.url)
        assert code == 0, preview
        assert preview["changes_pending"] is True
        assert everything(tmp_path) == before
        routes = {route(method, path) for method, path in log}
        assert routes, "the preview asked the worker nothing"
        assert routes <= READ_ROUTES, sorted(routes - READ_ROUTES)
        # the same plan run for real does write (the log would show it)
        log.clear()
        result = run_cli("run", plan, "--api-url", handle.url, "-q")
        assert result.code == 0, result.stdout + result.stderr
        assert {route(method, path) for method, path in log} - READ_ROUTES
    finally:
        embedded.stop()


def test_what_earlier_actions_create_is_predicted_not_missing(
    tmp_path: Path, write_plan: Callable[..., Path], run_cli: Callable[..., CliResult]
) -> None:
    (tmp_path / "src" / "tree" / "a").mkdir(parents=True)
    for name in ("a/1.txt", "a/2.txt", "3.txt"):
        (tmp_path / "src" / "tree" / name).write_text(name)
    (tmp_path / "src" / "one.txt").write_text("one\n")
    (tmp_path / "src" / "tomove.txt").write_text("moving\n")
    plan = write_plan(PLAN.replace("OVERWRITE", "if-different"))
    code, preview = preview_json(run_cli, plan, "--detailed-exitcode")

    assert code == 2, preview  # changes pending
    actions = {a["id"]: a for a in preview["actions"]}
    # `second` copies what `mirror` would have copied; the check finds `second` there
    assert (actions["second"]["symbol"], actions["second"]["files"]) == ("+", 3)
    assert actions["arrived"]["symbol"] == "="
    assert actions["tag"]["detail"] == ["set owner='cfd'", "set stage='1'"]
    assert actions["share"]["detail"] == ["grant group cfd: reader"]
    assert not (tmp_path / "dst").exists()


def test_a_failing_preview_exits_1_and_names_what_would_fail(
    tmp_path: Path, write_plan: Callable[..., Path], run_cli: Callable[..., CliResult]
) -> None:
    (tmp_path / "src").mkdir()
    plan = write_plan(PLAN.replace("OVERWRITE", "always"))
    result = run_cli("plan", plan)

    assert result.code == 1
    lines = {line.split()[1]: line for line in result.stdout.splitlines() if line[:4].strip()}
    assert "! mirror" in lines["mirror"]
    where = tmp_path.resolve() / "src" / "tree"
    assert (
        f"would fail: src:tree/ (root ./src → {where}): no such file or directory"
        in (lines["mirror"])
    )
    assert "would be skipped: 'mirror' failed" in lines["second"]
    assert "would fail" in result.stdout.splitlines()[-1]


def test_markdown_dry_run_and_offline(
    tmp_path: Path,
    write_plan: Callable[..., Path],
    run_cli: Callable[..., CliResult],
    unused_port: int,
) -> None:
    varied_trees(tmp_path, 6)
    plan = write_plan(PLAN.replace("OVERWRITE", "if-different"))

    markdown = run_cli("plan", plan, "--format", "markdown")
    assert markdown.code == 0, markdown.stderr
    assert "| | action | kind | change |" in markdown.stdout
    assert "| `+` | `second` | copy |" in markdown.stdout
    assert "<details><summary>Details per action</summary>" in markdown.stdout

    dry = run_cli("run", plan, "--dry-run")
    plain = run_cli("plan", plan)
    assert (dry.code, dry.stdout) == (plain.code, plain.stdout)
    assert not (tmp_path / "dst" / "second").exists()

    # offline: the compiled order, and not one request (the API URL leads nowhere)
    url = f"http://127.0.0.1:{unused_port}/api/v1"
    offline = run_cli("plan", plan, "--offline", "--api-url", url)
    assert offline.code == 0, offline.stderr
    order = [line.split()[1] for line in offline.stdout.splitlines()[1:]]
    assert order.index("mirror") < order.index("second") < order.index("share")
    assert len(order) == 10


def test_the_preview_of_an_in_sync_tree_is_unchanged_at_every_level(
    tmp_path: Path, write_plan: Callable[..., Path], run_cli: Callable[..., CliResult]
) -> None:
    varied_trees(tmp_path, 7)
    plan = write_plan(PLAN.replace("OVERWRITE", "if-different"))
    assert run_cli("run", plan, "-q").code == 0
    before = tree_stats(tmp_path / "dst")

    text = run_cli("plan", plan, "--detailed-exitcode")

    assert text.code == 0, text.stdout
    assert text.stdout.splitlines()[-1].startswith("Plan: 0 files (0 B) to copy; ")
    assert tree_stats(tmp_path / "dst") == before


def test_with_detailed_exitcode_every_error_is_1(
    tmp_path: Path,
    write_plan: Callable[..., Path],
    run_cli: Callable[..., CliResult],
    unused_port: int,
) -> None:
    invalid = write_plan("version: 1\nstorages: {}\ncopies: [{src: 'x:a', dst: 'x:b'}]\n")
    assert run_cli("plan", invalid).code == 2
    assert run_cli("plan", invalid, "--detailed-exitcode").code == 1

    valid = write_plan(PLAN.replace("OVERWRITE", "always"), name="valid.yaml")
    nowhere = f"http://127.0.0.1:{unused_port}/api/v1"
    unreachable = run_cli("plan", valid, "--api-url", nowhere)
    assert unreachable.code == 3, unreachable.stderr
    assert run_cli("plan", valid, "--api-url", nowhere, "--detailed-exitcode").code == 1


def test_a_write_the_caller_may_not_make_is_predicted_to_fail(
    tmp_path: Path,
    write_plan: Callable[..., Path],
    run_cli: Callable[..., CliResult],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    users = tmp_path / "users.yaml"
    users.write_text(
        "users:\n"
        "  - {name: alice, token: alice-token}\n"
        "  - {name: root, token: root-token, admin: true}\n"
    )
    embedded, handle = start_worker(tmp_path, authenticator=Authenticator.from_users_file(users))
    try:
        (handle.roots["any"] / "in").mkdir(parents=True)
        (handle.roots["any"] / "in" / "f.txt").write_text("f")
        (handle.roots["any"] / "out").mkdir()
        grants = [("in", "reader"), ("out", "reader"), ("out/allowed", "writer")]
        response = httpx.post(
            f"{handle.url}/permissions:set",
            headers={"Authorization": "Bearer root-token"},
            json={
                "permissions": [
                    {
                        "resource": {"path": path},
                        "role": role,
                        "subject": {"id": "alice", "type": "user"},
                    }
                    for path, role in grants
                ]
            },
        )
        assert response.is_success, response.text
        plan = write_plan(
            """
            version: 1
            storages:
              src: {remote: any, root: in}   # reader on in/ only: not on its parent
              out: {remote: any, root: out}
            copies:
              - {id: allowed, src: "src:", dst: "out:allowed/"}
              - {id: forbidden, src: "src:", dst: "out:forbidden/"}
            permissions:
              - {id: share, path: "out:allowed", grant: [{group: cfd, role: reader}]}
            """
        )
        monkeypatch.setenv("PLANNER_TOKEN", "alice-token")
        code, preview = preview_json(run_cli, plan, "--api-url", handle.url)
        actions = {a["id"]: a for a in preview["actions"]}
        assert code == 1
        assert actions["allowed"]["symbol"] == "+", actions["allowed"]["error"]
        assert actions["forbidden"]["symbol"] == "!"
        assert (
            "permission denied (predicted): no writer role on any:out/forbidden/f.txt"
            in (actions["forbidden"]["error"])
        )
        assert actions["share"]["symbol"] == "!"
        assert "no admin role" in actions["share"]["error"]
        # the run meets exactly those refusals, and only those
        code, run = run_json(run_cli, plan, "--api-url", handle.url, "--keep-going")
        ran = actions_of(run)
        assert code == 1
        assert {k: a["state"] for k, a in ran.items()} == {
            "allowed": "succeeded",
            "forbidden": "failed",
            "share": "failed",
        }
        assert "403" in ran["forbidden"]["error"]
        assert (handle.roots["any"] / "out" / "allowed" / "f.txt").read_text() == "f"
        assert not (handle.roots["any"] / "out" / "forbidden").exists()

        monkeypatch.setenv("PLANNER_TOKEN", "root-token")
        code, preview = preview_json(run_cli, plan, "--api-url", handle.url)
        assert code == 0, preview
        assert {a["id"]: a["symbol"] for a in preview["actions"]} == {
            "allowed": "=",
            "forbidden": "+",
            "share": "~",
        }
    finally:
        embedded.stop()
