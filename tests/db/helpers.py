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


def pg_state(t: Any, role: str) -> dict[str, Any]:
    """Every table's rows (as text, sorted), every sequence's position, and the schema objects."""
    from tasks.core.db import inspect_pg

    with postgres.connect(t.postgres, t.database(role)) as conn:
        tables = [
            r[0]
            for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
        ]
        state: dict[str, Any] = {}
        for name in sorted(tables):
            rows = conn.execute(f'SELECT t::text FROM "{name}" t'.encode()).fetchall()
            state[name] = sorted(r[0] for r in rows)
        for (seq,) in conn.execute(
            "SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'"
        ).fetchall():
            state[f"seq:{seq}"] = conn.execute(
                f'SELECT last_value, is_called FROM "{seq}"'.encode()
            ).fetchone()
        state["schema"] = inspect_pg.schema(conn)
    return state


def cql_state(t: Any) -> dict[str, Any]:
    with scylla.session(t.scylla) as sess:
        names = scylla.tables(sess, t.keyspace) + scylla.views(sess, t.keyspace)
        state: dict[str, Any] = {}
        for name in names:
            if name == "clikd_migrations":
                rows = sess.execute(
                    f'SELECT version, description, checksum, success FROM "{t.keyspace}".{name}'
                )
                state[name] = sorted(str(tuple(r)) for r in rows)
                continue
            state[name] = sorted(r[0] for r in sess.execute(f'SELECT JSON * FROM "{t.keyspace}"."{name}"'))
        from tasks.core.db.diff import scylla_schema

        state["schema"] = scylla_schema(sess, t.keyspace)
    return state


def kv_state(t: Any) -> dict[str, Any]:
    """Every key under the prefix (without it): type, value, whether it expires."""
    conn = keydb.client(t.keydb)
    out: dict[str, Any] = {}
    for key in conn.scan_iter(match=t.pattern, count=1000):
        kind = conn.type(key).decode()
        value: Any
        if kind == "string":
            value = conn.get(key)
        elif kind == "hash":
            value = sorted(conn.hgetall(key).items())
        elif kind == "set":
            value = sorted(conn.smembers(key))
        elif kind == "zset":
            value = conn.zrange(key, 0, -1, withscores=True)
        elif kind == "list":
            value = conn.lrange(key, 0, -1)
        elif kind == "stream":
            value = (
                [(f, sorted(v.items())) for f, v in conn.xrange(key)],
                [g["name"] for g in conn.xinfo_groups(key)],
            )
        else:
            value = None
        out[key.decode()[len(t.prefix) :]] = (kind, value, conn.pttl(key) > 0)
    return out
