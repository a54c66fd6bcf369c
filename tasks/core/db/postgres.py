"""The Postgres side: databases of a branch, migrations with history, advisory lock, templates.

History lives in ``clikd_migrations`` in each database, shaped like sqlx's ``_sqlx_migrations``
(version, description, installed_on, success, checksum, execution_time in ns). Each migration and its
history row commit in one transaction, unless the file opts out with ``-- clikd:no-transaction``.
Concurrent runs against one database are serialised by a session advisory lock taken with
``pg_try_advisory_lock`` in a polling loop (a blocking lock request would keep a snapshot open and
stall ``CREATE INDEX CONCURRENTLY`` in the holder).
"""

# ruff: noqa: S608  (statements name only our own tables and quoted branch names; values go as parameters)
from __future__ import annotations

import datetime as dt
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from tasks.core.db import sqlsplit
from tasks.core.db.errors import LockTimeout, MigrationFailed, MissingDatabase, StoreUnavailable
from tasks.core.db.files import Migration
from tasks.core.db.models import Applied, MigrationState, Progress, StoreMigration, StoreStatus, plan
from tasks.core.stores import Endpoint

if TYPE_CHECKING:
    import psycopg

HISTORY = "clikd_migrations"
ADMIN_DB = "postgres"
LOCK_TIMEOUT = 120.0

HISTORY_DDL = f"""
CREATE TABLE IF NOT EXISTS {HISTORY} (
    version        BIGINT PRIMARY KEY,
    description    TEXT NOT NULL,
    installed_on   TIMESTAMPTZ NOT NULL DEFAULT now(),
    success        BOOLEAN NOT NULL,
    checksum       BYTEA NOT NULL,
    execution_time BIGINT NOT NULL
)"""


def connect(ep: Endpoint, dbname: str, *, autocommit: bool = True) -> psycopg.Connection[Any]:
    import psycopg

    try:
        return psycopg.connect(ep.postgres_dsn(dbname), autocommit=autocommit, connect_timeout=5)
    except psycopg.OperationalError as exc:
        if f'database "{dbname}" does not exist' in str(exc):
            raise MissingDatabase(
                f"the database {dbname} does not exist on {ep.host}:{ep.port}",
                hint="create it with inv db.migrate (or inv db.reset --yes for migrations plus seeds)",
            ) from None
        raise StoreUnavailable(
            f"postgres at {ep.host}:{ep.port} does not answer: {str(exc).strip().splitlines()[0]}",
            hint="start the branch's databases (inv env.start) or check [databases.postgres] in clikd.toml",
        ) from None


@contextmanager
def admin(ep: Endpoint) -> Iterator[psycopg.Connection[Any]]:
    conn = connect(ep, ADMIN_DB)
    try:
        yield conn
    finally:
        conn.close()


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def database_exists(ep: Endpoint, dbname: str) -> bool:
    with admin(ep) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone() is not None


def create_database(conn: psycopg.Connection[Any], dbname: str, template: str | None = None) -> bool:
    """CREATE DATABASE; False when it already existed (another process may have raced us)."""
    import psycopg

    sql = f"CREATE DATABASE {quote_ident(dbname)}"
    if template:
        sql += f" TEMPLATE {quote_ident(template)}"
    try:
        conn.execute(sql.encode())
    except (psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):  # a racing creator won
        return False
    return True


def drop_database(conn: psycopg.Connection[Any], dbname: str) -> None:
    conn.execute(f"DROP DATABASE IF EXISTS {quote_ident(dbname)} WITH (FORCE)".encode())


def ensure_database(ep: Endpoint, dbname: str) -> bool:
    with admin(ep) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone():
            return False
        return create_database(conn, dbname)


def lock_key(dbname: str) -> int:
    """The advisory lock id of ``dbname``'s migrations (sqlx's formula, as a signed bigint)."""
    key = (0x3D32AD9E * zlib.crc32(dbname.encode("utf-8"))) & 0xFFFFFFFFFFFFFFFF
    return key - (1 << 64) if key >= 1 << 63 else key


def try_lock(conn: psycopg.Connection[Any], name: str) -> bool:
    """Take ``name``'s advisory lock if nobody holds it (a session lock: released by :func:`unlock`)."""
    row = conn.execute("SELECT pg_try_advisory_lock(%s)", (lock_key(name),)).fetchone()
    return bool(row and row[0])


def unlock(conn: psycopg.Connection[Any], name: str) -> None:
    if not conn.closed:
        conn.execute("SELECT pg_advisory_unlock(%s)", (lock_key(name),))


@contextmanager
def lock_if_free(conn: psycopg.Connection[Any], name: str) -> Iterator[bool]:
    """Whether ``name``'s advisory lock was free and is now ours; it is released after the block."""
    mine = try_lock(conn, name)
    try:
        yield mine
    finally:
        if mine:
            unlock(conn, name)


@contextmanager
def migration_lock(
    conn: psycopg.Connection[Any],
    dbname: str,
    *,
    timeout: float = LOCK_TIMEOUT,
    on_wait: Callable[[str], None],
) -> Iterator[None]:
    key = lock_key(dbname)
    deadline = time.monotonic() + timeout
    waited = False
    while True:
        if try_lock(conn, dbname):
            break
        if not waited:
            unsigned = key & 0xFFFFFFFFFFFFFFFF
            holder = conn.execute(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1 "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                "AND classid = %s::bigint::oid AND objid = %s::bigint::oid LIMIT 1",
                (unsigned >> 32, unsigned & 0xFFFFFFFF),
            ).fetchone()
            on_wait(
                f"waiting for the migration lock of {dbname} (held by pid {holder[0] if holder else '?'})"
            )
            waited = True
        if time.monotonic() > deadline:
            raise LockTimeout(
                f"another process has held the migration lock of {dbname} for over {timeout:.0f} s",
                hint="wait for the other db.migrate/db.reset to finish, or end it",
            )
        time.sleep(0.05)
    try:
        yield
    finally:
        unlock(conn, dbname)


def read_history(conn: psycopg.Connection[Any]) -> dict[int, Applied]:
    exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f"public.{HISTORY}",)).fetchone()
    if not exists or not exists[0]:
        return {}
    rows = conn.execute(
        f"SELECT version, description, checksum, installed_on, execution_time, success FROM {HISTORY}"
    ).fetchall()
    return {
        int(r[0]): Applied(int(r[0]), r[1], bytes(r[2]), r[3], r[4] / 1e6 if r[4] is not None else None, r[5])
        for r in rows
    }


def status(ep: Endpoint, store: str, dbname: str, migrations: list[Migration]) -> StoreStatus:
    try:
        conn = connect(ep, dbname)
    except MissingDatabase:
        return StoreStatus(store, dbname, False, plan(store, migrations, {}))
    with conn:
        return StoreStatus(store, dbname, True, plan(store, migrations, read_history(conn)))


def _fail(m: Migration, stmt: sqlsplit.Statement, exc: Exception, *, transactional: bool) -> MigrationFailed:
    diag = getattr(exc, "diag", None)
    server = (getattr(diag, "message_primary", None) or str(exc)).strip()
    detail = getattr(diag, "message_detail", None)
    sqlstate = getattr(diag, "sqlstate", None)
    details = [f"statement (line {stmt.line}): {stmt.excerpt()}"]
    if detail:
        details.append(f"detail: {detail}")
    if transactional:
        hint = (
            "the database and its history are as they were before this file; fix it and run db.migrate again"
        )
    else:
        hint = (
            "this file runs without a transaction (-- clikd:no-transaction): statements before the failing "
            "one stay applied; make them idempotent (IF NOT EXISTS) and run db.migrate again"
        )
    return MigrationFailed(
        f"{m.path} line {stmt.line}: {server}" + (f" [{sqlstate}]" if sqlstate else ""),
        hint=hint,
        details=details,
    )


def apply(conn: psycopg.Connection[Any], m: Migration) -> float:
    """Run one migration and record it; returns its execution time in ms."""
    import psycopg

    statements = sqlsplit.split(m.text)
    started = time.perf_counter_ns()
    insert = (
        f"INSERT INTO {HISTORY} (version, description, success, checksum, execution_time) "
        "VALUES (%s, %s, TRUE, %s, %s)"
    )
    if m.transactional:
        current = statements[0] if statements else sqlsplit.Statement("", 1)
        try:
            with conn.transaction():
                for current in statements:
                    conn.execute(current.text.encode("utf-8"))
                elapsed = time.perf_counter_ns() - started
                conn.execute(insert.encode(), (m.version, m.description, m.checksum, elapsed))
        except psycopg.Error as exc:
            raise _fail(m, current, exc, transactional=True) from None
    else:
        for stmt in statements:
            try:
                conn.execute(stmt.text.encode("utf-8"))
            except psycopg.Error as exc:
                raise _fail(m, stmt, exc, transactional=False) from None
        elapsed = time.perf_counter_ns() - started
        conn.execute(insert.encode(), (m.version, m.description, m.checksum, elapsed))
    return elapsed / 1e6


def migrate(
    ep: Endpoint,
    store: str,
    dbname: str,
    migrations: list[Migration],
    *,
    progress: Progress,
    on_wait: Callable[[str], None],
) -> StoreMigration:
    started = time.perf_counter()
    result = StoreMigration(store, dbname)
    result.created = ensure_database(ep, dbname)
    with connect(ep, dbname) as conn, migration_lock(conn, dbname, on_wait=on_wait):
        conn.execute(HISTORY_DDL.encode())
        states = plan(store, migrations, read_history(conn))
        by_version = {m.version: m for m in migrations}
        todo = [s for s in states if s.state == "pending"]
        result.drift = [s for s in states if s.state in ("drift", "missing", "failed")]
        progress(store, 0, len(todo), dbname)
        for i, s in enumerate(todo):
            m = by_version[s.version]
            if s.out_of_order:
                result.warnings.append(
                    f"{m.path} is older than the newest applied migration; applying it anyway"
                )
            ms = apply(conn, m)
            result.applied.append(
                MigrationState(
                    m.version, m.description, m.path, "applied", dt.datetime.now(dt.UTC), ms, s.out_of_order
                )
            )
            progress(store, i + 1, len(todo), m.name)
    result.seconds = time.perf_counter() - started
    return result


def quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
