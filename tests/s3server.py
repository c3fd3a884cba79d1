"""A real S3-compatible server for tests: moto in server mode, in a subprocess of its own on
127.0.0.1 with a port the kernel picks (`python -m tests.s3server` prints it on its first line
and serves until its standard input ends, so it never outlives the test run).

`S3Server` starts it, makes buckets, and gives the AWS environment that points planner (obstore)
and boto3 at it. `with_auth()` makes the server check credentials (moto accepts any by default):
an IAM user with full access is made first, and its keys are the only ones that work after."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path
from typing import Any

START_TIMEOUT = 60.0


class S3Server:
    """One moto server subprocess."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.s3server"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], START_TIMEOUT)
        line = self.proc.stdout.readline().decode().strip() if ready else ""
        if not line.isdigit():
            self.stop()
            raise RuntimeError(f"the moto server did not start (it said {line!r})")
        self.port = int(line)
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.access_key = "testing"
        self.secret_key = "testing-secret"

    def env(self, **changes: str) -> dict[str, str]:
        """The AWS environment of a client of this server (merged over `changes`)."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            **changes,
        }

    def client(self) -> Any:
        """A boto3 S3 client of this server (a test's other client)."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
        )

    def bucket(self) -> str:
        """A new bucket with a unique name."""
        name = f"test-{uuid.uuid4().hex[:16]}"
        self.client().create_bucket(Bucket=name)
        return name

    def with_auth(self) -> None:
        """Check credentials from now on: an IAM user allowed everything is made, and its keys
        become this server's (`env`, `client`)."""
        import boto3

        iam = boto3.client(
            "iam",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
        )
        iam.create_user(UserName="planner-test")
        policy = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
        }
        iam.put_user_policy(
            UserName="planner-test", PolicyName="all", PolicyDocument=json.dumps(policy)
        )
        key = iam.create_access_key(UserName="planner-test")["AccessKey"]
        self.access_key, self.secret_key = key["AccessKeyId"], key["SecretAccessKey"]
        request = urllib.request.Request(
            f"{self.endpoint}/moto-api/reset-auth",
            data=b"0",
            method="POST",
            headers={"Content-Type": "text/plain"},
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert answer.status == 200

    def objects(self, bucket: str, prefix: str = "") -> dict[str, bytes]:
        """Every object below `prefix` and its bytes (read with the other client)."""
        client = self.client()
        found: dict[str, bytes] = {}
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                body = client.get_object(Bucket=bucket, Key=item["Key"])["Body"]
                found[item["Key"]] = body.read()
        return found

    def cpu_seconds(self) -> float:
        """The user + system seconds the server's process has used so far (a benchmark's
        measure of what a client's requests cost it)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        """End the server (its input closed), SIGKILL if it lingers."""
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def _serve() -> None:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    print(server.get_host_and_port()[1], flush=True)
    sys.stdin.read()  # until the test run closes it (or dies)
    server.stop()


if __name__ == "__main__":
    os.environ.setdefault("MOTO_ALLOW_NONEXISTENT_REGION", "true")
    _serve()
