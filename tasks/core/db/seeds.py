"""Loading the development seed data of seeds/ into a branch's stores.

- ``seeds/postgres/{auth,main}.sql``: INSERT ... ON CONFLICT DO NOTHING, run in one transaction;
- ``seeds/scylla/<table>.jsonl``: one JSON row per line, written with ``INSERT INTO t JSON ?`` in
  unlogged batches that each hold one partition (cheap for the server, few round trips);
- ``seeds/keydb/keys.jsonl``: typed keys under the branch's prefix, each replaced whole, with TTLs;
- ``seeds/s3/<key>``: objects of the branch's bucket, each file's path below ``seeds/s3`` its key.
Seeding twice leaves the same data: db.seed is safe to rerun.
"""

# ruff: noqa: S608  (statements name only tables read from the catalog, quoted; values go as parameters)
from __future__ import annotations

import json
import re
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tasks.core.db import keydb, postgres, scylla
from tasks.core.db.errors import MigrationFailed
from tasks.core.db.files import POSTGRES_ROLES, Source
from tasks.core.db.target import Target, parallel

SEEDS = "seeds"
BATCH_ROWS = 50


@dataclass
class SeedReport:
    branch: str
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # store -> table/type -> rows
    seconds: dict[str, float] = field(default_factory=dict)


def postgres_seed(source: Source, role: str) -> list[tuple[str, str]]:
    return [(p, t) for p, t in source.files(f"{SEEDS}/postgres") if Path(p).name == f"{role}.sql"]


def scylla_seed(source: Source) -> list[tuple[str, str]]:
    return [(p, t) for p, t in source.files(f"{SEEDS}/scylla") if p.endswith(".jsonl")]


def keydb_seed(source: Source) -> list[tuple[str, str]]:
    return [(p, t) for p, t in source.files(f"{SEEDS}/keydb") if p.endswith(".jsonl")]


def load_postgres(conn: Any, files: list[tuple[str, str]]) -> int:
    """Run the seed SQL in one transaction; returns the number of files."""
    import psycopg

    for path, text in files:
        try:
            with conn.transaction():
                conn.execute(text.encode("utf-8"))
        except psycopg.Error as exc:
            raise MigrationFailed(
                f"seed {path}: {str(exc).strip().splitlines()[0]}",
                hint="migrate the branch first (inv db.migrate), or regenerate seeds/ (seeds/generate.py)",
            ) from None
    return len(files)


# db.dump appends the row's remaining TTL as this last key of a CQL row's JSON; not a column.
TTL_KEY = "__clikd_ttl"
ROW_TTL = re.compile(r', "' + TTL_KEY + r'": (\d+)\}\s*$')


def load_scylla(sess: Any, keyspace: str, files: list[tuple[str, str]]) -> dict[str, int]:
    from cassandra.query import BatchStatement, BatchType

    counts: dict[str, int] = {}
    batches: list[Any] = []
    for path, text in files:
        table = Path(path).stem
        rows = [line for line in text.splitlines() if line.strip()]
        keys = [
            r.column_name
            for r in sess.execute(
                "SELECT column_name, kind, position FROM system_schema.columns "
                "WHERE keyspace_name = %s AND table_name = %s",
                (keyspace, table),
            )
            if r.kind == "partition_key"
        ]
        if not keys:
            raise MigrationFailed(
                f"seed {path}: table {keyspace}.{table} does not exist",
                hint="migrate the branch first (inv db.migrate)",
            )
        insert = sess.prepare(f'INSERT INTO "{keyspace}"."{table}" JSON ?')
        expiring = sess.prepare(f'INSERT INTO "{keyspace}"."{table}" JSON ? USING TTL ?')
        partitions: dict[tuple[Any, ...], list[str]] = defaultdict(list)
        for line in rows:
            doc = json.loads(line)
            partitions[tuple(doc.get(k) for k in keys)].append(line)
        for lines in partitions.values():
            for i in range(0, len(lines), BATCH_ROWS):
                batch = BatchStatement(batch_type=BatchType.UNLOGGED)
                for line in lines[i : i + BATCH_ROWS]:
                    ttl = ROW_TTL.search(line)
                    if ttl:  # a dumped row that was expiring (db.dump): it expires again after restore
                        batch.add(expiring, (line[: ttl.start()] + "}", int(ttl.group(1))))
                    else:
                        batch.add(insert, (line,))
                batches.append(batch)
        counts[table] = len(rows)
    run_concurrently(sess, batches)
    return counts


def run_concurrently(sess: Any, statements: list[Any], concurrency: int = 16) -> None:
    """Execute with bounded concurrency; statements that time out (a busy node) are retried once."""
    from cassandra.concurrent import execute_concurrent

    if not statements:
        return
    results = execute_concurrent(
        sess, [(s, None) for s in statements], concurrency=concurrency, raise_on_first_error=False
    )
    failed = [s for s, (ok, _res) in zip(statements, results, strict=True) if not ok]
    for statement in failed:
        sess.execute(statement, timeout=120)


def load_keydb(conn: Any, prefix: str, files: list[tuple[str, str]]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    pipe = conn.pipeline(transaction=False)
    for _path, text in files:
        for line in text.splitlines():
            if not line.strip():
                continue
            doc = json.loads(line)
            key, kind, value = prefix + doc["key"], doc["type"], doc["value"]
            pipe.delete(key)
            if kind == "string":
                pipe.set(key, value)
            elif kind == "hash":
                pipe.hset(key, mapping=value)
            elif kind == "set":
                pipe.sadd(key, *value)
            elif kind == "zset":
                pipe.zadd(key, value)
            elif kind == "list":
                pipe.rpush(key, *value)
            else:
                raise MigrationFailed(
                    f"seed key {doc['key']}: unknown type {kind!r}",
                    hint="use string, hash, set, zset or list",
                )
            if doc.get("ttl"):
                pipe.expire(key, int(doc["ttl"]))
            counts[kind] += 1
    pipe.execute()
    return dict(counts)


def seed(t: Target, stores: list[str] | None = None, *, source: Source | None = None) -> SeedReport:
    """Load the seeds into the branch's (migrated) stores."""
    src = source or Source(t.root)
    chosen = stores or t.stores
    report = SeedReport(t.branch)

    def pg(role: str) -> dict[str, int]:
        started = time.perf_counter()
        with postgres.connect(t.postgres, t.database(role)) as conn:
            load_postgres(conn, postgres_seed(src, role))
            counts = table_counts(conn)
        report.seconds[role] = time.perf_counter() - started
        return counts

    def cql() -> dict[str, int]:
        started = time.perf_counter()
        with scylla.session(t.scylla, t.keyspace) as sess:
            counts = load_scylla(sess, t.keyspace, scylla_seed(src))
        report.seconds["scylla"] = time.perf_counter() - started
        return counts

    def kv() -> dict[str, int]:
        started = time.perf_counter()
        counts = load_keydb(keydb.client(t.keydb), t.prefix, keydb_seed(src))
        report.seconds["keydb"] = time.perf_counter() - started
        return counts

    def objects() -> dict[str, int]:
        from tasks.core.stores.s3 import buckets, transfer

        started = time.perf_counter()
        ep = t.object_store()
        files = transfer.seed_files(t.root)
        buckets.ensure(ep, t.bucket)
        sent = transfer.upload(ep, t.bucket, files)
        report.seconds["s3"] = time.perf_counter() - started
        return {"objects": len(files), "bytes": sent}

    jobs: dict[str, Any] = {}
    for store in chosen:
        if store in POSTGRES_ROLES:
            jobs[store] = lambda role=store: pg(role)
        elif store == "scylla":
            jobs[store] = cql
        elif store == "s3":
            jobs[store] = objects
        else:
            jobs[store] = kv
    report.counts = parallel(jobs)
    return report


def table_counts(conn: Any) -> dict[str, int]:
    """Exact row counts of the public tables (bookkeeping excluded)."""
    names = [
        r[0]
        for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> %s ORDER BY 1",
            (postgres.HISTORY,),
        ).fetchall()
    ]
    if not names:
        return {}
    union = " UNION ALL ".join(
        f"SELECT {postgres.quote_literal(n)}, count(*) FROM {postgres.quote_ident(n)}" for n in names
    )
    return {r[0]: int(r[1]) for r in conn.execute(union.encode()).fetchall()}
