"""The policies of a directory copy, as names: shared by plans (their schema and models), the
runner and the worker's tree operations."""

from __future__ import annotations

from typing import Literal

Overwrite = Literal["always", "never", "if-newer", "if-different"]
Symlinks = Literal["follow", "skip"]
