"""Plans with an object remote, through the real CLI and its embedded worker (`--remote
NAME=s3://BUCKET/PREFIX`), against the real S3 server of tests/s3server.py: byte-exact round
trips, idempotent re-runs, previews that say exactly what the run does, checksum compares, and
what a user sees when the credentials are wrong."""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import xxhash

from tests.helpers.cli import EXAMPLES, CliResult, actions_of
from tests.helpers.s3 import S3Run, aws_free_environ, run_planner
from tests.s3server import S3Server

ROUND_TRIP = """
    version: 1
    storages:
      src: {remote: local, root: ./src}
      back: {remote: local, root: ./back}
      bkt: {remote: bkt, root: runs/one}
    copies:
      - {id: up, src: "src:tree/", dst: "bkt:tree/", exclude: ["*.tmp"]}
      - {id: down, src: "bkt:tree/", dst: "back:tree/", needs: [up]}
"""
MULTIPART = 17 * 1024 * 1024 + 123  # above the 16 MiB threshold: a multipart upload


def tree(root: Path, seed: int = 7, *, big: bool = False) -> dict[str, bytes]:
    """A source tree: an empty file, small files in subdirectories, files the filter leaves
    out, and with `big` a file large enough for a multipart upload; what the copy keeps."""
    rng = random.Random(seed)
    kept: dict[str, bytes] = {"empty.txt": b""}
    for i in range(12):
        kept[f"d{i % 3}/f{i}.bin"] = rng.randbytes(rng.randint(1, 5000))
    if big:
        kept["big/large.bin"] = rng.randbytes(MULTIPART)
    for rel, data in {**kept, "skip/me.tmp": b"no", "x.tmp": b"no"}.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return kept


def files_under(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def remote(bucket: str, prefix: str = "pre") -> str:
    return f"bkt=s3://{bucket}/{prefix}"


def test_a_round_trip_is_byte_exact_and_a_rerun_copies_nothing(
    tmp_path: Path, s3_run: S3Run
) -> None:
    kept = tree(tmp_path / "src" / "tree", big=True)
    mtimes = {rel: (tmp_path / "src" / "tree" / rel).stat().st_mtime_ns for rel in kept}
    plan = s3_run.write_plan(ROUND_TRIP)

    code, first = s3_run.run(plan)
    assert code == 0, first
    stored = s3_run.objects()
    assert stored == {f"pre/runs/one/tree/{rel}": data for rel, data in kept.items()}
    assert files_under(tmp_path / "back" / "tree") == kept
    for rel, mtime in mtimes.items():
        assert (tmp_path / "back" / "tree" / rel).stat().st_mtime_ns == mtime, rel
    head = s3_run.s3.client().head_object(
        Bucket=s3_run.bucket, Key="pre/runs/one/tree/big/large.bin"
    )
    assert head["Metadata"]["xxh64"] == xxhash.xxh64_hexdigest(kept["big/large.bin"])
    assert "-" in head["ETag"]  # a multipart upload's ETag

    code, again = s3_run.run(plan)
    assert code == 0, again
    assert again["totals"]["copied"] == 0
    assert {a["id"]: a["files_unchanged"] for a in again["actions"]} == {
        "up": len(kept),
        "down": len(kept),
    }


@pytest.mark.parametrize("overwrite", ["if-different", "always", "if-newer", "never"])
def test_the_preview_says_exactly_what_the_run_does(
    overwrite: str, tmp_path: Path, s3_run: S3Run
) -> None:
    kept = tree(tmp_path / "src" / "tree", seed=len(overwrite))
    client = s3_run.s3.client()
    rng = random.Random(overwrite)
    for rel, data in kept.items():  # the bucket partly holds the tree already (another client)
        fate = rng.choice(["same", "changed", "older", "missing"])
        mtime_ns = (tmp_path / "src" / "tree" / rel).stat().st_mtime_ns
        if fate == "missing":
            continue
        there = mtime_ns - 10**9 if fate == "older" else mtime_ns
        body = data if fate == "same" else data + b"!"
        seconds, ns = divmod(there, 10**9)
        client.put_object(
            Bucket=s3_run.bucket,
            Key=f"pre/runs/one/tree/{rel}",
            Body=body,
            Metadata={"mtime": f"{seconds}.{ns:09d}"},
        )
    plan = s3_run.write_plan(
        f"""
        version: 1
        storages:
          src: {{remote: local, root: ./src}}
          bkt: {{remote: bkt, root: runs/one}}
        copies:
          - id: up
            src: "src:tree/"
            dst: "bkt:tree/"
            exclude: ["*.tmp"]
            overwrite: {overwrite}
          - {{id: single, src: "src:tree/empty.txt", dst: "bkt:single/"}}
        """
    )
    code, preview = s3_run.preview(plan)
    assert code == 0, preview
    code, ran = s3_run.run(plan)
    assert code == 0, ran

    actual = actions_of(ran)
    for predicted in preview["actions"]:
        where = predicted["id"]
        assert predicted["files"] == actual[where]["files_done"], where
        assert predicted["files_unchanged"] == actual[where]["files_unchanged"], where
        assert predicted["bytes"] == actual[where]["bytes"], where
        keys = {(i["kind"], i["key"]) for i in predicted["items"]}
        assert keys == {(i["kind"], i["key"]) for i in actual[where]["items"]}, where
    code, after = s3_run.preview(plan, "--detailed-exitcode")
    pending = {a["id"] for a in after["actions"] if a["symbol"] != "="}
    assert pending == ({"up"} if overwrite == "always" else set()), str(after["actions"][0])
    if overwrite in ("if-different", "always"):
        assert {k: v for k, v in s3_run.objects("pre/runs/one/tree/").items()} == {
            f"pre/runs/one/tree/{rel}": data for rel, data in kept.items()
        }


def test_checksum_true_finds_content_that_size_and_mtime_do_not(
    tmp_path: Path, s3_run: S3Run
) -> None:
    source = tmp_path / "src" / "tree" / "same-size.bin"
    source.parent.mkdir(parents=True)
    source.write_bytes(b"original")
    plan = s3_run.write_plan(
        """
        version: 1
        storages:
          src: {remote: local, root: ./src}
          bkt: {remote: bkt, root: c}
        copies:
          - {id: up, src: "src:tree/", dst: "bkt:tree/", checksum: CHECKSUM}
        """.replace("CHECKSUM", "false")
    )
    assert s3_run.run(plan)[0] == 0
    key = "pre/c/tree/same-size.bin"
    metadata = s3_run.s3.client().head_object(Bucket=s3_run.bucket, Key=key)["Metadata"]
    forged = b"ORIGINAL"  # same size, same mtime: only the content differs
    s3_run.s3.client().put_object(
        Bucket=s3_run.bucket,
        Key=key,
        Body=forged,
        Metadata={"mtime": metadata["mtime"], "xxh64": xxhash.xxh64_hexdigest(forged)},
    )
    code, blind = s3_run.run(plan)
    assert (code, blind["totals"]["copied"]) == (0, 0)

    plan.write_text(plan.read_text().replace("checksum: false", "checksum: true"))
    code, seen = s3_run.run(plan)
    assert (code, seen["totals"]["copied"]) == (0, 1)
    assert s3_run.objects() == {key: b"original"}


def test_remote_is_refused_with_an_api_url(
    tmp_path: Path, write_plan: Callable[..., Path], run_cli: Callable[..., CliResult]
) -> None:
    plan = write_plan(ROUND_TRIP)
    for command in ("run", "plan"):
        result = run_cli(
            command, plan, "--api-url", "http://127.0.0.1:9/api/v1", "--remote", "bkt=s3://b-1/x"
        )
        assert result.code == 2, result.stdout + result.stderr
        assert "--remote adds a remote to the embedded worker" in result.stderr


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("bkt=ftp://host/x", "unknown scheme 'ftp'"),
        ("bkt=s3://KEY:s3cr3t-value@bucket/x", "credentials do not belong"),
        ("bkt=s3://x/p", "not a valid bucket name"),
        ("any=s3://bucket-1/p", "--storage DIR"),
    ],
)
def test_a_wrong_remote_is_a_usage_error(
    value: str,
    says: str,
    tmp_path: Path,
    write_plan: Callable[..., Path],
    run_cli: Callable[..., CliResult],
) -> None:
    result = run_cli("plan", write_plan(ROUND_TRIP), "--remote", value)
    assert result.code == 2, result.stdout + result.stderr
    assert says in result.stderr
    assert "s3cr3t-value" not in result.stdout + result.stderr


def test_wrong_credentials_fail_the_action_naming_the_remote_without_a_traceback(
    tmp_path: Path, s3_auth: S3Server, write_plan: Callable[..., Path]
) -> None:
    bucket = s3_auth.bucket()
    tree(tmp_path / "src" / "tree")
    plan = write_plan(ROUND_TRIP)
    secret = "wrong-secret-value-0123456789"
    env = aws_free_environ(**s3_auth.env(AWS_SECRET_ACCESS_KEY=secret))
    done = run_planner(tmp_path, env, "run", plan, "--remote", remote(bucket))
    assert s3_auth.objects(bucket) == {}
    said = done.stdout + done.stderr
    assert done.returncode == 1, said
    assert "s3 remote 'bkt': access denied (SignatureDoesNotMatch)" in said
    assert "Traceback" not in said
    assert secret not in said
    log = (tmp_path / ".planner" / "worker" / "worker.log").read_text(errors="replace")
    assert secret not in log


def test_the_example_plan_ships_results_to_a_bucket(tmp_path: Path, s3_run: S3Run) -> None:
    example = shutil.copytree(
        EXAMPLES / "s3", tmp_path / "s3", ignore=shutil.ignore_patterns(".planner")
    )
    plan = example / "plan.yaml"
    result = s3_run.run_cli("run", plan, "--remote", s3_run.remote("ci", "results"))
    assert result.code == 0, result.stdout + result.stderr
    shipped = s3_run.objects()
    expected = {
        f"ci/runs/demo/{p.relative_to(example / 'data')}"
        for p in (example / "data").rglob("*")
        if p.is_file() and not p.name.endswith(".tmp")
    }
    assert set(shipped) == expected
    again = s3_run.run_cli(
        "plan", plan, "--remote", s3_run.remote("ci", "results"), "--detailed-exitcode"
    )
    assert again.code == 0, again.stdout + again.stderr


def test_a_worker_without_object_remotes_never_imports_the_object_store_client(
    tmp_path: Path,
) -> None:
    probe = (
        "import sys\n"
        "from planner.worker.storage import Storages\n"
        f"Storages({{'d': {str(tmp_path)!r}}}).list('d', '')\n"
        "print('obstore' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "False"
