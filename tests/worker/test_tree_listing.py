"""What a tree listing and a copy keep on a real filesystem under tmp_path (issue 10, items 5,
22, 24): names that are not valid UTF-8 escaped reversibly and usable as paths, special files
and symlink loops reported as skipped, an unreadable subdirectory reported without sinking the
listing, and a copied file's permission bits kept (never setuid/setgid)."""

from __future__ import annotations

import errno
import os
import socket
import stat
from pathlib import Path

import pytest

from planner.api.names import escape_name, unescape_name
from planner.worker import confine, fileops
from planner.worker.storage import MemoryTempRegistry, Storages


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def storages(data: Path, tmp_path: Path) -> Storages:
    return Storages({"data": data, "scratch": tmp_path / "scratch"}, MemoryTempRegistry())


# -- the escaping -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (b"plain.txt", "plain.txt"),
        (b"caf\xe9.txt", "caf\u201bE9.txt"),
        (b"\xff\xfe", "\u201bFF\u201bFE"),
        ("ünï\ncode".encode(), "ünï\ncode"),  # valid UTF-8, newline included: unchanged
        ("a\u201bb".encode(), "a\u201b\u201bb"),  # the quote itself is doubled
        ("\u201bE9".encode(), "\u201b\u201bE9"),  # ... so it never reads as an escape
    ],
)
def test_a_name_escapes_and_comes_back_byte_for_byte(raw: bytes, text: str) -> None:
    assert escape_name(os.fsdecode(raw)) == text
    assert os.fsencode(unescape_name(text)) == raw


def test_a_lone_quote_not_followed_by_an_escape_stands_for_itself() -> None:
    assert unescape_name("\u201bzz \u201b7F \u201b") == "\u201bzz \u201b7F \u201b"


# -- listings -----------------------------------------------------------------------------------
def test_an_undecodable_name_is_listed_escaped_and_found_by_that_name(
    storages: Storages, data: Path
) -> None:
    (data / "d").mkdir(parents=True)
    Path(os.fsdecode(bytes(data / "d") + b"/caf\xe9.txt")).write_bytes(b"bytes")

    listed = storages.list("data", "d", recursive=True)
    result = storages.copy("data", "d/caf\u201bE9.txt", "scratch", "out/caf\u201bE9.txt")

    assert [e.name for e in listed] == ["caf\u201bE9.txt"]
    assert result.size == 5
    assert os.listdir(bytes(storages_root(storages, "scratch")) + b"/out") == [b"caf\xe9.txt"]


def storages_root(storages: Storages, remote: str) -> Path:
    return Path(storages._roots[remote].path)


def test_special_files_and_symlink_loops_are_reported_as_skipped(
    storages: Storages, data: Path
) -> None:
    top = data / "t"
    (top / "sub").mkdir(parents=True)
    (top / "f.txt").write_text("f")
    os.mkfifo(top / "pipe")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(top / "sub" / "sock"))
    (top / "sub" / "up").symlink_to("..")  # leads back to a directory being listed
    (top / "self").symlink_to("self")  # loops on itself

    listed = storages.listed("data", "t", recursive=True)

    assert [e.name for e in listed.entries] == ["f.txt", "sub"]
    assert listed.skipped == [
        ("pipe", "fifo"),
        ("self", "symlink loop"),
        ("sub/sock", "socket"),
        ("sub/up", "symlink loop"),
    ]
    assert listed.unreadable == []


def test_an_unreadable_subdirectory_is_reported_and_the_rest_listed(
    storages: Storages, data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    top = data / "sim"
    for rel in ("out/a.txt", "out/private/secret.txt", "out/pub/b.txt"):
        (top / rel).parent.mkdir(parents=True, exist_ok=True)
        (top / rel).write_text(rel)
    denied = str(top / "out" / "private")
    reopen_dir = confine.Root.reopen_dir

    def refusing(self: confine.Root, path: str, key: tuple[int, int]) -> int | None:
        # root reads any directory: refuse this one as an unprivileged user would be refused
        if path == denied:
            raise PermissionError(errno.EACCES, "Permission denied", path)
        return reopen_dir(self, path, key)

    monkeypatch.setattr(confine.Root, "reopen_dir", refusing)

    listed = storages.listed("data", "sim", recursive=True)

    assert [e.name for e in listed.entries] == [
        "out",
        "out/a.txt",
        "out/private",
        "out/pub",
        "out/pub/b.txt",
    ]
    assert listed.unreadable == [("out/private", "Permission denied")]


# -- permission bits ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("mode", "kept"),
    [
        (0o755, 0o755),
        (0o600, 0o600),
        (0o4755, 0o755),
        (0o2755, 0o755),
        (0o1755, 0o1755),
        (0o444, 0o444),
        (0o666, 0o666),  # more than the umask (022) lets a new file have: set after creation
    ],
)
def test_a_copy_keeps_the_permission_bits_but_not_setuid(
    storages: Storages, data: Path, tmp_path: Path, mode: int, kept: int
) -> None:
    source = data / "run.sh"
    source.write_text("#!/bin/sh\n")
    source.chmod(mode)

    storages.copy("data", "run.sh", "scratch", "bin/run.sh")

    assert stat.S_IMODE((tmp_path / "scratch" / "bin" / "run.sh").stat().st_mode) == kept


def test_a_copy_whose_new_file_was_masked_unexpectedly_still_gets_the_permission_bits(
    storages: Storages, data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # as a directory's default ACL masks a new file: the copy believes nothing is masked
    monkeypatch.setattr(fileops, "_UMASK", 0)
    old = os.umask(0o077)
    try:
        source = data / "shared.txt"
        source.write_text("for everyone")
        source.chmod(0o666)

        storages.copy("data", "shared.txt", "scratch", "shared.txt")
    finally:
        os.umask(old)

    assert stat.S_IMODE((tmp_path / "scratch" / "shared.txt").stat().st_mode) == 0o666
