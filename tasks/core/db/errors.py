"""Errors of the db tasks (all ClikdErrors: a message, a hint, an exit code)."""

from __future__ import annotations

from tasks.core.errors import ClikdError, Conflict, Unavailable


class MigrationFailed(ClikdError):
    title = "migration failed"


class LockTimeout(Conflict):
    title = "migration lock busy"


class StoreUnavailable(Unavailable):
    pass


class MissingDatabase(ClikdError):
    title = "no such database"
