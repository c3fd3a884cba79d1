"""Pydantic v2 models of every body in the Data Transfer API (docs/api.md), shared by
planner's client and its embedded worker.

Tolerant on input (unknown keys kept, explicit nulls accepted and defaulted), strict on output:
timestamps always carry a timezone.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from planner.api.codes import ItemCode


class WireModel(BaseModel):
    """Base of wire models: extra keys allowed, None accepted wherever a default exists.

    Each model's validator is built on its first use (`defer_build`), not at import: a command
    uses a few of them, and building all of them was most of this module's import time. The
    worker, which validates in several threads, builds them all at its start (`build_all`)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, defer_build=True)

    @field_validator("*", mode="before")
    @classmethod
    def _null_means_default(cls, value: Any, info: Any) -> Any:
        if value is None:
            field = cls.model_fields.get(info.field_name)
            if field is not None and not field.is_required():
                return field.get_default(call_default_factory=True)
        return value


class StoragePath(WireModel):
    path: str = ""
    remote: str = "any"


class SrcDst(WireModel):
    src: StoragePath
    dst: StoragePath


class OperationState(StrEnum):
    UNKNOWN = "unknown"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def is_terminal(self) -> bool:
        return self in (OperationState.SUCCEEDED, OperationState.FAILED)


class ErrorDetail(WireModel):
    """`error_detail` of a failed operation; `code` is an ItemCode (or another HTTP-like code)."""

    code: int | None = None
    message: str | None = None
    errors: list[str] = Field(default_factory=list)


class Operation(WireModel):
    id: str = ""
    description: str | None = None
    state: OperationState = OperationState.UNKNOWN
    progress: float = 0.0
    progress_current: int = 0
    progress_total: int = 0
    queued_at: datetime | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    result: Any = None
    error: str | None = None
    error_detail: ErrorDetail | None = None
    messages: list[str] = Field(default_factory=list)
    children: list[str] = Field(default_factory=list)
    children_detail: list[Operation] | None = None
    info: dict[str, Any] = Field(default_factory=dict)
    user_id: str | None = None
    retries: int = 0
    max_retries: int = 0
    rate: str | None = None
    succeeded_on: list[str] = Field(default_factory=list)

    @property
    def is_transient_failure(self) -> bool:
        """A failure a client may retry (error_detail.code 503 or info.transient)."""
        if self.state is not OperationState.FAILED:
            return False
        code = self.error_detail.code if self.error_detail else None
        return code == ItemCode.TRANSIENT or bool(self.info.get("transient"))


class OutcomeDetail(BaseModel):
    """`error_detail` as `OperationOutcome` reads it: its code only."""

    model_config = ConfigDict(extra="ignore", defer_build=True)
    code: int | None = None


class OperationOutcome(BaseModel):
    """The fields of an `Operation` (and of its `children_detail`) that tell its items'
    outcomes, and nothing else: what the runner reads of every ended batch. It has no
    per-field Python validator (null is read as the default where it is used), so a batch of
    500 children parses in a fifth of the time of `Operation`."""

    model_config = ConfigDict(extra="ignore", defer_build=True)
    id: str | None = None
    state: OperationState | None = None
    progress_total: int | None = None
    result: Any = None
    error: str | None = None
    error_detail: OutcomeDetail | None = None
    info: dict[str, Any] | None = None
    children: list[str] | None = None
    children_detail: list[OperationOutcome] | None = None

    @property
    def is_transient_failure(self) -> bool:
        """As `Operation.is_transient_failure`."""
        if self.state is not OperationState.FAILED:
            return False
        code = self.error_detail.code if self.error_detail else None
        return code == ItemCode.TRANSIENT or bool((self.info or {}).get("transient"))


class OperationIdResponse(WireModel):
    id: str
    location: str = ""


class OperationsResponse(WireModel):
    operations: list[Operation] = Field(default_factory=list)
    next_after: str | None = None  # planner extension: paging cursor of recent operations


class OperationsRequest(WireModel):
    operations: list[StoragePath] = Field(default_factory=list)


class CopyRequest(WireModel):
    operations: list[SrcDst] = Field(default_factory=list)


class TreeOperation(WireModel):
    """One directory copy of storage:copy_tree or storage:compare_tree (planner extension)."""

    src: StoragePath
    dst: StoragePath
    include: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    overwrite: str = "if-different"
    checksum: bool = False
    symlinks: str = "follow"
    empty_dirs: bool = True
    mirror: bool = False
    delete_excluded: bool = False
    max_delete: int | None = None


class TreeRequest(WireModel):
    operations: list[TreeOperation] = Field(default_factory=list)


class TreeFilesResponse(WireModel):
    """A page of a tree operation's rows (GET /operations/{id}/files): one array per path, its
    values in the order of `columns`."""

    columns: list[str] = Field(default_factory=list)
    rows: list[list[Any]] = Field(default_factory=list)
    next_offset: int | None = None


class BuildInfo(WireModel):
    version: str = ""
    version_hash: str = ""
    branch: str = ""


class Features(WireModel):
    auth_types: list[str] = Field(default_factory=list)
    storage_plugins: list[str] = Field(default_factory=list)
    permissions_plugins: list[str] = Field(default_factory=list)
    metadata_plugins: list[str] = Field(default_factory=list)
    operation_plugins: list[str] = Field(default_factory=list)


class StatusResponse(WireModel):
    ready: bool = False
    time: str = ""
    build_info: BuildInfo = Field(default_factory=BuildInfo)
    features: Features = Field(default_factory=Features)


class StorageInfo(WireModel):
    name: str
    type: str = ""
    priority: int = 0


class StorageResponse(WireModel):
    storage: list[StorageInfo] = Field(default_factory=list)


class DataAssignment(WireModel):
    compressed_size: int | None = None
    compression: str | None = None
    custom: dict[str, Any] = Field(default_factory=dict)
    uncompressed_size: int | None = None


class GetMetadataRequest(WireModel):
    paths: list[str] = Field(default_factory=list)
    operations: list[StoragePath] = Field(default_factory=list)  # deprecated form


class SetMetadataRequest(WireModel):
    metadata: dict[str, DataAssignment] = Field(default_factory=dict)


class RoleType(StrEnum):
    READER = "reader"
    WRITER = "writer"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return {"reader": 1, "writer": 2, "admin": 3}[self.value]


class SubjectType(StrEnum):
    USER = "user"
    GROUP = "group"
    ANY = "any"


class Resource(WireModel):
    path: str = ""
    type: str = "document"


class Subject(WireModel):
    id: str | None = None
    type: SubjectType = SubjectType.USER


class RoleAssignment(WireModel):
    resource: Resource
    role: RoleType
    subject: Subject


class RoleQuery(WireModel):
    """A permissions:get query; null fields match anything."""

    resource: Resource | None = None
    role: RoleType | None = None
    subject: Subject | None = None


class PermissionsRequest(WireModel):
    permissions: list[RoleAssignment] = Field(default_factory=list)


class PermissionsQueryRequest(WireModel):
    permissions: list[RoleQuery] = Field(default_factory=list)


class PermissionsResponse(WireModel):
    permissions: list[RoleAssignment] = Field(default_factory=list)


class CheckPermissionsResponse(WireModel):
    allowed: bool = False


class ProblemError(WireModel):
    location: str | None = None
    message: str | None = None
    value: Any = None


class Problem(WireModel):
    """RFC 9457 problem JSON: every 4xx/5xx body."""

    title: str = ""
    status: int = 500
    detail: str = ""
    errors: list[ProblemError] = Field(default_factory=list)


class ListEntry(WireModel):
    """One entry of an extended listing (recursive listings use paths relative to the listed
    directory as `name`)."""

    name: str
    type: str = "file"
    size: int = 0
    mtime: datetime | None = None
    checksum: str | None = None
    link: bool | None = None  # planner extension: true when reached through a symbolic link
    # planner extension (list with `mtimes=listed`): false when `mtime` is an object's
    # LastModified, not the mtime its metadata stores (a stat gives that)
    mtime_exact: bool | None = None


def build_all() -> None:
    """Build every wire model's validator and serializer now, rather than on first use (where
    two threads could build the same one at once)."""
    pending: list[type[WireModel]] = [WireModel]
    while pending:
        model = pending.pop()
        model.model_rebuild()  # nothing to do when it is already built
        pending.extend(model.__subclasses__())


# Feature flags advertised in StatusResponse.features.operation_plugins: the planner extensions.
FEATURE_RECURSIVE_LIST = "planner.list.recursive"
FEATURE_RECENT_OPERATIONS = "planner.operations.recent"
FEATURE_CANCEL = "planner.operations.cancel"
FEATURE_DELETE = "planner.operations.delete"
FEATURE_WAIT = "planner.operations.wait"
FEATURE_OUTCOME_VIEW = "planner.operations.outcome"
FEATURE_SHUTDOWN = "planner.shutdown"
FEATURE_STAT = "planner.stat"
# list?mtimes=listed: an object remote lists without reading each object's stored mtime
FEATURE_LISTED_MTIMES = "planner.list.listed-mtimes"
# the tree operations (docs/api.md, "Tree operations")
FEATURE_TREE_COPY = "planner.tree.copy"
FEATURE_TREE_COMPARE = "planner.tree.compare"
FEATURE_TREE_FILES = "planner.tree.files"
FEATURE_TREE_MIRROR = "planner.tree.mirror"
# the tree operations also where one end or both are object remotes (s3)
FEATURE_TREE_OBJECTS = "planner.tree.objects"
