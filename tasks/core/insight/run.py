"""db.inspect: every store of the target read in parallel (each one's own connection)."""

from __future__ import annotations

import time
from collections.abc import Callable

from tasks.core.db.files import POSTGRES_ROLES, Migration
from tasks.core.db.target import Target, parallel
from tasks.core.insight.model import InspectReport, StoreInsight


def reader(t: Target, store: str, files: dict[str, list[Migration]]) -> Callable[[], StoreInsight]:
    """What inspects one store (env.status --inspect runs these too, each under its deadline)."""
    if store in POSTGRES_ROLES:
        from tasks.core.insight import postgres

        remote = t.remote is not None
        return lambda: postgres.inspect(t.postgres, store, t.database(store), files[store], remote=remote)
    if store == "scylla":
        from tasks.core.insight import scylla

        return lambda: scylla.inspect(t.scylla, t.keyspace, files[store])
    if store == "s3":
        from tasks.core.insight import s3

        return lambda: s3.inspect(t.object_store(), t.bucket)
    from tasks.core.insight import keydb

    return lambda: keydb.inspect(t.keydb, t.prefix, t.pattern, files[store])


def inspect(t: Target, stores: list[str] | None = None) -> InspectReport:
    """What each chosen store (all by default) holds; a store that does not answer says so in its
    ``error`` and the others are still reported."""
    began = time.monotonic()
    files = t.migrations()
    chosen = stores or t.stores
    # A store that does not answer is in its own ``error``: what is raised here is a bug in clikd.
    found = parallel({s: reader(t, s, files) for s in chosen})
    return InspectReport(t.branch, [found[s] for s in chosen], round(time.monotonic() - began, 3))
