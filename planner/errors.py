"""The whole exception tree of planner, and the located Diagnostic every user mistake becomes.

    PlannerError              base; carries the process exit code
      PlanError               exit 2: an invalid plan; holds every Diagnostic of the file(s)
      UsageError              exit 2: a wrong command-line argument outside a plan
      ApiError                a request to the Data Transfer API failed (client side)
        ApiUnreachableError   exit 3: connection refused, DNS, timeouts after every retry
        AuthError             exit 3: HTTP 401 / 403 on the API itself
        TransientApiError     retried: 425, 429, 5xx, connection errors, timeouts
          RetryLaterError     ... whose Retry-After header names a minimum wait
          WaitTimeoutError    wait_for gave up on unfinished operations
        PermanentApiError     fails at once: 400, 404, 409, 422 (and other 4xx)
      WorkerError             server side: an HTTP status and an RFC 9457 problem body
      JournalError            exit 2: the run journal refuses (lock held, nothing to resume,
                              plan changed); defined in planner/runner/journal.py

Nothing else defines exceptions that reach the command line.
"""

from __future__ import annotations

from dataclasses import dataclass, field

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INVALID = 2
EXIT_UNREACHABLE = 3
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130


@dataclass(frozen=True, order=True)
class Location:
    """A 1-based position in a file."""

    file: str
    line: int = 1
    col: int = 1

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


# A place in a plan document: the keys and list indexes from its root, ("copies", 3, "src").
Pointer = tuple[str | int, ...]


def format_pointer(pointer: Pointer) -> str:
    """A pointer as a plan author reads it: `copies[3].src`."""
    out = ""
    for part in pointer:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


@dataclass(frozen=True)
class Diagnostic:
    """One problem in a plan: where it is, what is wrong, and which rule found it.

    `code` names the family (yaml, schema, variable, path, storage, needs, duplicate-id,
    cycle, conflict) so machine readers can filter; `pointer` is the place in the plan
    (`("copies", 3, "src")`) when there is one, `pointer_text` its spelling (`copies[3].src`).
    """

    location: Location
    message: str
    code: str
    pointer: Pointer = ()

    @property
    def pointer_text(self) -> str:
        return format_pointer(self.pointer)

    @property
    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.location.file, self.location.line, self.location.col, self.message)

    def __str__(self) -> str:
        prefix = f"{self.pointer_text}: " if self.pointer else ""
        return f"{self.location}: {prefix}{self.message}"


def quote(value: object) -> str:
    """A value as a plan author wrote it: strings in single quotes without Python escaping
    (control characters made visible), other scalars in YAML spelling."""
    if isinstance(value, str):
        visible = value.replace("\x00", "\\0").replace("\n", "\\n").replace("\t", "\\t")
        return f"'{visible}'"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return str(value)


class PlannerError(Exception):
    """Base of every error planner reports to a user; `exit_code` is what the CLI returns."""

    exit_code = EXIT_INTERNAL


class PlanError(PlannerError):
    """An invalid plan: every Diagnostic found in the file(s), sorted by position."""

    exit_code = EXIT_INVALID

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = sorted(diagnostics, key=lambda d: d.sort_key)
        first = str(self.diagnostics[0]) if self.diagnostics else "invalid plan"
        more = len(self.diagnostics) - 1
        super().__init__(first + (f" (and {more} more)" if more > 0 else ""))


class UsageError(PlannerError):
    """A wrong command-line argument (not a plan problem)."""

    exit_code = EXIT_INVALID


@dataclass
class DiagnosticSink:
    """Collects diagnostics while a stage keeps going, so all problems are reported together."""

    diagnostics: list[Diagnostic] = field(default_factory=list)

    def add(self, location: Location, message: str, code: str, pointer: Pointer = ()) -> None:
        self.diagnostics.append(Diagnostic(location, message, code, pointer))

    def __bool__(self) -> bool:
        return bool(self.diagnostics)


class ApiError(PlannerError):
    """A request to the Data Transfer API failed; `status` is the HTTP status when there was one."""

    exit_code = EXIT_UNREACHABLE

    def __init__(
        self,
        message: str,
        status: int | None = None,
        detail: str = "",
        locations: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail
        # where the problem body located each error (`body.operations[3].dst.path`), if it did
        self.locations = locations


class ApiUnreachableError(ApiError):
    """The API could not be reached (connection refused, DNS, timeouts) after every retry."""


class AuthError(ApiError):
    """The API refused the credentials (401) or the caller's roles (403)."""


class TransientApiError(ApiError):
    """A failure worth retrying: 425, 429, 5xx, connection errors, timeouts."""


class RetryLaterError(TransientApiError):
    """A transient answer (425, 429, 5xx) whose Retry-After header named a minimum wait."""

    def __init__(
        self, message: str, status: int | None = None, detail: str = "", *, retry_after: float
    ) -> None:
        super().__init__(message, status, detail)
        self.retry_after = retry_after


class WaitTimeoutError(TransientApiError):
    """wait_for gave up: the operations were still unfinished when its timeout passed."""

    def __init__(self, message: str, unfinished: list[str]) -> None:
        super().__init__(message)
        self.unfinished = unfinished


class PermanentApiError(ApiError):
    """A failure that retrying cannot fix: 400, 404, 409, 422 and other 4xx."""

    exit_code = EXIT_FAILED


class WorkerError(PlannerError):
    """Raised inside the worker: becomes an HTTP response with an RFC 9457 problem body (and
    `headers`, e.g. the Retry-After of a 503)."""

    def __init__(
        self,
        status: int,
        detail: str,
        errors: list[dict[str, object]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors or []
        self.headers = headers
