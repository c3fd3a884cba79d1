"""The released official client (`ansys-hps-data-transfer-client` 0.5.0), unchanged, against our
embedded worker (docs/api.md).

The client is pointed at an already running worker: `Client(bin_config=BinaryConfig(host=...,
port=..., token=...))` without `start()` (which would download and launch the HPS worker binary).
Its session is created lazily from `BinaryConfig.url` (`http://HOST:PORT/api/v1`), with the
`Authorization: Bearer <token>` header and its response hooks (`raise_for_status`) installed.
Every call goes through the client's `DataTransferApi` / `AsyncDataTransferApi` and its own
`wait_for` polling loop (with its default `WaitHandler`, which asks for `expand=true`).
"""

from __future__ import annotations

import asyncio
import types
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import xxhash
from ansys.hps.data_transfer.client import (
    AsyncClient,
    AsyncDataTransferApi,
    ClientError,
    DataTransferApi,
)
from ansys.hps.data_transfer.client.api import retry as client_retry
from ansys.hps.data_transfer.client.api.handler import WaitHandler
from ansys.hps.data_transfer.client.models import (
    DataAssignment,
    Operation,
    OperationIdResponse,
    OperationState,
    Resource,
    ResourceType,
    RoleAssignment,
    RoleQuery,
    RoleType,
    SrcDst,
    StoragePath,
    Subject,
    SubjectType,
)

from planner import __version__
from tests.helpers.official_client import binary_config, close, make_api
from tests.helpers.workers import WorkerHandle, running_worker

MOCK = b"Mock file"
MOCK_XXH64 = "ac2390bba2edaa01"
WAIT_TIMEOUT = 10.0

ALICE_TOKEN = "alice-token-0123456789"
ROOT_TOKEN = "root-token-0123456789"


# -- client construction -------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _bounded_client_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Bound the client's `@retry()` (backoff: 40 tries / 300 s by default) so a misbehaving
    worker fails a test in seconds rather than minutes.

    The client reads its limits through `os.getenv`, but its two variable names are swapped
    (`max_tries_env_name = "..._MAX_TIME"`) and the values are passed to backoff as strings
    (`tries == "3"` never holds, `elapsed >= "3"` raises TypeError), so setting the environment
    does not work: we give its lookup functions integer values instead. The real retry loop still
    runs (one retry, a jittered sleep of at most 1 s)."""
    limits = {client_retry.max_tries_env_name: 2, client_retry.max_time_env_name: 3}
    monkeypatch.setattr(client_retry, "os", types.SimpleNamespace(getenv=limits.get))


@pytest.fixture
def api(worker: WorkerHandle) -> Iterator[DataTransferApi]:
    client_api = make_api(worker.url, worker.token)
    try:
        yield client_api
    finally:
        close(client_api)


@pytest.fixture
def users_worker(tmp_path: Path) -> Iterator[WorkerHandle]:
    """A worker with a users file: alice (group cfd, not admin) and root (admin)."""
    from planner.worker.auth import Authenticator

    users = tmp_path / "users.yaml"
    users.write_text(
        "users:\n"
        f"  - {{name: alice, token: {ALICE_TOKEN}, groups: [cfd], admin: false}}\n"
        f"  - {{name: root, token: {ROOT_TOKEN}, admin: true}}\n",
        encoding="utf-8",
    )
    with running_worker(
        tmp_path, token=ROOT_TOKEN, authenticator=Authenticator.from_users_file(users)
    ) as handle:
        yield handle


# -- helpers -------------------------------------------------------------------------------------
def wait(api: DataTransferApi, submitted: OperationIdResponse, **kwargs: object) -> Operation:
    """The client's own polling loop (default WaitHandler, expand=true), kept fast."""
    assert submitted.id, submitted
    assert submitted.location == f"/api/v1/operations/{submitted.id}"
    ops = api.wait_for(
        [submitted.id],
        timeout=WAIT_TIMEOUT,
        interval=0.02,
        cap=0.2,
        raise_on_error=True,
        **kwargs,
    )
    assert len(ops) == 1
    assert ops[0].id == submitted.id
    return ops[0]


def succeeded(api: DataTransferApi, submitted: OperationIdResponse) -> Operation:
    op = wait(api, submitted)
    assert op.state is OperationState.Succeeded, (op.error, op.error_detail, op.messages)
    assert op.progress == 1.0
    _assert_aware(op)
    return op


def _assert_aware(op: Operation) -> None:
    for stamp in (op.queued_at, op.started_at, op.ended_at):
        assert stamp is not None
        assert stamp.tzinfo is not None
    assert op.queued_at <= op.started_at <= op.ended_at


def sp(path: str | Path, remote: str = "any") -> StoragePath:
    return StoragePath(path=str(path), remote=remote)


def pair(src: StoragePath, dst: StoragePath) -> SrcDst:
    return SrcDst(src=src, dst=dst)


def exists(api: DataTransferApi, path: str, remote: str = "any") -> bool:
    result = succeeded(api, api.exists([sp(path, remote)])).result
    assert isinstance(result, bool)
    return result


def payload(size: int, seed: int = 0) -> bytes:
    return bytes((i * 31 + seed) % 251 for i in range(size))


# -- status and storages -------------------------------------------------------------------------
def test_status_is_ready_with_build_info(api: DataTransferApi) -> None:
    status = api.status(wait=True, sleep=0.05, timeout=5)

    assert status.ready is True
    assert status.build_info is not None
    assert status.build_info.version == __version__
    assert status.time is not None
    assert datetime.fromisoformat(status.time).tzinfo is not None
    assert status.features is not None
    assert status.features.storage_plugins


def test_storages_lists_any_and_configured_remotes(api: DataTransferApi) -> None:
    storages = api.storages()

    assert storages
    names = [s["name"] for s in storages]
    assert "any" in names
    assert "data" in names
    assert all(isinstance(s.get("priority"), int) for s in storages)


# -- copy ----------------------------------------------------------------------------------------
def test_upload_download_round_trip(
    api: DataTransferApi, worker: WorkerHandle, tmp_path: Path
) -> None:
    content = payload(300_000, seed=7)
    source = tmp_path / "upload" / "payload.bin"
    source.parent.mkdir()
    source.write_bytes(content)

    up = succeeded(api, api.copy([pair(sp(source, "local"), sp("transfer/nested/payload.bin"))]))
    assert up.progress_total == len(content)
    assert (worker.roots["any"] / "transfer" / "nested" / "payload.bin").read_bytes() == content

    target = tmp_path / "download" / "copy.bin"
    succeeded(api, api.copy([pair(sp("transfer/nested/payload.bin"), sp(target, "local"))]))
    assert target.read_bytes() == content


def test_copy_overwrites_an_existing_destination(
    api: DataTransferApi, worker: WorkerHandle, tmp_path: Path
) -> None:
    source = tmp_path / "new.txt"
    source.write_bytes(b"new content")
    old = worker.roots["any"] / "over" / "file.txt"
    old.parent.mkdir(parents=True)
    old.write_bytes(b"old content that is longer")

    succeeded(api, api.copy([pair(sp(source, "local"), sp("over/file.txt"))]))

    assert old.read_bytes() == b"new content"


def test_empty_file_round_trip(api: DataTransferApi, worker: WorkerHandle, tmp_path: Path) -> None:
    source = tmp_path / "empty.txt"
    source.write_bytes(b"")

    succeeded(api, api.copy([pair(sp(source, "local"), sp("empty/empty.txt"))]))
    assert (worker.roots["any"] / "empty" / "empty.txt").read_bytes() == b""

    back = tmp_path / "back" / "empty.txt"
    succeeded(api, api.copy([pair(sp("empty/empty.txt"), sp(back, "local"))]))
    assert back.exists()
    assert back.read_bytes() == b""


def test_batch_of_copies_reaches_full_progress(
    api: DataTransferApi, worker: WorkerHandle, tmp_path: Path
) -> None:
    sizes = [0, 1, 9, 4096, 200_000]
    pairs = []
    for i, size in enumerate(sizes):
        src = tmp_path / "batch" / f"f{i}.bin"
        src.parent.mkdir(exist_ok=True)
        src.write_bytes(payload(size, seed=i))
        pairs.append(pair(sp(src, "local"), sp(f"batch/out/f{i}.bin")))

    seen: list[list[Operation]] = []

    class Recorder(WaitHandler):  # type: ignore[misc]  # the client is untyped: Any
        """The client's default handler (its logging runs), also keeping every poll."""

        def __call__(self, ops: list[Operation]) -> None:
            seen.append(ops)
            super().__call__(ops)

    submitted = api.copy(pairs)
    op = wait(api, submitted, handler=Recorder())

    assert op.state is OperationState.Succeeded, (op.error, op.error_detail)
    assert op.progress == 1.0
    _assert_aware(op)
    assert op.children is not None
    assert len(op.children) == len(sizes)
    assert op.children_detail is not None
    assert [c.id for c in op.children_detail] == op.children
    for child in op.children_detail:
        assert child.state is OperationState.Succeeded, (child.error, child.error_detail)
        assert child.progress == 1.0
    progresses = [polled[0].progress for polled in seen]
    assert all(isinstance(p, float) and 0.0 <= p <= 1.0 for p in progresses)
    assert progresses == sorted(progresses)
    assert progresses[-1] == 1.0
    for i, size in enumerate(sizes):
        written = worker.roots["any"] / "batch" / "out" / f"f{i}.bin"
        assert written.read_bytes() == payload(size, seed=i)


# -- exists, mkdir, rmdir, remove, move ----------------------------------------------------------
def test_exists_true_and_false(api: DataTransferApi, worker: WorkerHandle) -> None:
    present = worker.roots["any"] / "ex" / "here.txt"
    present.parent.mkdir(parents=True)
    present.write_bytes(MOCK)

    assert exists(api, "ex/here.txt") is True
    assert exists(api, "ex") is True
    assert exists(api, "ex/missing.txt") is False
    assert exists(api, "nowhere/at/all") is False


def test_exists_of_several_paths_is_a_group(api: DataTransferApi, worker: WorkerHandle) -> None:
    (worker.roots["any"] / "grp.txt").write_bytes(MOCK)

    op = succeeded(api, api.exists([sp("grp.txt"), sp("nope.txt")]))

    assert op.children_detail is not None
    assert [c.result for c in op.children_detail] == [True, False]


def test_mkdir_creates_parents(api: DataTransferApi, worker: WorkerHandle) -> None:
    succeeded(api, api.mkdir([sp("a/b/c/d")]))

    assert (worker.roots["any"] / "a" / "b" / "c" / "d").is_dir()
    assert exists(api, "a/b/c/d") is True
    succeeded(api, api.mkdir([sp("a/b/c/d")]))  # already there: still fine


def test_rmdir_is_recursive(api: DataTransferApi, worker: WorkerHandle) -> None:
    tree = worker.roots["any"] / "tree"
    (tree / "x" / "y").mkdir(parents=True)
    (tree / "top.txt").write_bytes(MOCK)
    (tree / "x" / "y" / "deep.txt").write_bytes(MOCK)

    succeeded(api, api.rmdir([sp("tree")]))

    assert not tree.exists()
    assert exists(api, "tree") is False


def test_remove_deletes_a_file(api: DataTransferApi, worker: WorkerHandle) -> None:
    doomed = worker.roots["any"] / "rm" / "doomed.txt"
    doomed.parent.mkdir()
    doomed.write_bytes(MOCK)

    succeeded(api, api.remove([sp("rm/doomed.txt")]))

    assert not doomed.exists()
    assert doomed.parent.is_dir()
    assert exists(api, "rm/doomed.txt") is False


def test_move_within_and_across_remotes(api: DataTransferApi, worker: WorkerHandle) -> None:
    src = worker.roots["any"] / "mv" / "src.txt"
    src.parent.mkdir()
    src.write_bytes(MOCK)

    succeeded(api, api.move([pair(sp("mv/src.txt"), sp("mv/renamed/dst.txt"))]))
    assert not src.exists()
    assert (worker.roots["any"] / "mv" / "renamed" / "dst.txt").read_bytes() == MOCK
    assert exists(api, "mv/src.txt") is False

    succeeded(api, api.move([pair(sp("mv/renamed/dst.txt"), sp("moved/dst.txt", "data"))]))
    assert not (worker.roots["any"] / "mv" / "renamed" / "dst.txt").exists()
    assert (worker.roots["data"] / "moved" / "dst.txt").read_bytes() == MOCK
    assert exists(api, "moved/dst.txt", "data") is True


# -- list ----------------------------------------------------------------------------------------
@pytest.fixture
def listing_dir(worker: WorkerHandle) -> Path:
    top = worker.roots["any"] / "ls"
    (top / "sub").mkdir(parents=True)
    (top / "one.txt").write_bytes(MOCK)
    (top / "two.bin").write_bytes(b"12345")
    (top / "sub" / "inner.txt").write_bytes(b"x")
    return top


def test_list_extended(api: DataTransferApi, listing_dir: Path) -> None:
    op = succeeded(api, api.list([sp("ls")]))  # the client always asks ?mode=extended

    assert isinstance(op.result, dict)
    assert list(op.result) == ["any:ls"]
    entries = {e["name"]: e for e in op.result["any:ls"]}
    assert set(entries) == {"one.txt", "two.bin", "sub"}
    assert entries["one.txt"]["type"] == "file"
    assert entries["one.txt"]["size"] == len(MOCK)
    assert entries["two.bin"]["size"] == 5
    assert entries["sub"]["type"] == "dir"
    for entry in entries.values():
        assert datetime.fromisoformat(entry["mtime"]).tzinfo is not None


def test_list_basic(api: DataTransferApi, listing_dir: Path) -> None:
    # DataTransferApi.list() hard-codes mode=extended; basic mode goes through the same
    # request method with the client's own `params` argument.
    submitted = api._exec_operation_req("list", [sp("ls")], params={"mode": "basic"})
    op = succeeded(api, submitted)

    assert isinstance(op.result, dict)
    assert sorted(op.result["any:ls"]) == ["one.txt", "sub", "two.bin"]


# -- metadata ------------------------------------------------------------------------------------
def test_metadata_checksum_and_custom_fields_merge(
    api: DataTransferApi, worker: WorkerHandle, tmp_path: Path
) -> None:
    assert xxhash.xxh64(MOCK, seed=0).hexdigest() == MOCK_XXH64
    source = tmp_path / "mock.txt"
    source.write_bytes(MOCK)
    succeeded(api, api.copy([pair(sp(source, "local"), sp("meta/mock.txt"))]))

    first = succeeded(api, api.get_metadata(["meta/mock.txt"])).result
    assert first["meta/mock.txt"]["checksum"] == MOCK_XXH64
    assert first["meta/mock.txt"]["size"] == len(MOCK)

    succeeded(
        api,
        api.set_metadata({"meta/mock.txt": DataAssignment(custom={"owner": "alice", "n": 1})}),
    )
    # set_metadata is annotated `dict[str | StoragePath, ...]`, but StoragePath (a pydantic
    # model) is unhashable, so only string keys work.
    succeeded(
        api, api.set_metadata({"meta/mock.txt": DataAssignment(custom={"n": 2, "tag": "cfd"})})
    )
    merged = succeeded(api, api.get_metadata([sp("meta/mock.txt")])).result["meta/mock.txt"]
    assert merged["custom"] == {"owner": "alice", "n": 2, "tag": "cfd"}
    assert merged["checksum"] == MOCK_XXH64
    assert merged["size"] == len(MOCK)

    succeeded(api, api.set_metadata({"meta/mock.txt": DataAssignment(custom={"owner": None})}))
    dropped = succeeded(api, api.get_metadata(["meta/mock.txt"])).result["meta/mock.txt"]
    assert dropped["custom"] == {"n": 2, "tag": "cfd"}
    assert dropped["checksum"] == MOCK_XXH64


# -- permissions ---------------------------------------------------------------------------------
def grant(path: str, role: RoleType, subject: str, kind: SubjectType) -> RoleAssignment:
    return RoleAssignment(
        resource=Resource(path=path, type=ResourceType.Document),
        role=role,
        subject=Subject(id=subject, type=kind),
    )


def test_permissions_set_get_check_remove(api: DataTransferApi) -> None:
    writer = grant("proj", RoleType.Writer, "alice", SubjectType.User)

    api.set_permissions([writer])

    found = api.get_permissions([RoleQuery(resource=Resource(path="proj"))]).permissions
    assert found is not None
    assert [(p.resource.path, p.role, p.subject.id, p.subject.type) for p in found] == [
        ("proj", RoleType.Writer, "alice", SubjectType.User)
    ]

    below = "proj/sub/file.txt"
    assert api.check_permissions([grant(below, RoleType.Reader, "alice", SubjectType.User)])
    assert (
        api.check_permissions([grant(below, RoleType.Writer, "alice", SubjectType.User)]).allowed
        is True
    )
    assert (
        api.check_permissions([grant(below, RoleType.Admin, "alice", SubjectType.User)]).allowed
        is False
    )
    assert (
        api.check_permissions([grant("other", RoleType.Reader, "alice", SubjectType.User)]).allowed
        is False
    )
    assert (
        api.check_permissions([grant(below, RoleType.Reader, "bob", SubjectType.User)]).allowed
        is False
    )

    api.remove_permissions([writer])
    api.remove_permissions([writer])  # removing a grant that is gone is not an error

    assert api.get_permissions([RoleQuery(resource=Resource(path="proj"))]).permissions == []
    assert (
        api.check_permissions([grant(below, RoleType.Reader, "alice", SubjectType.User)]).allowed
        is False
    )


def test_permission_denied_is_403_until_granted(users_worker: WorkerHandle) -> None:
    alice = make_api(users_worker.url, ALICE_TOKEN)
    root = make_api(users_worker.url, ROOT_TOKEN)
    try:
        with pytest.raises(ClientError) as denied:
            alice.mkdir([sp("restricted/work")])
        assert denied.value.response.status_code == 403
        assert denied.value.give_up is True
        assert not (users_worker.roots["any"] / "restricted").exists()

        with pytest.raises(ClientError) as denied_read:
            alice.get_metadata(["restricted/work"])
        assert denied_read.value.response.status_code == 403

        with pytest.raises(ClientError) as denied_admin:
            alice.set_permissions([grant("restricted", RoleType.Admin, "alice", SubjectType.User)])
        assert denied_admin.value.response.status_code == 403

        root.set_permissions([grant("restricted", RoleType.Writer, "alice", SubjectType.User)])
        assert root.check_permissions(
            [grant("restricted/work", RoleType.Writer, "alice", SubjectType.User)]
        ).allowed

        succeeded(alice, alice.mkdir([sp("restricted/work")]))
        assert (users_worker.roots["any"] / "restricted" / "work").is_dir()
        assert exists(alice, "restricted/work") is True

        # A grant to one of alice's groups covers her too.
        with pytest.raises(ClientError) as not_yet:
            alice.exists([sp("shared/data.txt")])
        assert not_yet.value.response.status_code == 403
        root.set_permissions([grant("shared", RoleType.Reader, "cfd", SubjectType.Group)])
        assert exists(alice, "shared/data.txt") is False
        assert alice.check_permissions(
            [grant("shared/data.txt", RoleType.Reader, "alice", SubjectType.User)]
        ).allowed
    finally:
        close(alice)
        close(root)


def test_unknown_token_is_401(worker: WorkerHandle) -> None:
    stranger = make_api(worker.url, "not-the-token")
    try:
        with pytest.raises(ClientError) as refused:
            stranger.exists([sp("anything")])
        assert refused.value.response.status_code == 401
        assert refused.value.give_up is True
    finally:
        close(stranger)


# -- operations ----------------------------------------------------------------------------------
def test_unknown_operation_is_terminal_failed(api: DataTransferApi) -> None:
    ops = api.wait_for(
        ["no-such-operation"], timeout=WAIT_TIMEOUT, interval=0.02, cap=0.2, raise_on_error=True
    )

    assert len(ops) == 1
    assert ops[0].id == "no-such-operation"
    assert ops[0].state is OperationState.Failed
    assert ops[0].error == "unknown operation"

    both = api.operations(["missing-1", "missing-2"])
    assert [o.id for o in both] == ["missing-1", "missing-2"]
    assert all(o.state is OperationState.Failed for o in both)


def test_operations_answer_in_request_order(api: DataTransferApi, worker: WorkerHandle) -> None:
    (worker.roots["any"] / "order.txt").write_bytes(MOCK)
    first = api.exists([sp("order.txt")])
    second = api.exists([sp("absent.txt")])

    ops = api.wait_for(
        [second, first], timeout=WAIT_TIMEOUT, interval=0.02, cap=0.2, raise_on_error=True
    )

    assert [o.id for o in ops] == [second.id, first.id]
    assert [o.result for o in ops] == [False, True]


# -- async ---------------------------------------------------------------------------------------
def test_async_api_round_trip(worker: WorkerHandle, tmp_path: Path) -> None:
    source = tmp_path / "async.txt"
    source.write_bytes(MOCK)
    back = tmp_path / "async-back" / "async.txt"

    async def scenario() -> list[Operation]:
        client = AsyncClient(bin_config=binary_config(worker.url, worker.token))
        api = AsyncDataTransferApi(client)
        try:
            status = await api.status()
            assert status.ready is True
            storages = await api.storages()
            assert "any" in [s["name"] for s in storages]

            up = await api.copy([pair(sp(source, "local"), sp("async/async.txt"))])
            done: list[Operation] = await api.wait_for(
                [up.id], timeout=WAIT_TIMEOUT, interval=0.02, cap=0.2
            )
            down = await api.copy([pair(sp("async/async.txt"), sp(back, "local"))])
            done += await api.wait_for([down.id], timeout=WAIT_TIMEOUT, interval=0.02, cap=0.2)
            found = await api.exists([sp("async/async.txt")])
            done += await api.wait_for([found.id], timeout=WAIT_TIMEOUT, interval=0.02, cap=0.2)
            meta = await api.get_metadata(["async/async.txt"])
            done += await api.wait_for([meta.id], timeout=WAIT_TIMEOUT, interval=0.02, cap=0.2)
            return done
        finally:
            if client._session is not None:
                await client._session.aclose()

    ops = asyncio.run(scenario())

    assert [o.state for o in ops] == [OperationState.Succeeded] * 4, [o.error for o in ops]
    assert back.read_bytes() == MOCK
    assert ops[2].result is True
    assert ops[3].result["async/async.txt"]["checksum"] == MOCK_XXH64
