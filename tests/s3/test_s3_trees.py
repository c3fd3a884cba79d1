"""Directory copies with an object remote at one end or both, as tree operations of the worker
(`planner.tree.objects`): local → s3, s3 → local and s3 → s3 through the real CLI against a real
worker (its request log shows that the runner sent tree operations, not file copies) and the real
S3 server of tests/s3server.py; every overwrite policy with its preview, mirrors on both kinds,
`checksum: true` on the API, injected faults, and a worker without the feature."""

from __future__ import annotations

import os
import random
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import xxhash

from planner.worker.faults import FaultSpec
from planner.worker.objects.location import ObjectLocation
from planner.worker.storage import Storages
from tests.helpers.cli import CliResult, actions_of, preview_json, run_json
from tests.helpers.trees import make_tree
from tests.helpers.worker_api import failed_with, run, submit, succeeded, wait_all
from tests.helpers.workers import WorkerHandle, start_worker
from tests.s3server import S3Server

PREFIX = "pre/"
Api = Callable[..., tuple[WorkerHandle, tuple[str, ...]]]


def source_tree(root: Path, seed: int = 3) -> dict[str, bytes]:
    """Files in subdirectories, an empty one, and files `exclude: ["*.tmp"]` leaves out; what
    a copy keeps."""
    rng = random.Random(seed)
    kept = {"empty.txt": b""}
    kept.update(
        {f"d{i % 3}/e{i % 2}/f{i}.bin": rng.randbytes(rng.randint(1, 9000)) for i in range(24)}
    )
    make_tree(root, {**kept, "skip/me.tmp": b"no", "x.tmp": b"no"})
    return kept


def files_under(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def topmost(items: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Items without the deletions below a deleted directory: a tree operation rows every path
    it deletes, a preview that lists the trees (an earlier copy changes them) one rmdir."""
    dirs = [key for kind, key in items if kind == "rmdir"]
    return {(k, key) for k, key in items if not any(key.startswith(f"{d}/") for d in dirs)}


def tree_posts(handle: WorkerHandle) -> tuple[int, int]:
    """(tree operations, file copies) the worker was sent."""
    log = handle.config.request_log or []
    trees = sum(1 for method, path in log if method == "POST" and path.endswith(":copy_tree"))
    copies = sum(1 for method, path in log if method == "POST" and path.endswith("/storage:copy"))
    return trees, copies


@pytest.fixture
def api(tmp_path: Path, bucket: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    """Start a real worker with `data` (a directory) and `bkt`, `bkt2` (prefixes of the test's
    bucket); `--api-url` for the CLI."""
    started: list[Any] = []

    def start(**options: Any) -> tuple[WorkerHandle, tuple[str, ...]]:
        roots: dict[str, Any] = {
            "data": tmp_path / "data",
            "bkt": ObjectLocation("s3", bucket, "pre"),
            "bkt2": ObjectLocation("s3", bucket, "two"),
        }
        embedded, handle = start_worker(tmp_path / "worker", roots=roots, request_log=[], **options)
        started.append(embedded)
        monkeypatch.setenv("PLANNER_TOKEN", handle.token)
        return handle, ("--api-url", handle.url)

    yield start
    for embedded in started:
        embedded.stop()


ROUND_TRIP = """
    version: 1
    storages:
      data: {remote: data, root: .}
      bkt: {remote: bkt, root: runs}
      bkt2: {remote: bkt2, root: .}
    copies:
      - {id: up, src: "data:src/", dst: "bkt:tree/", exclude: ["*.tmp"]}
      - {id: across, src: "bkt:tree/", dst: "bkt2:tree/", exclude: ["d1/"], needs: [up]}
      - {id: down, src: "bkt2:tree/", dst: "data:back/", include: ["*.bin"], needs: [across]}
"""


def test_trees_across_kinds_are_tree_operations_byte_exact_and_idempotent(
    tmp_path: Path,
    bucket: str,
    s3: S3Server,
    api: Api,
    write_plan: Callable[..., Path],
    run_cli: Callable[..., CliResult],
) -> None:
    handle, url = api()
    data = handle.roots["data"]
    kept = source_tree(data / "src")
    mtimes = {rel: (data / "src" / rel).stat().st_mtime_ns for rel in kept}
    plan = write_plan(ROUND_TRIP)

    code, first = run_json(run_cli, plan, *url)

    assert code == 0, first
    assert tree_posts(handle) == (3, 0)  # one tree operation per copy, no file copies
    assert s3.objects(bucket, "pre/") == {f"pre/runs/tree/{r}": b for r, b in kept.items()}
    across = {r: b for r, b in kept.items() if not r.startswith("d1/")}
    assert s3.objects(bucket, "two/") == {f"two/tree/{r}": b for r, b in across.items()}
    down = {r: b for r, b in across.items() if r.endswith(".bin")}
    assert files_under(data / "back") == down
    for rel in down:  # the source's mtime went up in the metadata, and came back down
        assert (data / "back" / rel).stat().st_mtime_ns == mtimes[rel], rel
    counts = {a["id"]: (a["files_done"], a["files_filtered"]) for a in first["actions"]}
    assert counts == {
        "up": (len(kept), 2),
        "across": (len(across), len(kept) - len(across)),
        "down": (len(down), len(across) - len(down)),
    }

    code, again = run_json(run_cli, plan, *url)

    assert code == 0, again
    assert again["totals"]["copied"] == 0
    unchanged = {a["id"]: a["files_unchanged"] for a in again["actions"]}
    assert unchanged == {"up": len(kept), "across": len(across), "down": len(down)}
    assert tree_posts(handle) == (6, 0)


@pytest.mark.parametrize("overwrite", ["if-different", "always", "if-newer", "never"])
def test_each_policy_downloads_what_its_preview_says(
    overwrite: str,
    tmp_path: Path,
    bucket: str,
    s3: S3Server,
    api: Api,
    write_plan: Callable[..., Path],
    run_cli: Callable[..., CliResult],
) -> None:
    handle, url = api()
    data = handle.roots["data"]
    kept = source_tree(data / "src", seed=len(overwrite))
    plan = write_plan(
        """
        version: 1
        storages:
          data: {remote: data, root: .}
          bkt: {remote: bkt, root: t}
        copies:
          - {id: up, src: "data:src/", dst: "bkt:tree/", exclude: ["*.tmp"]}
        """
    )
    assert run_json(run_cli, plan, *url)[0] == 0
    rng = random.Random(overwrite)
    fates: dict[str, str] = {}
    for rel, body in kept.items():  # the destination partly holds the tree already
        fates[rel] = fate = rng.choice(["same", "changed", "older", "newer", "missing"])
        if fate == "missing":
            continue
        path = data / "back" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body + b"!" if fate == "changed" else body)
        mtime = (data / "src" / rel).stat().st_mtime_ns
        shift = {"older": -(10**9), "newer": 10**9}.get(fate, 0)
        os.utime(path, ns=(mtime + shift, mtime + shift))
    expected = {
        "always": set(kept),
        "never": {r for r, f in fates.items() if f == "missing"},
        "if-newer": {r for r, f in fates.items() if f in ("missing", "older")},
        "if-different": {
            r for r, f in fates.items() if f in ("missing", "older", "newer", "changed")
        },
    }[overwrite]
    plan = write_plan(
        f"""
        version: 1
        storages:
          data: {{remote: data, root: .}}
          bkt: {{remote: bkt, root: t}}
        copies:
          - {{id: down, src: "bkt:tree/", dst: "data:back/", overwrite: {overwrite}}}
        """
    )

    code, preview = preview_json(run_cli, plan, *url)
    assert code == 0, preview
    code, ran = run_json(run_cli, plan, *url)
    assert code == 0, ran

    [predicted] = preview["actions"]
    actual = actions_of(ran)["down"]
    assert predicted["files"] == actual["files_done"] == len(expected)
    assert predicted["files_unchanged"] == actual["files_unchanged"] == len(kept) - len(expected)
    assert predicted["bytes"] == actual["bytes"]
    keys = {(i["kind"], i["key"]) for i in predicted["items"]}
    assert keys == {(i["kind"], i["key"]) for i in actual["items"]}
    assert {i["key"] for i in actual["items"] if i["kind"] == "copy"} == expected
    for rel, body in kept.items():
        if rel in expected:
            assert (data / "back" / rel).read_bytes() == body, rel
        elif fates[rel] == "changed":  # left as it was
            assert (data / "back" / rel).read_bytes() == body + b"!", rel
    assert tree_posts(handle)[1] == 0


MIRROR = """
    version: 1
    storages:
      data: {remote: data, root: .}
      bkt: {remote: bkt, root: m}
    copies:
      - {id: up, src: "data:src/", dst: "bkt:tree/", mirror: true, exclude: ["*.tmp"]}
      - {id: down, src: "bkt:tree/", dst: "data:back/", mirror: true, needs: [up]}
"""


def test_mirrors_delete_the_extras_of_an_object_and_of_a_local_destination(
    tmp_path: Path,
    bucket: str,
    s3: S3Server,
    api: Api,
    write_plan: Callable[..., Path],
    run_cli: Callable[..., CliResult],
) -> None:
    handle, url = api()
    data = handle.roots["data"]
    kept = source_tree(data / "src")
    client = s3.client()
    for key in ("old.bin", "gone/deep/x.bin", "gone/y.bin", "notes.tmp"):
        client.put_object(Bucket=bucket, Key=f"pre/m/tree/{key}", Body=b"extra")
    make_tree(data / "back", {"stale.bin": b"s", "olddir/a/b.bin": b"b", "d0/extra.bin": b"e"})
    plan = write_plan(MIRROR)

    code, preview = preview_json(run_cli, plan, *url)
    assert code == 0, preview
    code, ran = run_json(run_cli, plan, *url)

    assert code == 0, ran
    # the excluded notes.tmp is protected (no delete_excluded)
    assert s3.objects(bucket) == {
        **{f"pre/m/tree/{r}": b for r, b in kept.items()},
        "pre/m/tree/notes.tmp": b"extra",
    }
    assert files_under(data / "back") == {**kept, "notes.tmp": b"extra"}
    assert not (data / "back" / "olddir").exists()
    actual = actions_of(ran)
    for predicted in preview["actions"]:  # topmost: see the mirror tests of tests/runner
        keys = topmost({(i["kind"], i["key"]) for i in predicted["items"]})
        assert keys == topmost({(i["kind"], i["key"]) for i in actual[predicted["id"]]["items"]})
    removed = {i["key"] for i in actual["up"]["items"] if i["kind"] in ("remove", "rmdir")}
    assert {"old.bin", "gone/deep/x.bin", "gone/y.bin", "gone"} <= removed
    assert tree_posts(handle) == (2, 0)

    code, again = run_json(run_cli, plan, *url)
    assert (code, again["totals"]["copied"]) == (0, 0)
    assert all(i["kind"] not in ("remove", "rmdir") for a in again["actions"] for i in a["items"])


def test_injected_faults_then_byte_exact(
    tmp_path: Path,
    bucket: str,
    s3: S3Server,
    api: Api,
    write_plan: Callable[..., Path],
    run_cli: Callable[..., CliResult],
) -> None:
    handle, url = api(faults=FaultSpec(http=0.2, operation=0.3, file_delay=0.001, seed=4))
    data = handle.roots["data"]
    kept = source_tree(data / "src", seed=9)
    plan = write_plan(
        ROUND_TRIP.replace(
            "copies:",
            "defaults:\n      retry: {attempts: 20, delay: 10ms, max_delay: 50ms}\n    copies:",
        )
    )

    code, document = run_json(run_cli, plan, *url)

    assert code == 0, document
    assert s3.objects(bucket, "pre/") == {f"pre/runs/tree/{r}": b for r, b in kept.items()}
    across = {r: b for r, b in kept.items() if not r.startswith("d1/")}
    assert files_under(data / "back") == {r: b for r, b in across.items() if r.endswith(".bin")}
    assert tree_posts(handle)[1] == 0


def test_a_worker_without_the_feature_gets_file_copies(
    tmp_path: Path,
    bucket: str,
    s3: S3Server,
    api: Api,
    write_plan: Callable[..., Path],
    run_cli: Callable[..., CliResult],
) -> None:
    handle, url = api(object_trees=False)
    features = httpx.get(f"{handle.url}/", headers=handle.headers).json()["features"]
    assert "planner.tree.objects" not in features["operation_plugins"]
    data = handle.roots["data"]
    kept = source_tree(data / "src")
    plan = write_plan(ROUND_TRIP)

    code, first = run_json(run_cli, plan, *url)

    assert code == 0, first
    trees, copies = tree_posts(handle)
    assert (trees, copies > 0) == (0, True)
    assert s3.objects(bucket, "pre/") == {f"pre/runs/tree/{r}": b for r, b in kept.items()}
    across = {r: b for r, b in kept.items() if not r.startswith("d1/")}
    assert files_under(data / "back") == {r: b for r, b in across.items() if r.endswith(".bin")}


def test_checksum_true_on_the_api_compares_stored_checksums(
    tmp_path: Path, bucket: str, s3: S3Server, api: Api
) -> None:
    handle, _ = api()
    data = handle.roots["data"]
    make_tree(data / "src", {"a.bin": b"original", "b.bin": b"same"})
    body = {
        "operations": [
            {
                "src": {"remote": "data", "path": "src"},
                "dst": {"remote": "bkt", "path": "c"},
                "checksum": True,
            }
        ]
    }
    with httpx.Client(base_url=handle.url, headers=handle.headers, timeout=30) as client:
        first = succeeded(run(client, "/storage:copy_tree", body))
        assert first["result"]["copied"] == 2
        key = "pre/c/a.bin"
        metadata = s3.client().head_object(Bucket=bucket, Key=key)["Metadata"]
        forged = b"ORIGINAL"  # same size, same mtime: only the content differs
        s3.client().put_object(
            Bucket=bucket,
            Key=key,
            Body=forged,
            Metadata={"mtime": metadata["mtime"], "xxh64": xxhash.xxh64_hexdigest(forged)},
        )
        compared = succeeded(run(client, "/storage:compare_tree", body))["result"]
        assert (compared["copied"], compared["overwritten"], compared["compared"]) == (0, 1, 2)
        assert compared["unchanged"] == 1
        second = succeeded(run(client, "/storage:copy_tree", body))["result"]
        assert (second["overwritten"], second["unchanged"]) == (1, 1)
    assert s3.objects(bucket) == {"pre/c/a.bin": b"original", "pre/c/b.bin": b"same"}


def test_cancel_stops_the_copies_and_rows_exactly_what_was_uploaded(
    tmp_path: Path, bucket: str, s3: S3Server, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    handle, _ = api()
    files = make_tree(
        handle.roots["data"] / "src", {f"f{i:02d}.bin": bytes([i]) * 100 for i in range(60)}
    )
    reached, release = threading.Event(), threading.Event()
    copy = Storages.copy
    calls: list[str] = []

    def holding(self: Storages, *args: Any, **kwargs: Any) -> Any:
        calls.append(args[1])
        if args[1].endswith("f04.bin"):
            reached.set()
            assert release.wait(20)
        return copy(self, *args, **kwargs)

    monkeypatch.setattr(Storages, "copy", holding)
    body = {
        "operations": [
            {"src": {"remote": "data", "path": "src"}, "dst": {"remote": "bkt", "path": "c"}}
        ]
    }
    with httpx.Client(base_url=handle.url, headers=handle.headers, timeout=30) as client:
        op_id = submit(client, "/storage:copy_tree", body)
        assert reached.wait(20)
        assert client.post(f"/operations/{op_id}:cancel").status_code == 200
        release.set()
        [op] = wait_all(client, [op_id])
        failed_with(op, 499)
        assert op["error"] == "cancelled"
        rows = client.get(f"/operations/{op_id}/files", params={"limit": 1000}).json()["rows"]
    uploaded = s3.objects(bucket)
    assert "pre/c/f04.bin" not in uploaded
    assert len(uploaded) < len(files)
    assert {f"pre/c/{row[0]}" for row in rows} == set(uploaded)  # each with its row, whole
    assert all(row[4] == "done" for row in rows)
    assert all(data == files[key.removeprefix("pre/c/")] for key, data in uploaded.items())
    assert op["result"]["copied"] == len(rows)
