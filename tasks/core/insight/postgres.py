"""db.inspect for a Postgres database: its tables with rows and size, its migrations.

On this machine over clikd's own wire client (tasks/core/stack/pgwire.py: psycopg's import alone
costs more than the inspection); through a bastion's tunnel over psycopg, which negotiates TLS
where the server wants it.
"""

# ruff: noqa: S608  (catalog queries: names are quoted)
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from tasks.core.db.files import Migration
from tasks.core.db.postgres import HISTORY
from tasks.core.insight.model import StoreInsight, TableInsight
from tasks.core.stack.pgwire import quote_ident, quote_literal
from tasks.core.stores import Endpoint

# Tables the planner believes smaller than this are counted (a few ms each); larger ones keep the
# planner's estimate, so inspecting production never scans a big table.
EXACT_BELOW = 100_000

TABLES = (
    "SELECT c.relname, c.reltuples::bigint, pg_total_relation_size(c.oid) FROM pg_class c "
    "JOIN pg_namespace n ON n.oid = c.relnamespace "
    f"WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relname <> {quote_literal(HISTORY)} "
    "ORDER BY c.relname"
)
Query = Callable[[str], list[tuple[Any, ...]]]


class Missing(Exception):
    """The database does not exist."""


@contextmanager
def _opened(ep: Endpoint, dbname: str, *, remote: bool) -> Iterator[Query]:
    if remote:
        from tasks.core.db import postgres
        from tasks.core.db.errors import MissingDatabase

        try:
            conn = postgres.connect(ep, dbname)
        except MissingDatabase:
            raise Missing from None
        with conn:
            yield lambda sql: conn.execute(sql.encode()).fetchall()
        return
    from tasks.core.stack.pgwire import Connection, PgError

    try:
        wire = Connection(
            ep.host, ep.port, user=ep.user or "postgres", password=ep.password, dbname=dbname, timeout=10
        )
    except PgError as error:
        if error.code == "3D000":  # invalid_catalog_name: no such database
            raise Missing from None
        raise
    with wire:
        yield wire.query


def inspect(
    ep: Endpoint, store: str, dbname: str, migrations: list[Migration], *, remote: bool
) -> StoreInsight:
    from tasks.core.errors import ClikdError
    from tasks.core.stack.pgwire import PgError

    out = StoreInsight(store, "postgres", dbname, exists=False, total=len(migrations))
    try:
        with _opened(ep, dbname, remote=remote) as query:
            out.exists = True
            _read(query, out, {m.version for m in migrations})
    except Missing:
        out.exists = False
    except ClikdError as error:
        out.error = error.message
    except (PgError, OSError) as error:
        out.error = f"postgres at {ep.host}:{ep.port} does not answer: {error}"
    return out


def _read(query: Query, out: StoreInsight, versions: set[int]) -> None:
    history = query(f"SELECT to_regclass({quote_literal('public.' + HISTORY)}) IS NOT NULL")
    if history and str(history[0][0]) in ("t", "True"):
        done = [int(v) for (v,) in query(f"SELECT version FROM {HISTORY} WHERE success")]
        applied = [v for v in done if v in versions]
        out.applied, out.version = len(applied), max(applied, default=None)
    size = query("SELECT pg_database_size(current_database())")
    out.bytes = int(size[0][0]) if size else None
    for name, estimate, total in query(TABLES):
        # reltuples is -1 for a table never vacuumed or analyzed: no estimate at all
        if int(estimate) < EXACT_BELOW:
            counted = query(f"SELECT count(*) FROM {quote_ident(str(name))}")
            out.tables.append(
                TableInsight(str(name), int(counted[0][0]) if counted else None, True, int(total))
            )
        else:
            out.tables.append(TableInsight(str(name), int(estimate), False, int(total)))
