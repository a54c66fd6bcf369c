"""Remove every store of a branch: both databases and their standby copies, the keyspace, the keys,
the bucket."""

from __future__ import annotations

from tasks.core.db import keydb, postgres, scylla, standby
from tasks.core.db.files import POSTGRES_ROLES
from tasks.core.db.target import Target


def destroy(t: Target) -> None:
    """Idempotent: what does not exist is skipped."""
    with postgres.admin(t.postgres) as conn:
        for role in POSTGRES_ROLES:
            postgres.drop_database(conn, t.database(role))
            standby.drop(conn, t.ident.project, t.database(role))
    with scylla.session(t.scylla) as sess:
        scylla.drop_keyspace(sess, t.keyspace)
    keydb.delete_prefix(keydb.client(t.keydb), t.pattern)
    if t.s3 and (t.remote is None or t.remote.bucket):
        from tasks.core.stores.s3 import buckets

        buckets.drop(t.s3, t.bucket)
