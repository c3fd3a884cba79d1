"""Credentials from the AWS shared configuration: a profile in a credentials file (and its region
and endpoint in a config file) reaches the S3 server that checks credentials, through the real
CLI run as a subprocess with HOME and the AWS_ variables pointed at tmp_path; a profile that does
not exist is a clear error; environment variables beat the profile, as in the AWS CLI; no secret
is written anywhere."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest

from tests.helpers.s3 import aws_free_environ, run_planner
from tests.s3server import S3Server

PLAN = """
    version: 1
    storages:
      src: {remote: local, root: ./src}
      bkt: {remote: bkt, root: up}
    copies:
      - {id: up, src: "src:", dst: "bkt:"}
"""
FILES = {"a.txt": b"alpha", "d/b.bin": b"\x00beta\xff"}
WRONG_SECRET = "wrong-secret-from-the-environment-42"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An empty home directory for the run (no ~/.aws of the developer's)."""
    made = tmp_path / "home"
    made.mkdir()
    return made


def _source(tmp_path: Path) -> None:
    for rel, data in FILES.items():
        path = tmp_path / "src" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _run(
    tmp_path: Path, write_plan: Callable[..., Path], bucket: str, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    _source(tmp_path)
    plan = write_plan(PLAN)
    return run_planner(tmp_path, env, "run", plan, "--remote", f"bkt=s3://{bucket}/pre")


def _credentials(path: Path, server: S3Server, profile: str) -> Path:
    """A shared credentials file whose `profile` holds the server's keys."""
    return _write(
        path,
        f"[{profile}]\naws_access_key_id = {server.access_key}\n"
        f"aws_secret_access_key = {server.secret_key}\n",
    )


def _profile_ci(
    tmp_path: Path, home: Path, server: S3Server, config: str, **more: str
) -> dict[str, str]:
    """The environment of profile `ci`: its keys in a credentials file, `config` the config
    file, both under tmp_path/aws (plus `more`)."""
    credentials = _credentials(tmp_path / "aws" / "credentials", server, "ci")
    return aws_free_environ(
        HOME=str(home),
        AWS_PROFILE="ci",
        AWS_SHARED_CREDENTIALS_FILE=str(credentials),
        AWS_CONFIG_FILE=str(_write(tmp_path / "aws" / "config", config)),
        **more,
    )


def _everything_written(tmp_path: Path) -> str:
    """The run's output files, worker log, journal and database, as text."""
    parts: list[str] = []
    for path in (tmp_path / ".planner").rglob("*"):
        if not path.is_file():
            continue
        if path.suffix == ".db":
            # sqlite3's own context manager commits but does not close
            with closing(sqlite3.connect(path)) as db:
                parts.extend(str(line) for line in db.iterdump())
        else:
            parts.append(path.read_bytes().decode("utf-8", errors="replace"))
    return "\n".join(parts)


def _expected(bucket: str) -> dict[str, bytes]:
    return {f"pre/up/{rel}": data for rel, data in FILES.items()}


def test_a_profile_in_a_credentials_file_with_its_endpoint_in_the_config_file(
    tmp_path: Path, home: Path, s3_auth: S3Server, write_plan: Callable[..., Path]
) -> None:
    bucket = s3_auth.bucket()
    config = (
        "[profile ci]\nregion = us-east-1\nservices = local-s3\n\n"
        f"[services local-s3]\ns3 =\n  endpoint_url = {s3_auth.endpoint}\n"
    )
    env = _profile_ci(tmp_path, home, s3_auth, config)

    done = _run(tmp_path, write_plan, bucket, env)

    assert done.returncode == 0, done.stdout + done.stderr
    assert s3_auth.objects(bucket) == _expected(bucket)
    said = done.stdout + done.stderr + _everything_written(tmp_path)
    assert s3_auth.secret_key not in said


def test_the_default_profile_of_home_aws_files(
    tmp_path: Path, home: Path, s3_auth: S3Server, write_plan: Callable[..., Path]
) -> None:
    bucket = s3_auth.bucket()
    _credentials(home / ".aws" / "credentials", s3_auth, "default")
    _write(
        home / ".aws" / "config",
        f"[default]\nregion = us-east-1\nendpoint_url = {s3_auth.endpoint}\n",
    )

    done = _run(tmp_path, write_plan, bucket, aws_free_environ(HOME=str(home)))

    assert done.returncode == 0, done.stdout + done.stderr
    assert s3_auth.objects(bucket) == _expected(bucket)
    assert s3_auth.secret_key not in done.stdout + done.stderr + _everything_written(tmp_path)


def test_a_profile_that_does_not_exist_is_a_clear_error_without_a_traceback(
    tmp_path: Path, home: Path, s3_auth: S3Server, write_plan: Callable[..., Path]
) -> None:
    bucket = s3_auth.bucket()
    credentials = _credentials(tmp_path / "aws" / "credentials", s3_auth, "ci")
    env = aws_free_environ(
        HOME=str(home),
        AWS_PROFILE="no-such-profile",
        AWS_SHARED_CREDENTIALS_FILE=str(credentials),
        AWS_ENDPOINT_URL=s3_auth.endpoint,
    )

    done = _run(tmp_path, write_plan, bucket, env)

    said = done.stdout + done.stderr
    assert done.returncode == 2, said
    assert f"remote bkt (s3://{bucket}/pre): AWS configuration: " in said
    assert "The config profile (no-such-profile) could not be found" in said
    assert "Traceback" not in said
    assert s3_auth.secret_key not in said
    assert s3_auth.objects(bucket) == {}


def test_environment_variables_beat_the_profile(
    tmp_path: Path, home: Path, s3_auth: S3Server, write_plan: Callable[..., Path]
) -> None:
    bucket = s3_auth.bucket()
    config = "[profile ci]\nregion = us-east-1\nendpoint_url = http://127.0.0.1:9\n"
    env = _profile_ci(
        tmp_path,
        home,
        s3_auth,
        config,
        AWS_ENDPOINT_URL=s3_auth.endpoint,  # beats the profile's endpoint (nothing listens)
        AWS_ACCESS_KEY_ID=s3_auth.access_key,
        AWS_SECRET_ACCESS_KEY=WRONG_SECRET,  # beats the profile's right secret
    )

    done = _run(tmp_path, write_plan, bucket, env)

    said = done.stdout + done.stderr
    assert done.returncode == 1, said
    assert "s3 remote 'bkt': access denied (SignatureDoesNotMatch)" in said
    assert WRONG_SECRET not in said + _everything_written(tmp_path)
    assert s3_auth.objects(bucket) == {}

    env["AWS_SECRET_ACCESS_KEY"] = s3_auth.secret_key  # now right: the environment's keys work
    done = _run(tmp_path, write_plan, bucket, env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert s3_auth.objects(bucket) == _expected(bucket)


@pytest.mark.parametrize(("profile", "loaded"), [(None, False), ("ci", True)])
def test_botocore_is_imported_only_when_a_profile_is_in_play(
    tmp_path: Path, home: Path, profile: str | None, loaded: bool
) -> None:
    probe = (
        "import sys\n"
        "from planner.worker.objects.location import ObjectLocation\n"
        "from planner.worker.storage import Storages\n"
        "Storages({'b': ObjectLocation('s3', 'some-bucket', 'p')}).close()\n"
        "print('botocore' in sys.modules)\n"
    )
    _write(tmp_path / "credentials", "[ci]\naws_access_key_id = a\naws_secret_access_key = b\n")
    env = aws_free_environ(
        HOME=str(home), AWS_ACCESS_KEY_ID="k", AWS_SECRET_ACCESS_KEY="s", AWS_REGION="us-east-1"
    )
    if profile:
        env["AWS_PROFILE"] = profile
        env["AWS_SHARED_CREDENTIALS_FILE"] = str(tmp_path / "credentials")
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(loaded)
