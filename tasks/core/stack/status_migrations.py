"""env.status, migrations: each store's history read over clikd's own light wire clients.

``db.status`` reads the same history tables through psycopg, cassandra-driver and redis-py, whose
imports and connection set-up alone cost env.status about 0.4 s; the dashboard needs only four
columns of each history row (version, description, checksum, success), which pgwire, the minimal
CQL client and a few RESP commands read in a few milliseconds. The comparison with the files is
the db core's own (``models.plan``), so both commands always agree.
"""

from __future__ import annotations

import json
import struct
from typing import TYPE_CHECKING

from tasks.core.insight import resp
from tasks.core.stack import cql
from tasks.core.stack.links import Link
from tasks.core.stack.model import StoreMigrations

if TYPE_CHECKING:
    from tasks.core.db.files import Migration
    from tasks.core.db.models import Applied, StoreStatus
    from tasks.core.db.target import Target
    from tasks.core.session import Session
    from tasks.core.stores import Endpoint

HISTORY = "clikd_migrations"  # the db core's table and hash name (postgres.py, scylla.py, keydb.py)
KEYDB_META = "_clikd:"
TIMEOUT_S = 2.0
MISSING_DATABASE = "3D000"  # invalid_catalog_name: the branch database is not created yet


def store_kind(store: str) -> str:
    return "postgres" if store in ("auth", "main") else store


def _applied(version: int, description: str, checksum: bytes, success: bool) -> Applied:
    from tasks.core.db.models import Applied

    # when and how long are not part of the dashboard's summary
    return Applied(version, description, checksum, None, None, success)


def _postgres(ep: Endpoint, dbname: str) -> dict[int, Applied] | None:
    """The history rows, or None when the database does not exist."""
    from tasks.core.stack.pgwire import Connection, PgError

    try:
        user = ep.user or "postgres"
        conn = Connection(ep.host, ep.port, user=user, password=ep.password, dbname=dbname, timeout=TIMEOUT_S)
    except PgError as exc:
        if exc.code == MISSING_DATABASE:
            return None
        raise
    with conn:
        exists = conn.query(f"SELECT to_regclass('public.{HISTORY}') IS NOT NULL")
        if not exists or exists[0][0] != "t":
            return {}
        rows = conn.query(f"SELECT version, description, encode(checksum, 'hex'), success FROM {HISTORY}")  # noqa: S608  (a constant)
    return {
        int(v or 0): _applied(int(v or 0), d or "", bytes.fromhex(c or ""), s == "t") for v, d, c, s in rows
    }


def _scylla(conn: cql.Connection, keyspace: str) -> dict[int, Applied] | None:
    found = conn.query(
        "SELECT table_name FROM system_schema.tables WHERE keyspace_name = "  # noqa: S608  (quoted literal)
        + cql.quote_literal(keyspace)
    )
    if found is None or not found.rows:
        known = conn.query(
            "SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = "  # noqa: S608
            + cql.quote_literal(keyspace)
        )
        return {} if known and known.rows else None
    if HISTORY not in found.texts():
        return {}
    rows = conn.query(f'SELECT version, description, checksum, success FROM "{keyspace}".{HISTORY}')  # noqa: S608  (names)
    out: dict[int, Applied] = {}
    for version, description, checksum, success in rows.rows if rows else []:
        if version is None:
            continue
        (number,) = struct.unpack(">q", version)
        out[number] = _applied(
            number, (description or b"").decode(), bytes(checksum or b""), bool(success and success[0])
        )
    return out


def _keydb(link: resp.Client, prefix: str) -> dict[int, Applied] | None:
    items = link.call("HGETALL", f"{prefix}{KEYDB_META}migrations")
    if not isinstance(items, list):
        raise OSError(f"HGETALL answered {items!r}")
    fields = [bytes(i).decode() if isinstance(i, bytes) else str(i) for i in items]
    out: dict[int, Applied] = {}
    for field, raw in zip(fields[::2], fields[1::2], strict=True):
        row = json.loads(raw)
        out[int(field)] = _applied(int(field), row["description"], bytes.fromhex(row["checksum"]), True)
    # a prefix without history counts as not created, as db.status has it
    return out or None


def _status(t: Target, store: str, files: list[Migration], link: Link | None) -> StoreStatus:
    from tasks.core.db.models import StoreStatus, plan

    if store in ("auth", "main"):
        history = _postgres(t.postgres, t.database(store))
    elif isinstance(link, cql.Connection):
        history = _scylla(link, t.keyspace)
    elif isinstance(link, resp.Client):
        history = _keydb(link, t.prefix)
    else:
        raise OSError(f"no connection to {store}")
    return StoreStatus(store, t.name_of(store), history is not None, plan(store, files, history or {}))


def summary(found: StoreStatus) -> StoreMigrations:
    applied, pending = found.count("applied"), found.count("pending")
    drift, failed = found.count("drift") + found.count("missing"), found.count("failed")
    if failed:
        state = "failed"
    elif drift:
        state = "drift"
    elif not found.exists:
        state = "not created"
    elif pending:
        state = f"{pending} pending"
    else:
        state = "up to date"
    return StoreMigrations(found.store, found.target, state, applied, pending, drift, failed)


class Reader:
    """Where each store's migrations stand: the files read once, then one store at a time."""

    def __init__(self, session: Session) -> None:
        from tasks.core.db import target as db_target

        self.target = db_target.for_session(session)
        self.files = self.target.migrations()

    def store(self, store: str, link: Link | None) -> StoreMigrations:
        """``store`` on ``link`` (KeyDB, CQL: the snapshot's link; Postgres: a connection of its own)."""
        try:
            return summary(_status(self.target, store, self.files[store], link))
        except Exception as exc:  # shown per store; the snapshot goes on
            return StoreMigrations(store, "", "unreachable", error=f"{type(exc).__name__}: {exc}"[:200])


def all_stores() -> tuple[str, ...]:
    """The db core's stores in its order (none when the db package is not installed)."""
    try:
        from tasks.core.db.files import STORES
    except ImportError:
        return ()
    return tuple(STORES)


def stores_of(kind: str) -> list[str]:
    """The db core's stores on a database kind, in its order."""
    return [s for s in all_stores() if store_kind(s) == kind]
