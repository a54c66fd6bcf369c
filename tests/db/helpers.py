"""Reading the stores directly in tests (psycopg, cassandra-driver, redis): what is really there."""
# ruff: noqa: S608  (tests read tables by the names they know)

from __future__ import annotations

import json
from typing import Any

from tasks.core.db import keydb, postgres, scylla


def pg_tables(t: Any, role: str) -> set[str]:
    with postgres.connect(t.postgres, t.database(role)) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
    return {r[0] for r in rows}


def pg_count(t: Any, role: str, table: str) -> int:
    with postgres.connect(t.postgres, t.database(role)) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}".encode()).fetchone()
    assert row is not None
    return int(row[0])


def pg_history(t: Any, role: str) -> list[tuple[int, bytes]]:
    with postgres.connect(t.postgres, t.database(role)) as conn:
        rows = conn.execute("SELECT version, checksum FROM clikd_migrations ORDER BY version").fetchall()
    return [(int(r[0]), bytes(r[1])) for r in rows]


def cql_tables(t: Any) -> set[str]:
    with scylla.session(t.scylla) as sess:
        return set(scylla.tables(sess, t.keyspace))


def cql_count(t: Any, table: str) -> int:
    with scylla.session(t.scylla) as sess:
        return int(sess.execute(f'SELECT count(*) FROM "{t.keyspace}".{table}').one()[0])


def cql_history(t: Any) -> dict[int, bool]:
    with scylla.session(t.scylla) as sess:
        rows = sess.execute(f'SELECT version, success FROM "{t.keyspace}".clikd_migrations')
        return {int(r.version): bool(r.success) for r in rows}


def kv_keys(t: Any) -> set[str]:
    conn = keydb.client(t.keydb)
    return {k.decode() for k in conn.scan_iter(match=t.pattern, count=1000)}


def kv_history(t: Any) -> set[int]:
    conn = keydb.client(t.keydb)
    return {int(k) for k in conn.hkeys(keydb.history_key(t.prefix))}


def as_json(text: str) -> Any:
    return json.loads(text)
