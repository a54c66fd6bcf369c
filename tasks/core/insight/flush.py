"""db.flush: empty the branch's KeyDB keys (its cache) or its bucket.

KeyDB: every key under the prefix goes, clikd's history too, and the migrations run again: the
result is the store as db.migrate leaves it, without seeds (db.reset --stores keydb seeds it as
well). s3: every object of the branch's bucket goes; the bucket stays (db.reset --stores s3 puts
the seed objects back).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from tasks.core.db import keydb
from tasks.core.db.models import no_progress
from tasks.core.db.target import Target


@dataclass
class FlushReport:
    branch: str
    store: str
    target: str
    deleted: int  # keys (clikd's bookkeeping included) or objects
    migrations: int  # applied again
    seconds: float


def flush_keydb(t: Target) -> FlushReport:
    began = time.monotonic()
    conn = keydb.client(t.keydb)
    try:
        deleted = keydb.delete_prefix(conn, t.pattern)
        files = t.migrations()["keydb"]
        done = keydb.migrate(
            t.keydb, t.prefix, files, progress=no_progress, on_wait=lambda _m: None, conn=conn
        )
    finally:
        conn.close()
    return FlushReport(
        t.branch, "keydb", t.prefix, deleted, len(done.applied), round(time.monotonic() - began, 3)
    )


def flush_s3(t: Target) -> FlushReport:
    from tasks.core.stores.s3 import buckets

    began = time.monotonic()
    ep = t.object_store()
    buckets.ensure(ep, t.bucket)
    deleted = buckets.empty(ep, t.bucket)
    return FlushReport(t.branch, "s3", t.bucket, deleted, 0, round(time.monotonic() - began, 3))
