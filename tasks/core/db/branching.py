"""db.branch --from B: give this branch a copy of another branch's data.

Postgres: ``CREATE DATABASE this TEMPLATE other`` (a file-level copy, the fastest there is); when the
other branch's database has open sessions (its services are running, and Postgres refuses to copy a
database in use) it falls back to pg_dump | pg_restore. Scylla: the keyspace's schema and rows are
copied (as db.dump/db.restore do). KeyDB: every key under the other prefix is DUMPed and RESTOREd
under this prefix with its TTL.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tasks.core.db import dump, postgres
from tasks.core.db.files import POSTGRES_ROLES
from tasks.core.db.target import Target, parallel
from tasks.core.errors import UsageError


@dataclass
class BranchReport:
    branch: str
    source: str
    stores: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


def copy_postgres(this: Target, other: Target, role: str, scratch: Path) -> str:
    import psycopg

    src, dst = other.database(role), this.database(role)
    with postgres.admin(this.postgres) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (src,)).fetchone() is None:
            raise UsageError(
                f"branch {other.branch!r} has no database {src}", hint="migrate or reset it first"
            )
        postgres.drop_database(conn, dst)
        try:
            postgres.create_database(conn, dst, template=src)
            return f"template clone of {src}"
        except psycopg.errors.ObjectInUse:
            pass
    (scratch / role).mkdir()
    dump.dump_postgres(other, role, scratch / role)
    dump.restore_postgres(this, role, scratch / role)
    return f"pg_dump | pg_restore of {src} (it has open sessions)"


def branch_from(this: Target, other: Target) -> BranchReport:
    if this.ident == other.ident:
        raise UsageError("a branch cannot be copied onto itself", hint="pass --from with another branch")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="clikd-branch-") as tmp:
        scratch = Path(tmp)

        def cql() -> str:
            manifest = dump.dump_scylla(other, scratch)
            return dump.restore_scylla(this, scratch, manifest)

        def kv() -> str:
            dump.dump_keydb(other, scratch)
            return dump.restore_keydb(this, scratch)

        def pg(role: str) -> Callable[[], str]:
            return lambda: copy_postgres(this, other, role, scratch)

        jobs: dict[str, Callable[[], str]] = {role: pg(role) for role in POSTGRES_ROLES}
        jobs.update(scylla=cql, keydb=kv)
        if this.s3 and other.s3:

            def objects() -> str:
                from tasks.core.stores.s3 import transfer

                n = transfer.copy(other.object_store(), other.bucket, this.object_store(), this.bucket)
                return f"{n} object(s) copied from {other.bucket}"

            jobs["s3"] = objects
        done = parallel(jobs)
    return BranchReport(this.branch, other.branch, done, time.perf_counter() - started)
