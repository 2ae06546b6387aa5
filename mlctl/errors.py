"""The error tree of mlctl and the exit codes it maps to.

Every failure a user can cause or meet is an ``MlctlError`` subclass that
carries its exit code; the CLI's single boundary (``mlctl.cli.main``) turns
them into a message on stderr and that code. Nothing here prints or exits.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field


class ExitCode(enum.IntEnum):
    """Documented exit codes; a Makefile may rely on each of them."""

    OK = 0
    DIFFERENCES = 1  # only `mlctl diff`: the live objects differ from the spec
    USAGE = 2
    INVALID_INPUT = 3
    CLUSTER = 4
    RUN_FAILED = 5
    RUN_ABORTED = 6
    WAIT_TIMEOUT = 7
    HUB = 8  # the function hub failed or could not be reached (a hub:// reference, `mlctl hub`)
    INTERNAL = 70
    INTERRUPTED = 130


@dataclass(frozen=True, order=True)
class Problem:
    """One located problem in an input file.

    Sorted by file, then line, then column, so a report reads top to bottom.
    """

    file: str
    line: int
    column: int
    path: str
    message: str
    hint: str = ""
    severity: str = field(default="error", compare=False)

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}" if self.line else self.file
        path = f" {self.path}:" if self.path else ""
        hint = f" ({self.hint})" if self.hint else ""
        prefix = f"{where}:{path} " if where else (f"{self.path}: " if self.path else "")
        return f"{prefix}{self.message}{hint}"


class MlctlError(Exception):
    """Base of every error mlctl reports to a user."""

    exit_code: ExitCode = ExitCode.INTERNAL

    def __init__(self, message: str, details: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.details = tuple(details)  # lines printed above the message (each failed check, say)


class UsageError(MlctlError):
    exit_code = ExitCode.USAGE


class InvalidInput(MlctlError):
    """A spec, env file, override, config value or argument is wrong."""

    exit_code = ExitCode.INVALID_INPUT

    def __init__(self, message: str, problems: Sequence[Problem] = ()) -> None:
        super().__init__(message)
        self.problems: list[Problem] = sorted(problems)


def invalid(problems: Iterable[Problem]) -> InvalidInput:
    """An InvalidInput listing every problem, sorted by location."""
    found = sorted(problems)
    count = len(found)
    return InvalidInput(f"{count} problem{'s' if count != 1 else ''} found", found)


@dataclass(frozen=True)
class ClusterFailure:
    """What went wrong in one call to the API server, in parts a caller can read."""

    status: int | None = None  # the HTTP status; None when no answer came
    verb: str = ""  # Kubernetes' verb: get, list, watch, patch, create, delete
    resource: str = ""  # the kind asked for
    name: str = ""  # the object's name ("" for a listing)
    server_message: str = ""  # the API server's own words


class ClusterError(MlctlError):
    """The cluster refused, failed or could not be reached.

    ``failure`` holds the call's parts; the exception's ``__cause__`` the
    transport's own error when there was one.
    """

    exit_code = ExitCode.CLUSTER

    def __init__(
        self,
        message: str,
        details: Sequence[str] = (),
        *,
        failure: ClusterFailure | None = None,
        verb: str = "",
        resource: str = "",
        name: str = "",
    ) -> None:
        super().__init__(message, details)
        self.failure = failure or ClusterFailure(verb=verb, resource=resource, name=name)

    @property
    def status(self) -> int | None:
        return self.failure.status

    @property
    def verb(self) -> str:
        return self.failure.verb

    @property
    def resource(self) -> str:
        return self.failure.resource

    @property
    def name(self) -> str:
        return self.failure.name

    @property
    def server_message(self) -> str:
        return self.failure.server_message


class Unreachable(ClusterError):
    pass


class Unauthorized(ClusterError):
    pass


class Forbidden(ClusterError):
    pass


class NotFound(ClusterError):
    pass


class Conflict(ClusterError):
    pass


class Invalid(ClusterError):
    pass


class PreflightFailed(ClusterError):
    """A deploy's checks failed before anything was written; ``details`` lists each."""


class HubError(MlctlError):
    """The function hub answered with an error, with something that is not what was asked, or not at all.

    Not a cluster error: the hub is a separate server, and a script may retry
    or fall back differently.
    """

    exit_code = ExitCode.HUB


class RunFailed(MlctlError):
    """The run ended in failure (the handler raised, the pod failed, was preempted or evicted)."""

    exit_code = ExitCode.RUN_FAILED


class RunAborted(MlctlError):
    """The run was aborted: a state threshold passed, or a user aborted it."""

    exit_code = ExitCode.RUN_ABORTED


class WaitTimeout(MlctlError):
    exit_code = ExitCode.WAIT_TIMEOUT


class Signalled(KeyboardInterrupt):
    """Ctrl-C, SIGTERM or SIGHUP: unwinds like Ctrl-C; ``signum`` says which."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
