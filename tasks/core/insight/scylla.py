"""db.inspect for a CQL keyspace: its tables with rows and size, its schema version.

Over clikd's own small CQL client (tasks/core/stack/cql.py), as env.status does: the DataStax
driver's import and handshake alone cost more than the whole inspection.
"""

# ruff: noqa: S608  (the names are quoted: quote_literal and _ident)
from __future__ import annotations

from tasks.core.db.files import Migration
from tasks.core.db.scylla import BOOKKEEPING, HISTORY
from tasks.core.insight.model import StoreInsight, TableInsight
from tasks.core.stack.cql import Connection, CqlError, quote_literal
from tasks.core.stores import Endpoint

# Tables whose estimate is below this are counted (COUNT(*) reads the whole table on every replica).
EXACT_BELOW = 100_000


def _int(raw: bytes | None) -> int | None:
    return int.from_bytes(raw, "big", signed=True) if raw else None


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def inspect(ep: Endpoint, keyspace: str, migrations: list[Migration]) -> StoreInsight:
    out = StoreInsight("scylla", "scylla", keyspace, exists=False, total=len(migrations))
    ks = quote_literal(keyspace)
    try:
        with Connection(ep.host, ep.port, user=ep.user, password=ep.password, timeout=10) as cql:
            found = cql.query(f"SELECT table_name FROM system_schema.tables WHERE keyspace_name = {ks}")
            names = found.texts() if found else []
            if not names:
                known = cql.query(
                    f"SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = {ks}"
                )
                out.exists = bool(known and known.rows)
                return out
            out.exists = True
            if HISTORY in names:
                history = cql.query(f"SELECT version, success FROM {_ident(keyspace)}.{HISTORY}")
                kept = history.rows if history else []
                done = [v for v, ok in ((_int(r[0]), r[1]) for r in kept) if v is not None and ok == b"\x01"]
                versions = {m.version for m in migrations}
                out.applied = len([v for v in done if v in versions])
                out.version = max(done, default=None)
            estimates = _estimates(cql, ks)
            disk = _disk(cql, ks)
            for name in sorted(n for n in names if n not in BOOKKEEPING):
                estimate = estimates.get(name)
                if estimate is None or estimate < EXACT_BELOW:
                    counted = cql.query(f"SELECT COUNT(*) FROM {_ident(keyspace)}.{_ident(name)}")
                    rows = _int(counted.rows[0][0]) if counted and counted.rows else None
                    out.tables.append(
                        TableInsight(name, rows if rows is not None else 0, True, disk.get(name))
                    )
                else:
                    out.tables.append(TableInsight(name, estimate, False, disk.get(name)))
            sizes = [t.bytes for t in out.tables if t.bytes is not None]
            out.bytes = sum(sizes) if sizes else None
    except (CqlError, OSError) as error:
        out.error = f"the CQL server at {ep.host}:{ep.port} did not answer: {error}"[:200]
    return out


def _per_table(cql: Connection, sql: str, scale: int = 1) -> dict[str, int]:
    """A (table_name, number) query summed per table; empty where the server has no such table."""
    try:
        got = cql.query(sql)
    except CqlError:
        return {}
    out: dict[str, int] = {}
    for name, number in got.rows if got else []:
        table = (name or b"").decode()
        out[table] = out.get(table, 0) + (_int(number) or 0) * scale
    return out


def _estimates(cql: Connection, ks: str) -> dict[str, int]:
    """Partitions per table from system.size_estimates (the node refreshes it every few minutes)."""
    return _per_table(
        cql, f"SELECT table_name, partitions_count FROM system.size_estimates WHERE keyspace_name = {ks}"
    )


def _disk(cql: Connection, ks: str) -> dict[str, int]:
    """Bytes on disk per table (system_views.disk_usage, Cassandra 4.1+; whole mebibytes there)."""
    return _per_table(
        cql, f"SELECT table_name, mebibytes FROM system_views.disk_usage WHERE keyspace_name = {ks}", 1 << 20
    )
