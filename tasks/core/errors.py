"""One error hierarchy with a message and a hint each, and the table of exit codes.

Tasks raise these; :func:`tasks.core.tasking.clikd_task` is the one place that turns them into
output and an exit code.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """What a clikd process exits with; scripts may rely on these numbers."""

    OK = 0
    FAILURE = 1  # the task ran and something it did failed
    USAGE = 2  # bad flags or arguments
    CONFIG = 3  # clikd.toml (or an override) is invalid
    CONFIRMATION = 4  # a destructive step was declined, or needs --yes without a terminal
    UNAVAILABLE = 5  # a required engine or server (Docker, a database, the cluster) does not answer
    UNHEALTHY = 6  # something started but did not become healthy
    CHECK_FAILED = 7  # a check found a difference (generated clients, migration drift)
    CONFLICT = 8  # a resource is held by someone else (host port, deploy lock)
    BUSY = 9  # another clikd task is changing this branch right now, and --no-wait was given
    TESTS_FAILED = 10  # clikd test: a test failed; deploy: no green test record for the commit
    CANARY_ABORTED = 11  # deploy.production: a canary check failed, traffic went back to the stable slot
    INTERRUPTED = 130  # Ctrl+C


class ClikdError(Exception):
    """A failure the user can act on: what went wrong, and what to do about it."""

    exit_code: ExitCode = ExitCode.FAILURE
    title: str = "error"

    def __init__(self, message: str, hint: str | None = None, *, details: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details: list[str] = details or []

    def to_dict(self) -> dict[str, object]:
        return {
            "error": self.title,
            "message": self.message,
            "hint": self.hint,
            "details": self.details,
            "exit_code": int(self.exit_code),
        }


class UsageError(ClikdError):
    exit_code = ExitCode.USAGE
    title = "usage error"


class NotLocal(UsageError):
    """A development-only task (reset, seed, env.start...) was pointed at a remote target."""

    title = "not a development target"


class ConfigError(ClikdError):
    """clikd.toml, a local override or a CLIKD_* variable holds something invalid."""

    exit_code = ExitCode.CONFIG
    title = "configuration error"


class ConfirmationRequired(ClikdError):
    exit_code = ExitCode.CONFIRMATION
    title = "confirmation required"


class Declined(ClikdError):
    exit_code = ExitCode.CONFIRMATION
    title = "cancelled"


class Unavailable(ClikdError):
    exit_code = ExitCode.UNAVAILABLE
    title = "unavailable"


class Unhealthy(ClikdError):
    exit_code = ExitCode.UNHEALTHY
    title = "unhealthy"


class CheckFailed(ClikdError):
    exit_code = ExitCode.CHECK_FAILED
    title = "check failed"


class Conflict(ClikdError):
    exit_code = ExitCode.CONFLICT
    title = "conflict"


class Busy(ClikdError):
    """Another clikd process holds the branch's lock (tasks/core/locking.py)."""

    exit_code = ExitCode.BUSY
    title = "busy"


class TestsFailed(ClikdError):
    """A test of `clikd test` failed, or a deploy found no green test record for its commit."""

    exit_code = ExitCode.TESTS_FAILED
    title = "tests failed"


class Interrupted(ClikdError):
    exit_code = ExitCode.INTERRUPTED
    title = "interrupted"
