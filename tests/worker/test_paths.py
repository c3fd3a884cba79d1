"""The one path normalisation (planner/worker/paths.py) against a plain reference of its rules:
the fast path for canonical paths and the general one agree, and canonical means idempotent."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from planner.worker.acl import ancestors, resource_key
from planner.worker.paths import MAX_SEGMENTS, PathError, normalise, split_resource

REMOTES = ["any", "data", "local"]


def reference(remote: str, path: str) -> str | None:
    """The rules of docs/api.md#paths written plainly; None where a path is refused."""
    try:
        size = len(path.encode("utf-8"))
    except UnicodeEncodeError:
        return None
    if size > 4096 or "\x00" in path or (remote == "local") != path.startswith("/"):
        return None
    body = path[1:] if remote == "local" else path
    segments = body.split("/")
    if len(segments) > 1 and segments[-1] == "":
        segments.pop()
    if body == "":
        segments = []
    if len(segments) > MAX_SEGMENTS or any(s in ("", "..") for s in segments):
        return None
    if any(len(s.encode("utf-8")) > 255 for s in segments):
        return None
    kept = "/".join(s for s in segments if s != ".")
    return "/" + kept if remote == "local" else kept


paths = st.text(alphabet=st.sampled_from(["a", "é", ".", "/", "\x00", "\ud800", ":"]), max_size=12)


@settings(deadline=None, max_examples=500)
@given(st.sampled_from(REMOTES), paths)
@example("any", "a/./b/")
@example("local", "/")
@example("any", ".")
@example("any", "./")
@example("local", "//")
@example("any", "a" * 256)
@example("any", "/".join(["d"] * (MAX_SEGMENTS + 1)))
def test_normalise_follows_the_documented_rules(remote: str, path: str) -> None:
    expected = reference(remote, path)
    if expected is None:
        with pytest.raises(PathError):
            normalise(remote, path)
        return
    canonical = normalise(remote, path)
    assert canonical == expected
    assert normalise(remote, canonical) == canonical


@pytest.mark.parametrize(
    ("text", "remote", "path", "key"),
    [
        ("dir/file", "any", "dir/file", "dir/file"),
        ("data:dir", "data", "dir", "data:dir"),
        ("local:/abs", "local", "/abs", "local:/abs"),
        ("nowhere:x", "any", "nowhere:x", "any:nowhere:x"),
        ("any:data:x", "any", "data:x", "any:data:x"),
        ("dir/a:b", "any", "dir/a:b", "dir/a:b"),
        ("", "any", "", ""),
        ("data:", "data", "", "data:"),
    ],
)
def test_resources_name_one_remote_and_their_keys_never_collide(
    text: str, remote: str, path: str, key: str
) -> None:
    assert split_resource(text, REMOTES) == (remote, path)
    assert resource_key(remote, normalise(remote, path)) == key
    assert split_resource(key, REMOTES) == (remote, path)


def test_the_ancestors_of_a_colon_path_on_any_start_at_the_root_of_any() -> None:
    assert ancestors("any:a:b/c") == ["", "any:a:b", "any:a:b/c"]
    assert ancestors("data:a/b") == ["data:", "data:a", "data:a/b"]
    assert ancestors("local:/a") == ["local:/", "local:/a"]
    assert ancestors("a/b") == ["", "a", "a/b"]
