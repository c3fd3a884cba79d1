"""What may name a remote. A remote name never holds "/" or ":" (they separate the parts of a
resource key, acl.py: a remote `team/x` would share its keys with the paths below `team` on
`any`), nor more than MAX_REMOTE_NAME characters: such a name is refused when the worker is
configured (and by `--remote` on the command line), and in a request (422, paths.py), where it
would otherwise be echoed into the operation's records.

A module of its own, importing nothing: `planner run --remote` checks names with it before the
plan is loaded, without loading the worker's request handling."""

from __future__ import annotations

MAX_REMOTE_NAME = 255


def remote_name_problem(name: str) -> str | None:
    """Why `name` cannot name a remote, or None."""
    if not name:
        return "remote name is empty"
    if len(name) > MAX_REMOTE_NAME:
        return f"remote name longer than {MAX_REMOTE_NAME} characters"
    if "/" in name or ":" in name or not name.isprintable():
        return "remote name holds '/' or ':' or a control character"
    return None
