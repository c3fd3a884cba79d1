"""Storages on a real filesystem under tmp_path: confinement, every operation, atomic copies."""

from __future__ import annotations

import errno
import os
import random
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
import xxhash

from planner.api.codes import ItemCode
from planner.worker import confine, fileops, moves
from planner.worker.file_info import FileInfo
from planner.worker.storage import MemoryTempRegistry, StorageError, Storages
from planner.worker.storage_errors import as_storage_errors
from tests.helpers.trees import temp_files

MIB = 1024 * 1024
OLD_MTIME_NS = 1_600_000_000_123_456_789


@pytest.fixture
def registry() -> MemoryTempRegistry:
    return MemoryTempRegistry()


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    return tmp_path / "scratch"


@pytest.fixture
def storages(data: Path, scratch: Path, registry: MemoryTempRegistry) -> Storages:
    return Storages({"data": data, "scratch": scratch}, registry)


@pytest.fixture
def outside(tmp_path: Path, data: Path, storages: Storages) -> Path:
    """A directory beside the roots, reachable from `data` only through escaping symlinks:
    filelink -> outside/secret.txt, dirlink -> outside, dangling -> outside/new.txt (missing),
    and outside/back -> data/target.txt (a link leading back inside)."""
    out = tmp_path / "outside"
    out.mkdir()
    (out / "secret.txt").write_text("secret")
    (data / "target.txt").write_text("target")
    (out / "back").symlink_to(data / "target.txt")
    (data / "filelink").symlink_to(out / "secret.txt")
    (data / "dirlink").symlink_to(out)
    (data / "dangling").symlink_to(out / "new.txt")
    return out


def write(path: Path, content: bytes | str, mtime_ns: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        content = content.encode()
    path.write_bytes(content)
    if mtime_ns is not None:
        os.utime(path, ns=(mtime_ns, mtime_ns))
    return path


def snapshot(top: Path) -> dict[str, tuple[str, bytes | str | None]]:
    """Everything below `top` without following links: kind and content (or link target)."""
    result: dict[str, tuple[str, bytes | str | None]] = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            key = str(path.relative_to(top))
            if path.is_symlink():
                result[key] = ("link", os.readlink(path))
            elif path.is_dir():
                result[key] = ("dir", None)
            else:
                result[key] = ("file", path.read_bytes())
    return result


def raises_code(code: int, action: Callable[[], object]) -> StorageError:
    with pytest.raises(StorageError) as caught:
        action()
    assert caught.value.code == code, caught.value.message
    return caught.value


# -- construction, names, resolve ----------------------------------------------------------------


def test_missing_root_directories_are_created(tmp_path: Path) -> None:
    Storages({"deep": tmp_path / "x" / "y"})
    assert (tmp_path / "x" / "y").is_dir()


def test_names_always_include_local(storages: Storages) -> None:
    assert storages.names() == ["data", "local", "scratch"]


def test_local_cannot_be_given_another_root(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="its root is '/'"):
        Storages({"local": tmp_path})


def test_local_given_as_slash_is_accepted() -> None:
    assert Storages({"local": "/"}).names() == ["local"]


def test_unknown_remote_is_400(storages: Storages) -> None:
    error = raises_code(400, lambda: storages.stat("scrach", "a"))
    assert "unknown remote 'scrach'" in error.message


@pytest.mark.parametrize("path", ["..", "../x", "a/../b", "a/.."])
def test_dotdot_segment_is_400(storages: Storages, path: str) -> None:
    raises_code(400, lambda: storages.stat("data", path))


def test_dotdot_segment_on_local_is_400(storages: Storages, tmp_path: Path) -> None:
    raises_code(400, lambda: storages.stat("local", f"{tmp_path}/../x"))


def test_absolute_path_on_named_remote_is_400(storages: Storages) -> None:
    error = raises_code(400, lambda: storages.stat("data", "/etc/passwd"))
    assert "relative to the storage root" in error.message


def test_relative_path_on_local_is_400(storages: Storages) -> None:
    error = raises_code(400, lambda: storages.stat("local", "etc/passwd"))
    assert "must be absolute" in error.message


def test_nul_in_path_is_400(storages: Storages) -> None:
    raises_code(400, lambda: storages.stat("data", "a\x00b"))


@pytest.mark.parametrize(
    ("path", "expected"), [("", ""), (".", ""), ("./", ""), ("a/./b/", "b"), ("a//b", "b")]
)
def test_empty_dot_and_doubled_slashes_are_normalised(
    storages: Storages, data: Path, path: str, expected: str
) -> None:
    write(data / "a" / "b" / "f.txt", "x")
    assert storages.stat("data", path).name == expected
    assert [e.name for e in storages.list("data", path)] == (["a"] if not expected else ["f.txt"])


def test_writes_act_on_a_last_symlink_itself_and_reads_follow_it(
    storages: Storages, data: Path
) -> None:
    write(data / "real" / "f.txt", "x")
    (data / "alias").symlink_to("real")
    assert storages.stat("data", "alias/f.txt").size == 1
    storages.move("data", "alias", "data", "renamed")
    assert os.readlink(data / "renamed") == "real"
    assert (data / "real" / "f.txt").exists()


def test_local_remote_uses_absolute_host_paths(storages: Storages, tmp_path: Path) -> None:
    source = write(tmp_path / "host.txt", "host")
    storages.copy("local", str(source), "data", "in/host.txt")
    assert storages.stat("data", "in/host.txt").size == 4


# -- confinement through symlinks ----------------------------------------------------------------

READS: dict[str, Callable[[Storages, str], object]] = {
    "stat": lambda s, p: s.stat("data", p),
    "exists": lambda s, p: s.exists("data", p),
    "list": lambda s, p: s.list("data", p),
    "list-recursive": lambda s, p: s.list("data", p, recursive=True),
    "checksum": lambda s, p: s.checksum("data", p),
    "copy-source": lambda s, p: s.copy("data", p, "data", "copied.txt"),
}


@pytest.mark.parametrize("operation", sorted(READS))
@pytest.mark.parametrize("path", ["filelink", "dirlink", "dirlink/secret.txt", "dangling"])
def test_reading_through_an_escaping_link_is_403(
    storages: Storages, outside: Path, operation: str, path: str
) -> None:
    error = raises_code(403, lambda: READS[operation](storages, path))
    assert error.message.endswith("outside the storage root")


WRITES: dict[str, Callable[[Storages], object]] = {
    "copy-onto-file-link": lambda s: s.copy("data", "target.txt", "data", "filelink"),
    "copy-into-dir-link": lambda s: s.copy("data", "target.txt", "data", "dirlink/new.txt"),
    "copy-onto-dangling-link": lambda s: s.copy("data", "target.txt", "data", "dangling"),
    "copy-onto-link-leading-back": lambda s: s.copy("data", "target.txt", "data", "dirlink/back"),
    "mkdir-below-dir-link": lambda s: s.mkdir("data", "dirlink/sub/deeper"),
    "mkdir-dangling-link": lambda s: s.mkdir("data", "dangling"),
    "remove-file-link": lambda s: s.remove("data", "filelink"),
    "remove-through-dir-link": lambda s: s.remove("data", "dirlink/secret.txt"),
    "remove-link-leading-back": lambda s: s.remove("data", "dirlink/back"),
    "rmdir-dir-link": lambda s: s.rmdir("data", "dirlink"),
    "move-into-dir-link": lambda s: s.move("data", "target.txt", "data", "dirlink/moved.txt"),
    "move-out-of-dir-link": lambda s: s.move("data", "dirlink/secret.txt", "data", "stolen.txt"),
}


@pytest.mark.parametrize("operation", sorted(WRITES))
def test_writing_through_an_escaping_link_is_403_and_changes_nothing_outside(
    storages: Storages, data: Path, outside: Path, operation: str
) -> None:
    before_outside, before_data = snapshot(outside), snapshot(data)
    raises_code(403, lambda: WRITES[operation](storages))
    assert snapshot(outside) == before_outside
    assert snapshot(data) == before_data


def test_rmdir_of_a_directory_holding_escaping_links_leaves_outside_alone(
    storages: Storages, data: Path, outside: Path
) -> None:
    (data / "tree").mkdir()
    (data / "tree" / "out").symlink_to(outside)
    (data / "tree" / "secret").symlink_to(outside / "secret.txt")
    before = snapshot(outside)
    storages.rmdir("data", "tree")
    assert not (data / "tree").exists()
    assert snapshot(outside) == before


def test_symlinks_inside_the_root_work_for_reading_and_writing(
    storages: Storages, data: Path
) -> None:
    write(data / "real" / "f.txt", "inside")
    (data / "alias").symlink_to("real")
    (data / "file-alias").symlink_to("real/f.txt")
    assert storages.stat("data", "alias/f.txt").size == 6
    mtime_ns = (data / "real" / "f.txt").stat().st_mtime_ns
    assert storages.stat("data", "file-alias") == FileInfo("file-alias", "file", 6, mtime_ns)
    assert [e.name for e in storages.list("data", "alias")] == ["f.txt"]
    storages.copy("data", "file-alias", "data", "alias/g.txt")
    assert (data / "real" / "g.txt").read_text() == "inside"


# -- translation of OSError ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (errno.ENOENT, 404),
        (errno.EACCES, 403),
        (errno.EPERM, 403),
        (errno.EROFS, 403),
        (errno.EEXIST, 409),
        (errno.ENOTEMPTY, 409),
        (errno.EISDIR, 409),
        (errno.ENOTDIR, 409),
        (errno.EINVAL, 400),
        (errno.ELOOP, 400),
        (errno.ENAMETOOLONG, 400),
        (errno.ENOSPC, 503),
        (errno.EIO, 503),
        (errno.EAGAIN, 503),
        (errno.EBUSY, 503),
        (errno.EDQUOT, 503),
        (errno.ESTALE, 503),
        (None, 503),
    ],
)
def test_oserror_is_translated_with_its_cause(code: int | None, expected: int) -> None:
    cause = OSError(code, os.strerror(code) if code else "odd") if code else OSError("odd")
    with pytest.raises(StorageError) as caught, as_storage_errors("data:x"):
        raise cause
    assert caught.value.code == expected
    assert caught.value.message.startswith("data:x: ")
    assert caught.value.__cause__ is cause


def test_storage_error_passes_through_translation_unchanged() -> None:
    original = StorageError(ItemCode.CONFLICT, "conflict")
    with pytest.raises(StorageError) as caught, as_storage_errors("data:x"):
        raise original
    assert caught.value is original


# -- stat, exists, checksum ----------------------------------------------------------------------


def test_stat_of_a_file_reports_name_size_and_mtime(storages: Storages, data: Path) -> None:
    write(data / "d" / "f.bin", b"12345", OLD_MTIME_NS)
    assert storages.stat("data", "d/f.bin") == FileInfo("f.bin", "file", 5, OLD_MTIME_NS)


def test_stat_of_a_directory_reports_size_zero(storages: Storages, data: Path) -> None:
    write(data / "d" / "f.bin", b"12345")
    info = storages.stat("data", "d")
    assert (info.name, info.type, info.size) == ("d", "dir", 0)
    assert storages.stat("data", "").type == "dir"


def test_stat_of_a_missing_path_is_404(storages: Storages) -> None:
    error = raises_code(404, lambda: storages.stat("data", "nope.txt"))
    assert error.message == "data:nope.txt: No such file or directory"


def test_special_files_are_400_for_stat_and_left_out_of_listings(
    storages: Storages, data: Path
) -> None:
    os.mkfifo(data / "fifo")
    write(data / "f.txt", "x")
    raises_code(400, lambda: storages.stat("data", "fifo"))
    assert storages.exists("data", "fifo")
    assert [e.name for e in storages.list("data", "", recursive=True)] == ["f.txt"]


def test_file_info_mtime_is_timezone_aware_utc() -> None:
    info = FileInfo("x", "file", 0, 1_700_000_000_123_456_789)
    assert info.mtime == datetime(2023, 11, 14, 22, 13, 20, 123456, tzinfo=UTC)
    assert info.mtime.tzinfo is UTC


def test_exists_is_true_for_files_and_directories(storages: Storages, data: Path) -> None:
    write(data / "d" / "f.txt", "x")
    assert storages.exists("data", "d/f.txt")
    assert storages.exists("data", "d")
    assert storages.exists("data", "")


def test_exists_is_false_for_missing_paths_and_paths_below_a_file(
    storages: Storages, data: Path
) -> None:
    write(data / "f.txt", "x")
    assert not storages.exists("data", "missing")
    assert not storages.exists("data", "f.txt/below")


def test_checksum_is_xxh64_lowercase_hex(storages: Storages, data: Path) -> None:
    write(data / "mock.txt", b"Mock file")
    assert storages.checksum("data", "mock.txt") == "ac2390bba2edaa01"


def test_checksum_of_a_file_rewritten_while_it_is_hashed_is_503(
    storages: Storages, data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(data / "f.bin", b"x" * 100, OLD_MTIME_NS)
    hash_fd = fileops.hash_fd

    def rewriting(fd: int) -> str:
        checksum = hash_fd(fd)
        before = path.stat().st_ctime_ns
        path.write_bytes(b"y" * 100)
        while path.stat().st_ctime_ns == before:  # a coarse clock: until the kernel shows it
            os.utime(path, ns=(OLD_MTIME_NS, OLD_MTIME_NS))
        os.utime(path, ns=(OLD_MTIME_NS, OLD_MTIME_NS))
        return checksum

    monkeypatch.setattr(fileops, "hash_fd", rewriting)
    error = raises_code(503, lambda: storages.checksum("data", "f.bin"))
    assert error.message == "data:f.bin: changed while it was hashed"


def test_checksum_of_missing_is_404_and_of_a_directory_409(storages: Storages, data: Path) -> None:
    (data / "d").mkdir()
    raises_code(404, lambda: storages.checksum("data", "missing"))
    raises_code(409, lambda: storages.checksum("data", "d"))


# -- list ----------------------------------------------------------------------------------------


def test_list_returns_entries_sorted_by_name(storages: Storages, data: Path) -> None:
    write(data / "b.txt", b"bb", OLD_MTIME_NS)
    write(data / "a.txt", b"a", OLD_MTIME_NS)
    (data / "c").mkdir()
    write(data / "c" / "deep.txt", "not listed")
    entries = storages.list("data", "")
    assert [(e.name, e.type, e.size) for e in entries] == [
        ("a.txt", "file", 1),
        ("b.txt", "file", 2),
        ("c", "dir", 0),
    ]
    assert entries[0].mtime_ns == OLD_MTIME_NS


def test_list_of_a_file_returns_that_file(storages: Storages, data: Path) -> None:
    write(data / "d" / "f.txt", "abc")
    assert [(e.name, e.size) for e in storages.list("data", "d/f.txt")] == [("f.txt", 3)]


def test_list_of_a_missing_directory_is_404(storages: Storages) -> None:
    raises_code(404, lambda: storages.list("data", "missing"))


def test_list_of_an_empty_directory_is_empty(storages: Storages, data: Path) -> None:
    (data / "empty").mkdir()
    assert storages.list("data", "empty", recursive=True) == []


def test_recursive_list_names_paths_relative_to_the_listed_directory(
    storages: Storages, data: Path
) -> None:
    write(data / "top" / "a" / "b" / "c.txt", "c")
    write(data / "top" / "a" / "d.txt", "dd")
    write(data / "top" / "e.txt", "eee")
    entries = storages.list("data", "top", recursive=True)
    assert [(e.name, e.type, e.size) for e in entries] == [
        ("a", "dir", 0),
        ("a/b", "dir", 0),
        ("a/b/c.txt", "file", 1),
        ("a/d.txt", "file", 2),
        ("e.txt", "file", 3),
    ]


def test_recursive_list_follows_inside_links_skips_escaping_ones_and_ends_on_loops(
    storages: Storages, data: Path, outside: Path
) -> None:
    write(data / "t" / "a" / "b" / "c.txt", "c")
    write(data / "t" / "a" / "d.txt", "d")
    (data / "t" / "a" / "b" / "loop").symlink_to("..")
    (data / "t" / "alias").symlink_to("a")
    (data / "t" / "esc-dir").symlink_to(outside)
    (data / "t" / "esc-file").symlink_to(outside / "secret.txt")
    (data / "t" / "self").symlink_to("self")
    names = [e.name for e in storages.list("data", "t", recursive=True)]
    assert names == [
        "a",
        "a/b",
        "a/b/c.txt",
        "a/d.txt",
        "alias",
        "alias/b",
        "alias/b/c.txt",
        "alias/d.txt",
    ]


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_recursive_list_of_a_deep_and_wide_tree_holds_few_descriptors(
    storages: Storages, data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deep = data / "deep"
    chain = deep.joinpath(*[f"l{i}" for i in range(300)])
    chain.mkdir(parents=True)
    for i in range(2000):
        (data / "wide" / f"d{i:04d}").mkdir(parents=True)
    held: list[int] = []
    reopen = confine.Root.reopen_dir

    def counting(root: confine.Root, path: str, key: tuple[int, int]) -> int | None:
        held.append(open_descriptors())
        return reopen(root, path, key)

    monkeypatch.setattr(confine.Root, "reopen_dir", counting)
    before = open_descriptors()
    found = storages.list("data", "", recursive=True)
    assert len(found) == 2 + 300 + 2000
    assert max(held) <= before + 4
    assert open_descriptors() == before


def test_failing_operations_leave_no_descriptor_open(
    storages: Storages, data: Path, outside: Path
) -> None:
    write(data / "d" / "f.txt", "f")
    attempts: list[Callable[[], object]] = [
        *(lambda op=op: READS[op](storages, "dirlink/secret.txt") for op in READS),
        *(lambda op=op: WRITES[op](storages) for op in WRITES),
        lambda: storages.copy("data", "d", "data", "x"),
        lambda: storages.copy("data", "d/f.txt", "data", "d"),
        lambda: storages.copy("data", "missing", "data", "x"),
        lambda: storages.move("data", "d", "data", "d/f.txt/x"),
        lambda: storages.list("data", "missing/x", recursive=True),
        lambda: storages.mkdir("data", "d/f.txt/x"),
    ]
    before = open_descriptors()
    for attempt in attempts:
        with pytest.raises(StorageError):
            attempt()
    assert open_descriptors() == before


def test_mkdir_creates_missing_parents_through_a_link_inside_the_root(
    storages: Storages, data: Path
) -> None:
    (data / "real").mkdir()
    (data / "alias").symlink_to("real")
    assert storages.mkdir("data", "alias/new/deeper") is True
    assert (data / "real" / "new" / "deeper").is_dir()
    assert not (data / "alias").is_dir() or (data / "alias").is_symlink()


def test_plain_list_shows_a_loop_link_as_a_directory(storages: Storages, data: Path) -> None:
    write(data / "a" / "b" / "c.txt", "c")
    (data / "a" / "b" / "loop").symlink_to("..")
    entries = storages.list("data", "a/b")
    assert [(e.name, e.type) for e in entries] == [("c.txt", "file"), ("loop", "dir")]


def test_list_skips_escaping_links_at_the_top_level(storages: Storages, outside: Path) -> None:
    assert [e.name for e in storages.list("data", "")] == ["target.txt"]


def test_list_hides_temporary_files_of_copies_in_flight(storages: Storages, data: Path) -> None:
    write(data / "f.txt", "x")
    write(data / ".f.txt.planner-tmp-0123abcd", "partial")
    assert [e.name for e in storages.list("data", "", recursive=True)] == ["f.txt"]


# -- mkdir, remove, rmdir ------------------------------------------------------------------------


def test_mkdir_creates_parents_and_reports_creation(storages: Storages, data: Path) -> None:
    assert storages.mkdir("data", "a/b/c") is True
    assert (data / "a" / "b" / "c").is_dir()
    assert storages.mkdir("data", "a/b/c") is False
    assert storages.mkdir("data", "a") is False
    assert storages.mkdir("data", "") is False


def test_mkdir_over_a_file_is_409(storages: Storages, data: Path) -> None:
    write(data / "f", "x")
    raises_code(409, lambda: storages.mkdir("data", "f"))
    raises_code(409, lambda: storages.mkdir("data", "f/sub"))
    assert (data / "f").read_text() == "x"


def test_remove_deletes_a_file(storages: Storages, data: Path) -> None:
    write(data / "d" / "f.txt", "x")
    storages.remove("data", "d/f.txt")
    assert not (data / "d" / "f.txt").exists()
    assert (data / "d").is_dir()


def test_remove_of_a_symlink_deletes_the_link_not_its_target(
    storages: Storages, data: Path
) -> None:
    write(data / "f.txt", "x")
    (data / "link").symlink_to("f.txt")
    storages.remove("data", "link")
    assert not (data / "link").is_symlink()
    assert (data / "f.txt").read_text() == "x"


def test_remove_of_a_missing_file_is_404(storages: Storages) -> None:
    raises_code(404, lambda: storages.remove("data", "missing"))


def test_remove_of_a_directory_is_409(storages: Storages, data: Path) -> None:
    (data / "d").mkdir()
    error = raises_code(409, lambda: storages.remove("data", "d"))
    assert "use rmdir" in error.message
    assert (data / "d").is_dir()


def test_rmdir_removes_a_whole_tree(storages: Storages, data: Path) -> None:
    write(data / "d" / "e" / "f.txt", "x")
    storages.rmdir("data", "d")
    assert not (data / "d").exists()


def test_rmdir_removes_a_file_too(storages: Storages, data: Path) -> None:
    write(data / "f.txt", "x")
    storages.rmdir("data", "f.txt")
    assert not (data / "f.txt").exists()


def test_rmdir_of_a_missing_directory_is_404(storages: Storages) -> None:
    raises_code(404, lambda: storages.rmdir("data", "missing"))


def test_rmdir_of_the_storage_root_is_403(storages: Storages, data: Path) -> None:
    write(data / "f.txt", "x")
    raises_code(403, lambda: storages.rmdir("data", ""))
    raises_code(403, lambda: storages.rmdir("data", "."))
    assert (data / "f.txt").exists()


# -- move ----------------------------------------------------------------------------------------


def test_move_renames_within_a_remote_and_creates_parents(storages: Storages, data: Path) -> None:
    write(data / "a.txt", "A", OLD_MTIME_NS)
    storages.move("data", "a.txt", "data", "x/y/b.txt")
    assert not (data / "a.txt").exists()
    assert (data / "x" / "y" / "b.txt").read_text() == "A"
    assert (data / "x" / "y" / "b.txt").stat().st_mtime_ns == OLD_MTIME_NS


def test_move_across_remotes_overwrites_an_existing_file(
    storages: Storages, data: Path, scratch: Path
) -> None:
    write(data / "a.txt", "new")
    write(scratch / "in" / "a.txt", "old content")
    storages.move("data", "a.txt", "scratch", "in/a.txt")
    assert not (data / "a.txt").exists()
    assert (scratch / "in" / "a.txt").read_text() == "new"


def test_move_of_a_directory_moves_the_tree(storages: Storages, data: Path, scratch: Path) -> None:
    write(data / "d" / "e" / "f.txt", "f")
    storages.move("data", "d", "scratch", "moved")
    assert (scratch / "moved" / "e" / "f.txt").read_text() == "f"
    assert not (data / "d").exists()


def test_move_of_a_missing_source_is_404(storages: Storages) -> None:
    raises_code(404, lambda: storages.move("data", "missing", "scratch", "x"))


def test_move_onto_a_non_empty_directory_is_409(
    storages: Storages, data: Path, scratch: Path
) -> None:
    write(data / "d" / "f.txt", "f")
    write(scratch / "d" / "g.txt", "g")
    raises_code(409, lambda: storages.move("data", "d", "scratch", "d"))
    raises_code(409, lambda: storages.move("data", "d/f.txt", "scratch", "d"))
    assert (data / "d" / "f.txt").exists()


def test_move_of_the_storage_root_is_403(storages: Storages) -> None:
    raises_code(403, lambda: storages.move("data", "", "scratch", "root"))


def test_move_onto_itself_changes_nothing(storages: Storages, data: Path) -> None:
    write(data / "a.txt", "A")
    storages.move("data", "a.txt", "data", "./a.txt")
    assert (data / "a.txt").read_text() == "A"


@pytest.fixture
def cross_device(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every rename of a move fails with EXDEV, as between two filesystems."""

    def refuse(src: object, dst: object) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(moves, "rename", refuse)


@pytest.mark.usefixtures("cross_device")
def test_cross_device_fallback_moves_a_file_atomically(
    storages: Storages, data: Path, scratch: Path, registry: MemoryTempRegistry
) -> None:
    write(data / "src.txt", b"Mock file", OLD_MTIME_NS)
    (data / "src.txt").chmod(0o640)
    write(scratch / "out" / "dst.txt", "old")
    storages.move("data", "src.txt", "scratch", "out/dst.txt")
    assert not (data / "src.txt").exists()
    dst = scratch / "out" / "dst.txt"
    assert dst.read_bytes() == b"Mock file"
    assert dst.stat().st_mtime_ns == OLD_MTIME_NS
    assert dst.stat().st_mode & 0o777 == 0o640
    assert temp_files(dst.parent) == []
    assert registry.leftovers() == []


@pytest.mark.usefixtures("cross_device")
def test_cross_device_fallback_moves_a_directory_with_its_links(
    storages: Storages, data: Path, scratch: Path, registry: MemoryTempRegistry
) -> None:
    write(data / "src" / "sub" / "f.txt", "f", OLD_MTIME_NS)
    (data / "src" / "link").symlink_to("sub/f.txt")
    os.utime(data / "src" / "sub", ns=(OLD_MTIME_NS, OLD_MTIME_NS))
    storages.move("data", "src", "scratch", "out/dst")
    assert not (data / "src").exists()
    top = scratch / "out" / "dst"
    assert (top / "sub" / "f.txt").read_text() == "f"
    assert (top / "sub" / "f.txt").stat().st_mtime_ns == OLD_MTIME_NS
    assert (top / "sub").stat().st_mtime_ns == OLD_MTIME_NS
    assert os.readlink(top / "link") == "sub/f.txt"
    assert temp_files(scratch / "out") == []
    assert temp_files(data) == []
    assert registry.leftovers() == []


@pytest.mark.usefixtures("cross_device")
def test_cross_device_fallback_moves_a_symlink_as_a_symlink(
    storages: Storages, data: Path, scratch: Path
) -> None:
    (data / "link").symlink_to("elsewhere")
    storages.move("data", "link", "scratch", "moved")
    assert not (data / "link").is_symlink()
    assert os.readlink(scratch / "moved") == "elsewhere"


@pytest.mark.usefixtures("cross_device")
def test_cross_device_fallback_onto_a_different_non_empty_directory_keeps_both(
    storages: Storages, data: Path, scratch: Path, registry: MemoryTempRegistry
) -> None:
    write(data / "src" / "f.txt", "f")
    write(scratch / "dst" / "g.txt", "g")
    error = raises_code(409, lambda: storages.move("data", "src", "scratch", "dst"))
    assert "f.txt is missing there" in error.message
    assert (data / "src" / "f.txt").exists()
    assert sorted(os.listdir(scratch / "dst")) == ["g.txt"]
    assert temp_files(scratch) == []
    assert registry.leftovers() == []


@pytest.mark.usefixtures("cross_device")
def test_cross_device_fallback_of_a_file_onto_a_directory_is_409(
    storages: Storages, data: Path, scratch: Path
) -> None:
    write(data / "f.txt", "f")
    (scratch / "d").mkdir()
    raises_code(409, lambda: storages.move("data", "f.txt", "scratch", "d"))
    assert (data / "f.txt").exists()
    assert os.listdir(scratch / "d") == []


@pytest.mark.usefixtures("cross_device")
def test_cross_device_fallback_of_a_fifo_is_400_and_changes_nothing(
    storages: Storages, data: Path, scratch: Path
) -> None:
    write(data / "src" / "f.txt", "f")
    os.mkfifo(data / "src" / "fifo")
    error = raises_code(400, lambda: storages.move("data", "src", "scratch", "dst"))
    assert error.message.endswith("fifo: a special file cannot be moved across filesystems")
    assert sorted(os.listdir(data / "src")) == ["f.txt", "fifo"]
    assert os.listdir(scratch) == []


# -- copy ----------------------------------------------------------------------------------------


def test_copy_preserves_bytes_and_mtime_and_returns_xxh64(
    storages: Storages, data: Path, scratch: Path
) -> None:
    write(data / "mock.txt", b"Mock file", OLD_MTIME_NS)
    result = storages.copy("data", "mock.txt", "scratch", "a/b/mock.txt")
    target = scratch / "a" / "b" / "mock.txt"
    assert target.read_bytes() == b"Mock file"
    assert target.stat().st_mtime_ns == OLD_MTIME_NS
    assert result == fileops.CopyResult(9, OLD_MTIME_NS, "ac2390bba2edaa01")


def test_copy_of_an_empty_file_creates_an_empty_file(storages: Storages, data: Path) -> None:
    write(data / "empty", b"")
    result = storages.copy("data", "empty", "scratch", "empty")
    assert storages.stat("scratch", "empty").size == 0
    assert result.checksum == xxhash.xxh64(b"").hexdigest()


def test_copy_overwrites_an_existing_destination(
    storages: Storages, data: Path, scratch: Path
) -> None:
    write(data / "f.txt", "new")
    write(scratch / "f.txt", "a longer old content")
    storages.copy("data", "f.txt", "scratch", "f.txt")
    assert (scratch / "f.txt").read_text() == "new"


def test_copy_of_several_chunks_reports_progress_up_to_the_size(
    storages: Storages, data: Path, scratch: Path
) -> None:
    content = random.Random(7).randbytes(20 * MIB)
    write(data / "big.bin", content)
    seen: list[int] = []
    result = storages.copy("data", "big.bin", "scratch", "big.bin", progress=seen.append)
    assert seen == [8 * MIB, 16 * MIB, 20 * MIB]
    assert (scratch / "big.bin").read_bytes() == content
    assert result.checksum == xxhash.xxh64(content).hexdigest()
    assert result.size == 20 * MIB


def test_copy_registers_its_temporary_file_while_writing(
    storages: Storages, data: Path, scratch: Path, registry: MemoryTempRegistry
) -> None:
    write(data / "big.bin", bytes(9 * MIB))
    during: list[list[str]] = []
    storages.copy(
        "data",
        "big.bin",
        "scratch",
        "big.bin",
        progress=lambda _: during.append(registry.leftovers()),
    )
    assert all(len(paths) == 1 for paths in during)
    temp = Path(during[0][0])
    assert temp.parent == scratch.resolve()
    assert fileops.is_temp_name(temp.name)
    assert temp.name.startswith(".big.bin.planner-tmp-")
    assert registry.leftovers() == []
    assert temp_files(scratch) == []


def test_cancel_mid_copy_is_499_and_keeps_the_old_destination(
    storages: Storages, data: Path, scratch: Path, registry: MemoryTempRegistry
) -> None:
    write(data / "big.bin", bytes(20 * MIB))
    write(scratch / "big.bin", "previous")
    cancel = threading.Event()
    error = raises_code(
        499,
        lambda: storages.copy(
            "data", "big.bin", "scratch", "big.bin", progress=lambda _: cancel.set(), cancel=cancel
        ),
    )
    assert error.message == "cancelled"
    assert (scratch / "big.bin").read_text() == "previous"
    assert temp_files(scratch) == []
    assert registry.leftovers() == []


def test_cancel_before_the_first_chunk_writes_nothing(
    storages: Storages, data: Path, scratch: Path
) -> None:
    write(data / "f.txt", "x")
    cancel = threading.Event()
    cancel.set()
    raises_code(499, lambda: storages.copy("data", "f.txt", "scratch", "f.txt", cancel=cancel))
    assert os.listdir(scratch) == []


def test_error_mid_copy_keeps_the_old_destination_and_leaves_no_temp_file(
    storages: Storages, data: Path, scratch: Path, registry: MemoryTempRegistry
) -> None:
    write(data / "big.bin", bytes(20 * MIB))
    write(scratch / "big.bin", "previous")

    def fail_after_first_chunk(done: int) -> None:
        raise RuntimeError(f"disk vanished after {done} bytes")

    with pytest.raises(RuntimeError, match="disk vanished after 8388608 bytes"):
        storages.copy("data", "big.bin", "scratch", "big.bin", progress=fail_after_first_chunk)
    assert (scratch / "big.bin").read_text() == "previous"
    assert temp_files(scratch) == []
    assert registry.leftovers() == []


def test_copy_of_a_directory_is_400(storages: Storages, data: Path) -> None:
    (data / "d").mkdir()
    error = raises_code(400, lambda: storages.copy("data", "d", "scratch", "d"))
    assert error.message == "copy copies files; list the directory and copy its files"


def test_copy_of_a_missing_source_is_404(storages: Storages) -> None:
    raises_code(404, lambda: storages.copy("data", "missing", "scratch", "x"))


def test_copy_onto_an_existing_directory_is_409(
    storages: Storages, data: Path, scratch: Path
) -> None:
    write(data / "f.txt", "x")
    write(scratch / "d" / "keep.txt", "keep")
    raises_code(409, lambda: storages.copy("data", "f.txt", "scratch", "d"))
    assert (scratch / "d" / "keep.txt").read_text() == "keep"


def test_copy_below_a_file_is_409(storages: Storages, data: Path, scratch: Path) -> None:
    write(data / "f.txt", "x")
    write(scratch / "file", "x")
    raises_code(409, lambda: storages.copy("data", "f.txt", "scratch", "file/f.txt"))


def test_copy_onto_itself_returns_its_info_without_rewriting(
    storages: Storages, data: Path
) -> None:
    path = write(data / "mock.txt", b"Mock file", OLD_MTIME_NS)
    inode = path.stat().st_ino
    result = storages.copy("data", "mock.txt", "data", "./mock.txt")
    assert result == fileops.CopyResult(9, OLD_MTIME_NS, "ac2390bba2edaa01")
    assert path.stat().st_ino == inode
    assert temp_files(data) == []


def test_copy_of_a_special_file_is_400(storages: Storages, data: Path) -> None:
    os.mkfifo(data / "fifo")
    raises_code(400, lambda: storages.copy("data", "fifo", "scratch", "fifo"))


def test_copy_falls_back_when_the_kernel_refuses_copy_file_range(
    storages: Storages, scratch: Path
) -> None:
    # copy_file_range from procfs fails with EXDEV; sendfile or write must take over.
    expected = Path("/proc/version").read_bytes()
    result = storages.copy("local", "/proc/version", "scratch", "version")
    assert (scratch / "version").read_bytes() == expected
    assert result.checksum == xxhash.xxh64(expected).hexdigest()


@pytest.mark.parametrize("methods", [("sendfile", "write"), ("write",)])
def test_every_copy_method_writes_the_same_bytes(
    tmp_path: Path, registry: MemoryTempRegistry, methods: tuple[str, ...]
) -> None:
    content = random.Random(3).randbytes(9 * MIB + 17)
    src = write(tmp_path / "src.bin", content, OLD_MTIME_NS)
    src_fd = os.open(src, os.O_RDONLY)
    dir_fd = os.open(tmp_path, os.O_RDONLY)
    try:
        result = fileops.copy_open_file(
            src_fd,
            os.fstat(src_fd),
            dir_fd,
            str(tmp_path),
            "dst.bin",
            registry=registry,
            methods=methods,
        )
    finally:
        os.close(src_fd)
        os.close(dir_fd)
    assert (tmp_path / "dst.bin").read_bytes() == content
    assert result == fileops.CopyResult(
        len(content), OLD_MTIME_NS, xxhash.xxh64(content).hexdigest()
    )


# -- temporary files -----------------------------------------------------------------------------


def test_memory_temp_registry_adds_and_discards() -> None:
    registry = MemoryTempRegistry()
    registry.add("/b")
    registry.add("/a")
    registry.add("/a")
    registry.discard("/b")
    registry.discard("/never")
    assert registry.leftovers() == ["/a"]


def test_cleanup_temp_deletes_registered_leftovers(
    storages: Storages, data: Path, registry: MemoryTempRegistry
) -> None:
    leftover = write(data / "d" / ".f.txt.planner-tmp-0a1b2c", "partial")
    left_dir = data / ".tree.planner-tmp-ffee"
    write(left_dir / "x", "partial")
    gone = data / ".g.planner-tmp-1234"
    for path in (leftover, left_dir, gone):
        registry.add(str(path))
    assert storages.cleanup_temp() == 2
    assert not leftover.exists()
    assert not left_dir.exists()
    assert registry.leftovers() == []


def test_cleanup_temp_never_deletes_a_path_that_is_not_a_temp_name(
    storages: Storages, data: Path, registry: MemoryTempRegistry
) -> None:
    precious = write(data / "precious.txt", "keep")
    registry.add(str(precious))
    assert storages.cleanup_temp() == 0
    assert precious.read_text() == "keep"
    assert registry.leftovers() == []


def test_cleanup_temp_never_deletes_through_a_directory_swapped_for_a_link(
    storages: Storages, data: Path, outside: Path, registry: MemoryTempRegistry
) -> None:
    temp = ".f.txt.planner-tmp-0a1b2c"
    write(data / "d" / temp, "partial")
    registry.add(str(data.resolve() / "d" / temp))
    write(outside / temp, "outside, looks like ours")
    (data / "d").rename(data / "d-away")
    (data / "d").symlink_to(outside)
    assert storages.cleanup_temp() == 0
    assert (outside / temp).read_text() == "outside, looks like ours"


def test_a_large_copy_hashes_alongside_the_kernel_copy(tmp_path: Path) -> None:
    size = fileops._PARALLEL_HASH_SIZE + 3 * 1024 * 1024 + 17  # several chunks, a ragged end
    data = random.Random(5).randbytes(size)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "big.bin").write_bytes(data)
    storages = Storages({"s": tmp_path / "src", "d": tmp_path / "dst"})
    seen: list[int] = []
    result = storages.copy("s", "big.bin", "d", "out/big.bin", progress=seen.append)
    assert (tmp_path / "dst" / "out" / "big.bin").read_bytes() == data
    assert result.size == size
    assert result.checksum == xxhash.xxh64(data).hexdigest()
    assert seen == sorted(seen)
    assert seen[-1] == size
