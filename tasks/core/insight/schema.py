"""db.schema: a branch's schema as the statements that build it (SQL, CQL), and KeyDB's shape.

Postgres: the catalogs read by inspect_pg, written out by db.diff's SQL generator against an empty
schema, so the text is the same DDL a migration diff would give (no pg_dump of the right version
needed). CQL: the server's own ``DESCRIBE KEYSPACE`` (Cassandra 4+, ScyllaDB 5.2+). KeyDB has no
schema: per namespace its key types and counts, as comments.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from tasks.core.db import inspect_pg, keydb, postgres
from tasks.core.db.errors import MissingDatabase
from tasks.core.db.files import POSTGRES_ROLES
from tasks.core.db.scylla import BOOKKEEPING
from tasks.core.db.target import Target, parallel
from tasks.core.errors import ClikdError
from tasks.core.stack.cql import Connection, CqlError


@dataclass
class StoreSchema:
    store: str
    target: str
    exists: bool
    language: str  # sql | cql | text
    statements: list[str] = field(default_factory=list)
    error: str = ""


@dataclass
class SchemaReport:
    branch: str
    stores: list[StoreSchema]


def _postgres(t: Target, role: str) -> StoreSchema:
    from tasks.core.db.diff import diff_postgres

    out = StoreSchema(role, t.database(role), False, "sql")
    try:
        with postgres.connect(t.postgres, t.database(role)) as conn:
            this = inspect_pg.schema(conn)
    except MissingDatabase:
        return out
    except ClikdError as error:
        out.error = error.message
        return out
    out.exists = True
    empty: dict[str, dict[str, object]] = {k: {} for k in inspect_pg.KINDS}
    # Functions come before the tables their bodies name (the order a migration diff runs in), so
    # their bodies are checked when called, not when created: what pg_dump's output does too.
    built = [s for change in diff_postgres(role, this, empty) for s in change.sql]
    out.statements = ["SET check_function_bodies = false;", *built] if built else []
    return out


def _scylla(t: Target) -> StoreSchema:
    out = StoreSchema("scylla", t.keyspace, False, "cql")
    ep = t.scylla
    try:
        with Connection(ep.host, ep.port, user=ep.user, password=ep.password, timeout=10) as cql:
            rows = cql.query('DESCRIBE KEYSPACE "' + t.keyspace.replace('"', '""') + '"')
    except CqlError as error:
        if "not found" in str(error).lower():
            return out
        out.error = f"the CQL server at {ep.host}:{ep.port} answered: {error}"[:300]
        return out
    except OSError as error:
        out.error = f"the CQL server at {ep.host}:{ep.port} does not answer: {error}"
        return out
    out.exists = True
    if rows is None:
        return out
    names = {c: i for i, c in enumerate(rows.columns)}
    for row in rows.rows:
        name = (row[names["name"]] or b"").decode() if "name" in names else ""
        if name in BOOKKEEPING:
            continue
        out.statements.append((row[names["create_statement"]] or b"").decode().strip())
    return out


def _keydb(t: Target) -> StoreSchema:
    from tasks.core.db.diff import keydb_census

    out = StoreSchema("keydb", t.prefix, False, "text")
    try:
        conn = keydb.client(t.keydb)
    except ClikdError as error:
        out.error = error.message
        return out
    try:
        census = keydb_census(conn, t)
    finally:
        conn.close()
    out.exists = bool(census)
    for ns in sorted(census):
        types = ", ".join(f"{kind} {n:,}" for kind, n in sorted(census[ns].items()))
        out.statements.append(f"# {t.prefix}{ns}:*  {sum(census[ns].values()):,} keys ({types})")
    return out


def schema(t: Target, stores: list[str]) -> SchemaReport:
    def job(store: str) -> Callable[[], StoreSchema]:
        if store in POSTGRES_ROLES:
            return lambda: _postgres(t, store)
        return (lambda: _scylla(t)) if store == "scylla" else (lambda: _keydb(t))

    done = parallel({s: job(s) for s in stores})
    return SchemaReport(t.branch, [done[s] for s in stores])
