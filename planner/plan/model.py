"""Frozen, typed models of a resolved plan: what compilation and execution work from."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from planner.errors import Location
from planner.plan.paths import PlanPath
from planner.tree.policies import Overwrite, Symlinks

Scalar = str | int | float | bool
Role = Literal["reader", "writer", "admin"]
DEFAULT_PRIORITY = 100


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)


class RetryPolicy(_Frozen):
    """Total tries and the backoff between them (full jitter)."""

    attempts: int = Field(default=3, ge=1)
    delay: float = Field(default=1.0, ge=0)
    multiplier: float = Field(default=2.0, ge=1)
    max_delay: float = Field(default=60.0, ge=0)


class Storage(_Frozen):
    """A declared storage: a worker remote and the worker-side root below it (`written_root`
    is the root as the plan wrote it, for messages)."""

    name: str
    remote: str
    root: str
    written_root: str = ""


class Grant(_Frozen):
    """One role for one subject (`subject` is None for anyone)."""

    subject_type: Literal["user", "group", "any"]
    subject: str | None
    role: Role

    def __str__(self) -> str:
        who = "anyone" if self.subject_type == "any" else f"{self.subject_type} {self.subject}"
        return f"{who}: {self.role}"


class ActionBase(_Frozen):
    """What every action entry has, after defaults are applied."""

    id: str
    needs: tuple[str, ...] = ()
    needs_at: tuple[Location, ...] = ()  # where each `needs` entry is, for notes
    description: str = ""
    retry: RetryPolicy = RetryPolicy()
    timeout: float | None = None
    priority: int = DEFAULT_PRIORITY
    location: Location
    order: int = 0
    item: Scalar | None = None


class DirectoryAction(ActionBase):
    kind: Literal["directory"] = "directory"
    path: PlanPath


class CopyAction(ActionBase):
    kind: Literal["copy"] = "copy"
    src: PlanPath
    dst: PlanPath
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    overwrite: Overwrite = "if-different"
    checksum: bool = False
    symlinks: Symlinks = "follow"
    empty_dirs: bool = True  # copy the source's empty directories too (cp -r, rsync -a)
    # delete what the destination holds beyond the filtered source (rsync --delete, rclone sync)
    mirror: bool = False
    delete_excluded: bool = False  # with mirror: the files the filters leave out go too
    max_delete: int | None = Field(default=None, ge=0)  # with mirror: refuse more deletions


class MoveAction(ActionBase):
    kind: Literal["move"] = "move"
    src: PlanPath
    dst: PlanPath
    overwrite: Overwrite = "if-different"


class RemovalAction(ActionBase):
    kind: Literal["removal"] = "removal"
    path: PlanPath


class PermissionAction(ActionBase):
    kind: Literal["permission"] = "permission"
    path: PlanPath
    grant: tuple[Grant, ...] = ()
    revoke: tuple[Grant, ...] = ()


class MetadataAction(ActionBase):
    kind: Literal["metadata"] = "metadata"
    path: PlanPath
    set: dict[str, Scalar] = Field(default_factory=dict)
    unset: tuple[str, ...] = ()


class CheckAction(ActionBase):
    kind: Literal["check"] = "check"
    path: PlanPath
    expect: Literal["exists", "absent"]


Action = Annotated[
    DirectoryAction
    | CopyAction
    | MoveAction
    | RemovalAction
    | PermissionAction
    | MetadataAction
    | CheckAction,
    Field(discriminator="kind"),
]

KIND_OF_SECTION = {
    "directories": "directory",
    "copies": "copy",
    "moves": "move",
    "removals": "removal",
    "permissions": "permission",
    "metadata": "metadata",
    "checks": "check",
}


class Plan(_Frozen):
    """A loaded, valid plan: storages and actions in file order."""

    file: str
    name: str
    description: str = ""
    digest: str
    storages: dict[str, Storage]
    actions: tuple[Action, ...]

    def action(self, action_id: str) -> Action:
        """The action with this id.

        Raises:
            KeyError: no such action.
        """
        for action in self.actions:
            if action.id == action_id:
                return action
        raise KeyError(action_id)
