"""Plans with an object remote when things go wrong: a worker failing requests and items
(`--inject-faults`, through PLANNER_WORKER_FAULTS) still ends byte-exact, and a run killed with
SIGKILL mid-upload leaves only whole objects, which `--resume` completes without copying again."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers.cli import CliResult, copied_keys, run_json
from tests.helpers.trees import make_tree
from tests.s3server import S3Server

PLAN = """
    version: 1
    storages:
      src: {remote: local, root: ./src}
      bkt: {remote: bkt, root: up}
    defaults:
      retry: {attempts: 10, delay: 10ms, max_delay: 100ms}
    copies:
      - {id: tree, src: "src:", dst: "bkt:"}
"""


def test_injected_faults_are_retried_until_the_bucket_is_byte_exact(
    tmp_path: Path,
    bucket: str,
    s3: S3Server,
    write_plan: Callable[..., Path],
    run_cli: Callable[..., CliResult],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = random.Random(11)
    files = {f"d{i % 4}/f{i:03d}.bin": rng.randbytes(rng.randrange(0, 20_000)) for i in range(60)}
    make_tree(tmp_path / "src", files)
    plan = write_plan(PLAN)
    monkeypatch.setenv("PLANNER_WORKER_FAULTS", "http=0.2,operation=0.2,seed=5")

    code, document = run_json(run_cli, plan, "--remote", f"bkt=s3://{bucket}/pre")

    assert code == 0, document
    assert s3.objects(bucket) == {f"pre/up/{rel}": data for rel, data in files.items()}


def test_a_run_killed_mid_upload_leaves_whole_objects_and_resumes_copying_only_the_rest(
    tmp_path: Path,
    bucket: str,
    s3: S3Server,
    write_plan: Callable[..., Path],
    run_cli: Callable[..., CliResult],
) -> None:
    rng = random.Random(12)
    files = {f"d{i % 8}/f{i:04d}.bin": rng.randbytes(32 * 1024) for i in range(400)}
    make_tree(tmp_path / "src", files)
    plan = write_plan(PLAN)
    # 80 ms an item on the 8 item threads of a worker with an object remote: about 4 s in all,
    # so the kill comes mid-way
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PLANNER_WORKER_FAULTS": "item_delay=80ms"}
    with open(tmp_path / "run.out", "wb") as out:
        run = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "planner",
                "run",
                str(plan),
                "-q",
                "--batch-size",
                "20",
                "--remote",
                f"bkt=s3://{bucket}/pre",
            ],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 120
        while len(s3.objects(bucket)) < 20:
            assert run.poll() is None, (tmp_path / "run.out").read_text()
            assert time.monotonic() < deadline, "no upload in time"
            time.sleep(0.05)  # a polling interval, not a synchronisation
        run.send_signal(signal.SIGKILL)
        assert run.wait(timeout=60) == -signal.SIGKILL
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()

    before = s3.objects(bucket)
    for key, data in before.items():  # every object there is its source's whole copy
        assert data == files[key.removeprefix("pre/up/")], key
    assert 20 <= len(before) < len(files), "the kill should have come mid-way"

    code, document = run_json(run_cli, plan, "--resume", "--remote", f"bkt=s3://{bucket}/pre")

    assert code == 0, document
    assert s3.objects(bucket) == {f"pre/up/{rel}": data for rel, data in files.items()}
    done_before = {key.removeprefix("pre/up/") for key in before}
    assert len(copied_keys(document, "tree")) == len(files) - len(done_before)
