"""The end of planner's own process (`gcpause.exit_now`): the exit code, buffered output and
exit handlers are kept; a thread still working is waited for, as by the usual exit. And the
CLI as a process still ends with its documented codes and full output."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers.cli import EXAMPLES


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


def test_the_exit_code_buffered_output_and_exit_handlers_are_kept() -> None:
    done = _python(
        "import atexit, sys\n"
        "from planner.gcpause import exit_now\n"
        "atexit.register(lambda: print('handler ran', file=sys.stderr))\n"
        "print('buffered ' * 1000)\n"  # stdout to a pipe is block-buffered: not yet written
        "exit_now(7)\n"
    )
    assert done.returncode == 7
    assert done.stdout == "buffered " * 1000 + "\n"
    assert done.stderr == "handler ran\n"


def test_a_thread_still_working_is_waited_for() -> None:
    done = _python(
        "import threading, time\n"
        "from planner.gcpause import exit_now\n"
        "def work():\n"
        "    time.sleep(0.2)\n"
        "    print('thread done')\n"
        "threading.Thread(target=work).start()\n"
        "exit_now(3)\n"
    )
    assert (done.returncode, done.stdout) == (3, "thread done\n")


def test_the_cli_as_a_process_ends_with_its_code_and_all_of_its_output(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nstorages: {}\ncopies: [{id: x}]\n", encoding="utf-8")
    good = EXAMPLES / "quickstart" / "plan.yaml"

    ok = subprocess.run(
        [sys.executable, "-m", "planner", "validate", good], capture_output=True, text=True
    )
    invalid = subprocess.run(
        [sys.executable, "-m", "planner", "validate", bad], capture_output=True, text=True
    )

    assert (ok.returncode, ok.stderr) == (0, "")
    assert (
        ok.stdout
        == f"{good}: valid: 4 actions (1 check, 1 copy, 1 directory, 1 metadata), DAG depth 3\n"
    )
    assert invalid.returncode == 2
    assert f"{bad}:3:10: error: copies[0]: missing required key 'src'" in invalid.stdout
    assert invalid.stdout.endswith("Found 3 errors in 1 of 1 plan.\n")


def test_under_a_profiler_the_process_ends_the_usual_way(tmp_path: Path) -> None:
    profile = tmp_path / "planner.prof"
    done = subprocess.run(
        [sys.executable, "-m", "cProfile", "-o", profile, "-m", "planner", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert profile.stat().st_size > 0  # cProfile wrote it after planner returned
