"""The branch's own databases inside the stores: created on start, dropped on purge.

Postgres gets ``<project>_auth_<branch>`` and ``<project>_main_<branch>``; the CQL store the keyspace
``<project>_<branch>``; the object store the bucket ``<project>-<branch>``; KeyDB needs nothing (keys
carry the branch prefix). Every step is idempotent,
so an interrupted start converges on the next run.
"""

from __future__ import annotations

from tasks.core.branch import BranchIdentity
from tasks.core.config.schema import Settings
from tasks.core.stack.pgwire import Connection, PgError, quote_ident, quote_literal
from tasks.core.stack.spec import POSTGRES_ROLES
from tasks.core.stores import Endpoint, endpoint


def pg_connect(ep: Endpoint, timeout: float = 5.0) -> Connection:
    """An admin connection to the ``postgres`` database of the branch's server."""
    return Connection(ep.host, ep.port, user=ep.user or "postgres", password=ep.password, timeout=timeout)


def ensure_postgres(settings: Settings, ident: BranchIdentity) -> list[str]:
    """Create the branch's databases that do not exist yet; returns those created."""
    ep = endpoint(settings, ident, "postgres")
    names = [ident.postgres_db(role) for role in POSTGRES_ROLES]
    created: list[str] = []
    with pg_connect(ep) as conn:
        listed = ", ".join(quote_literal(n) for n in names)
        have = {row[0] for row in conn.query(f"SELECT datname FROM pg_database WHERE datname IN ({listed})")}  # noqa: S608
        for name in names:
            if name in have:
                continue
            try:
                conn.query(f"CREATE DATABASE {quote_ident(name)}")
                created.append(name)
            except PgError as exc:
                if exc.code != "42P04":  # duplicate_database: created meanwhile by a concurrent run
                    raise
    return created


def ensure_keyspace(settings: Settings, ident: BranchIdentity) -> bool:
    """Create the branch's keyspace when missing (NetworkTopologyStrategy, RF 1: Scylla and Cassandra)."""
    from tasks.core.stack.cql import Connection, quote_literal

    ep = endpoint(settings, ident, "scylla")
    with Connection(ep.host, ep.port, user=ep.user, password=ep.password, timeout=10) as conn:
        rows = conn.query(
            "SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = "  # noqa: S608  (quoted literal)
            + quote_literal(ident.keyspace)
        )
        if rows and rows.rows:
            return False
        conn.query(
            f'CREATE KEYSPACE IF NOT EXISTS "{ident.keyspace}" WITH replication = '
            "{'class': 'NetworkTopologyStrategy', 'replication_factor': 1}"
        )
        return True


def ensure(settings: Settings, ident: BranchIdentity, kind: str) -> list[str]:
    """What had to be created in the ``kind`` store for this branch (empty when all was there)."""
    if kind == "postgres":
        return ensure_postgres(settings, ident)
    if kind == "scylla":
        return [ident.keyspace] if ensure_keyspace(settings, ident) else []
    if kind == "s3":
        from tasks.core.stores.s3 import wire

        ep = endpoint(settings, ident, "s3")
        try:
            if wire.bucket_exists(ep, ident.bucket):  # the usual case, without loading the S3 client
                return []
        except wire.WireError:
            pass  # the client below says what is wrong (refused keys: which ones), with a hint
        from tasks.core.stores.s3 import buckets

        return [f"bucket {ident.bucket}"] if buckets.ensure(ep, ident.bucket) else []
    return []


def drop_external(settings: Settings, ident: BranchIdentity, kind: str) -> list[str]:
    """Remove the branch's data from a shared (external) store; returns what was dropped."""
    if kind == "postgres":
        ep = endpoint(settings, ident, "postgres")
        dropped: list[str] = []
        with pg_connect(ep) as conn:
            for role in POSTGRES_ROLES:
                name = ident.postgres_db(role)
                # db.reset's standby copy of the branch database goes with it
                for db in (name, ident.postgres_standby(role)):
                    if conn.query(f"SELECT 1 FROM pg_database WHERE datname = {quote_literal(db)}"):  # noqa: S608
                        conn.query(f"DROP DATABASE {quote_ident(db)} WITH (FORCE)")
                        dropped.append(f"postgres database {db}")
        return dropped
    if kind == "scylla":
        from tasks.core.stack.cql import Connection

        ep = endpoint(settings, ident, "scylla")
        with Connection(ep.host, ep.port, user=ep.user, password=ep.password, timeout=30) as conn:
            conn.query(f'DROP KEYSPACE IF EXISTS "{ident.keyspace}"')
        return [f"keyspace {ident.keyspace}"]
    if kind == "keydb":
        import redis

        ep = endpoint(settings, ident, "keydb")
        client = redis.Redis(host=ep.host, port=ep.port, password=ep.password or None, socket_timeout=10)
        try:
            count = 0
            batch: list[bytes] = []
            for key in client.scan_iter(match=ident.key_pattern, count=1000):
                batch.append(key)
                if len(batch) >= 1000:
                    count += int(client.delete(*batch))
                    batch.clear()
            if batch:
                count += int(client.delete(*batch))
        finally:
            client.close()
        return [f"{count} keys under {ident.key_prefix}"]
    if kind == "s3":
        from tasks.core.stores.s3 import buckets

        objects = buckets.drop(endpoint(settings, ident, "s3"), ident.bucket)
        return [] if objects is None else [f"bucket {ident.bucket} ({objects} objects)"]
    return []
