"""Files planner writes for the user (JUnit reports, saved plans): written whole or not at all,
through a temporary file beside the target that is flushed to disk and then renamed over it, so
a reader never sees half a file and an interrupted write leaves the old one."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import IO


def write_atomically(path: Path, write: Callable[[IO[bytes]], object]) -> None:
    """Call `write` with a temporary file in `path`'s directory, then make it `path`.

    Raises:
        OSError: the file cannot be written (the temporary file is removed).
    """
    import tempfile  # few commands write files: not imported by every command

    directory = path.parent if str(path.parent) else Path(".")
    tmp_name: str | None = None
    try:
        with tempfile.NamedTemporaryFile(
            "wb", dir=directory, prefix=f".{path.name}.", suffix=".tmp", delete=False
        ) as tmp:
            tmp_name = tmp.name
            write(tmp)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp_name, path)
        tmp_name = None
    finally:
        if tmp_name is not None:
            Path(tmp_name).unlink(missing_ok=True)
