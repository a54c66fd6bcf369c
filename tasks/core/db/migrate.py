"""db.migrate and db.status across the four stores of a branch."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from tasks.core.db import keydb, postgres, scylla
from tasks.core.db.files import POSTGRES_ROLES, STORES, Migration
from tasks.core.db.models import (
    MigrateReport,
    Progress,
    StatusReport,
    StoreMigration,
    StoreStatus,
    no_progress,
)
from tasks.core.db.target import Target, parallel
from tasks.core.errors import UsageError


def pick(stores: str | None, allowed: Sequence[str] = tuple(STORES)) -> list[str]:
    """The stores named by ``--stores`` (all of ``allowed`` when none), refusing any other."""
    if not stores:
        return list(allowed)
    chosen = [s.strip() for s in stores.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in allowed]
    if unknown:
        name = unknown[0]
        why = (
            f"store {name!r} has no migrations (it holds objects only)"
            if name == "s3" and "keydb" in allowed
            else f"unknown store {name!r}"
        )
        raise UsageError(why, hint=f"pick from {', '.join(allowed)}")
    return chosen


def migrate(
    t: Target,
    stores: list[str] | None = None,
    *,
    migrations: dict[str, list[Migration]] | None = None,
    progress: Progress = no_progress,
    on_wait: Callable[[str], None] = lambda _msg: None,
) -> MigrateReport:
    started = time.perf_counter()
    files = migrations or t.migrations()
    chosen = stores or list(STORES)

    def job(store: str) -> Callable[[], StoreMigration]:
        if store in POSTGRES_ROLES:
            return lambda: postgres.migrate(
                t.postgres, store, t.database(store), files[store], progress=progress, on_wait=on_wait
            )
        if store == "scylla":
            return lambda: scylla.migrate(
                t.scylla, t.keyspace, files[store], progress=progress, on_wait=on_wait
            )
        return lambda: keydb.migrate(t.keydb, t.prefix, files[store], progress=progress, on_wait=on_wait)

    done = parallel({s: job(s) for s in chosen})
    return MigrateReport(t.branch, [done[s] for s in chosen], time.perf_counter() - started)


def status(t: Target, stores: list[str] | None = None) -> StatusReport:
    files = t.migrations()
    chosen = stores or list(STORES)

    def job(store: str) -> Callable[[], StoreStatus]:
        if store in POSTGRES_ROLES:
            return lambda: postgres.status(t.postgres, store, t.database(store), files[store])
        if store == "scylla":
            return lambda: scylla.status(t.scylla, t.keyspace, files[store])
        return lambda: keydb.status(t.keydb, t.prefix, files[store])

    done: dict[str, Any] = parallel({s: job(s) for s in chosen})
    return StatusReport(t.branch, [done[s] for s in chosen])
