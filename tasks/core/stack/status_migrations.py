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
from collections.abc import Callable
from typing import TYPE_CHECKING

from tasks.core.stack import tcp, workers
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


def _scylla(ep: Endpoint, keyspace: str) -> dict[int, Applied] | None:
    from tasks.core.stack.cql import Connection, quote_literal

    with Connection(ep.host, ep.port, user=ep.user, password=ep.password, timeout=TIMEOUT_S) as cql:
        found = cql.query(
            "SELECT table_name FROM system_schema.tables WHERE keyspace_name = "  # noqa: S608  (quoted literal)
            + quote_literal(keyspace)
        )
        if found is None or not found.rows:
            known = cql.query(
                "SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = "  # noqa: S608
                + quote_literal(keyspace)
            )
            return {} if known and known.rows else None
        if HISTORY not in found.texts():
            return {}
        rows = cql.query(f'SELECT version, description, checksum, success FROM "{keyspace}".{HISTORY}')  # noqa: S608  (names)
    out: dict[int, Applied] = {}
    for version, description, checksum, success in rows.rows if rows else []:
        if version is None:
            continue
        (number,) = struct.unpack(">q", version)
        out[number] = _applied(
            number, (description or b"").decode(), bytes(checksum or b""), bool(success and success[0])
        )
    return out


def _resp(*parts: str) -> bytes:
    out = f"*{len(parts)}\r\n"
    for part in parts:
        out += f"${len(part.encode())}\r\n{part}\r\n"
    return out.encode()


def _keydb(ep: Endpoint, prefix: str) -> dict[int, Applied] | None:
    with tcp.connect(ep.host, ep.port, TIMEOUT_S) as sock:
        reader = sock.makefile("rb")
        if ep.password:
            sock.sendall(_resp("AUTH", ep.password))
            answer = reader.readline()
            if answer.startswith(b"-"):
                raise OSError(answer[1:].decode(errors="replace").strip())
        sock.sendall(_resp("HGETALL", f"{prefix}{KEYDB_META}migrations"))
        head = reader.readline().strip()
        if not head.startswith(b"*"):
            raise OSError(f"HGETALL answered {head!r}")
        items: list[str] = []
        for _ in range(int(head[1:])):
            size = int(reader.readline().strip().lstrip(b"$"))
            items.append(reader.read(size + 2)[:-2].decode())
    out: dict[int, Applied] = {}
    for field, raw in zip(items[::2], items[1::2], strict=True):
        row = json.loads(raw)
        out[int(field)] = _applied(int(field), row["description"], bytes.fromhex(row["checksum"]), True)
    # a prefix without history counts as not created, as db.status has it
    return out or None


def _status(t: Target, store: str, files: list[Migration]) -> StoreStatus:
    from tasks.core.db.models import StoreStatus, plan

    if store in ("auth", "main"):
        history = _postgres(t.postgres, t.database(store))
    elif store == "scylla":
        history = _scylla(t.scylla, t.keyspace)
    else:
        history = _keydb(t.keydb, t.prefix)
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


def migrations(session: Session, kinds: set[str]) -> list[StoreMigrations]:
    """Where each store's migrations stand, for the stores on the database kinds given (the healthy ones)."""
    try:
        from tasks.core.db import target as db_target
        from tasks.core.db.files import STORES
    except ImportError:  # the db package is not part of this installation
        return []
    stores = [s for s in STORES if store_kind(s) in kinds]
    if not stores:
        return []
    t = db_target.for_session(session)
    files = t.migrations()

    def one(store: str) -> Callable[[], StoreMigrations]:
        def read() -> StoreMigrations:
            try:
                return summary(_status(t, store, files[store]))
            except Exception as exc:  # shown per store; the snapshot goes on
                return StoreMigrations(store, "", "unreachable", error=f"{type(exc).__name__}: {exc}"[:200])

        return read

    got = workers.run_all({s: one(s) for s in stores}, limit=4)
    return [got[s] for s in stores]
