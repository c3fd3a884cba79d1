"""The users file of `planner worker serve --users FILE`: read, checked against its model, and
every problem located as `FILE:line:col: pointer: message` (1-based, from the YAML nodes' marks),
with a did-you-mean for a misspelt key, as plan problems are. A message never holds a token.

The worker knows no plans: this reads the YAML nodes itself rather than borrowing the plan
loader.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from planner.errors import UsageError
from planner.worker.auth import User, digest


class _UserEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    token_sha256: str | None = None
    token: str | None = None
    groups: list[str] = []
    admin: bool = False

    @model_validator(mode="after")
    def _one_credential(self) -> _UserEntry:
        if (self.token is None) == (self.token_sha256 is None):
            raise ValueError("give exactly one of token_sha256 or token")
        return self


class _UsersFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    users: list[_UserEntry]


_MODELS: dict[int, type[BaseModel]] = {0: _UsersFile, 2: _UserEntry}  # by depth of the pointer


def load_users(path: Path) -> list[tuple[bytes, User]]:
    """The (token digest, user) pairs of a users file.

    Raises:
        UsageError: unreadable or invalid file: one line per problem, in file order, each
            `--users FILE:line:col: pointer: message`.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise UsageError(f"--users {path}: cannot read: {reason}") from exc
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        raw = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise UsageError(f"--users {where}: invalid YAML: {exc.problem or exc}") from exc
    except yaml.YAMLError as exc:
        raise UsageError(f"--users {path}: invalid YAML") from exc
    finally:
        loader.dispose()
    try:
        parsed = _UsersFile.model_validate(raw)
    except ValidationError as exc:
        problems = [_problem(error, root) for error in exc.errors()]
        raise UsageError(_lines(path, problems)) from exc
    return _users(path, parsed, root)


def _users(path: Path, parsed: _UsersFile, root: yaml.Node | None) -> list[tuple[bytes, User]]:
    users: list[tuple[bytes, User]] = []
    names: dict[str, int] = {}
    holders: dict[bytes, int] = {}
    problems: list[tuple[yaml.Node | None, str, str]] = []
    for i, entry in enumerate(parsed.users):
        credential = "token" if entry.token is not None else "token_sha256"
        if entry.token is not None:
            key = digest(entry.token)
        else:
            try:
                key = bytes.fromhex(str(entry.token_sha256))
            except ValueError:
                node = _node(root, ("users", i, credential))
                problems.append((node, f"users[{i}].{credential}", "not a hex SHA-256 digest"))
                continue
        # operations are owned by name, and a token must say who is calling: both unique
        if entry.name in names:
            node = _node(root, ("users", i, "name"))
            first = names[entry.name]
            problems.append((node, f"users[{i}].name", f"'{entry.name}' is also users[{first}]"))
        elif key in holders:
            node = _node(root, ("users", i, credential))
            other = parsed.users[holders[key]].name
            problems.append(
                (node, f"users[{i}].{credential}", f"'{entry.name}' has the token of '{other}'")
            )
        names.setdefault(entry.name, i)
        holders.setdefault(key, i)
        users.append((key, User(entry.name, frozenset(entry.groups), entry.admin)))
    if problems:
        raise UsageError(_lines(path, problems))
    return users


def _problem(error: Any, root: yaml.Node | None) -> tuple[yaml.Node | None, str, str]:
    """(node, pointer, message) of one pydantic error, in the words of plan problems."""
    loc = tuple(error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden":
        key = str(loc[-1])
        model = _MODELS.get(len(loc) - 1)
        allowed = sorted(model.model_fields) if model else []
        hint = difflib.get_close_matches(key, allowed, n=1)
        if hint:
            message = f"unknown key '{key}' (did you mean '{hint[0]}'?)"
        else:
            message = f"unknown key '{key}'; allowed: {', '.join(allowed)}"
        return _node(root, loc, key=True), _pointer(loc), message
    if kind == "missing":
        return _node(root, loc[:-1]), _pointer(loc[:-1]), f"missing required key '{loc[-1]}'"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        wanted = "a mapping with a 'users' list" if not loc else "a mapping (one user)"
        return _node(root, loc), _pointer(loc), f"expected {wanted}"
    message = str(error["msg"]).removeprefix("Value error, ")
    return _node(root, loc), _pointer(loc), message[:1].lower() + message[1:]


def _node(root: yaml.Node | None, loc: tuple[Any, ...], key: bool = False) -> yaml.Node | None:
    """The node at `loc` (the key's node when `key`), or its nearest ancestor's."""
    node = root
    for step in loc:
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.value == str(step):
                    child = k if key and step == loc[-1] else v
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int):
            child = node.value[step] if step < len(node.value) else None
        if child is None:
            break
        node = child
    return node


def _pointer(loc: tuple[Any, ...]) -> str:
    out = ""
    for step in loc:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else str(step))
    return out or "(top level)"


def _lines(path: Path, problems: list[tuple[yaml.Node | None, str, str]]) -> str:
    def position(problem: tuple[yaml.Node | None, str, str]) -> tuple[int, int]:
        node = problem[0]
        return (node.start_mark.line, node.start_mark.column) if node is not None else (0, 0)

    lines = []
    for problem in sorted(problems, key=position):
        line, col = position(problem)
        lines.append(f"--users {path}:{line + 1}:{col + 1}: {problem[1]}: {problem[2]}")
    return "\n".join(lines)
