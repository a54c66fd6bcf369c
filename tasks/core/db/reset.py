"""db.reset: the branch's stores back to migrations plus seeds, fast.

- Postgres: a migrated and seeded template database per role and per fingerprint of the migration
  and seed files (``clikd_tpl_main_<hash>``, shared by every branch with the same files) is built once;
  a reset drops the branch database (``WITH (FORCE)``: running services do not block it) and renames
  the branch's standby copy of the template into its place (standby.py), or, without one, clones the
  template (``CREATE DATABASE ... TEMPLATE``). Older templates of the role beyond the newest few are
  removed.
- Scylla: when the keyspace's history matches the migration files, only its tables are emptied (no
  server restart, no schema change): each table is probed with ``LIMIT 1`` and only tables holding
  rows are emptied, by TRUNCATE (default) or by deleting their partitions (``scylla_empty="delete"``,
  which skips TRUNCATE's flush at the cost of tombstones). Otherwise the keyspace is dropped and
  migrated afresh. Then the seed rows are written.
- KeyDB: the prefix's keys are removed with SCAN + UNLINK in batches (never FLUSHDB: branches share
  the database), then the KeyDB migrations and seeds run again.
The stores reset in parallel: a process per driver (workers.py), so that the drivers' imports and
client work use every core.
"""

# ruff: noqa: S608  (statements name only tables read from the catalog, quoted; values go as parameters)
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tasks.core.checkpoint import reached
from tasks.core.db import keydb, postgres, scylla, seeds, standby, workers
from tasks.core.db.files import POSTGRES_ROLES, Migration, Source, fingerprint
from tasks.core.db.models import no_progress
from tasks.core.db.target import Target

KEEP_TEMPLATES = 4  # per role: other checkouts (branches with other migrations) share the server
TEMPLATE_RACES = 3  # rebuilds of a template that another reset collected before it was copied
RECENT_S = 900.0  # a template copied this recently is kept beyond KEEP_TEMPLATES


@dataclass
class StoreReset:
    store: str
    target: str
    how: str
    seconds: float
    phases: dict[str, float] = field(default_factory=dict)


@dataclass
class ResetReport:
    branch: str
    seeded: bool
    stores: list[StoreReset]
    seconds: float = 0.0


# ----------------------------------------------------------------------------------------- postgres


def template_name(t: Target, role: str, fp: str) -> str:
    return f"{t.ident.project}_tpl_{role}_{fp}"


def template_fingerprint(role: str, migrations: list[Migration], seed_files: list[tuple[str, str]]) -> str:
    return fingerprint([(m.path, m.text) for m in migrations] + seed_files + [("role", role)])


def ensure_template(
    t: Target, role: str, migrations: list[Migration], seed_files: list[tuple[str, str]]
) -> tuple[str, bool]:
    """The template database for these files: (name, whether it was built just now)."""
    name = template_name(t, role, template_fingerprint(role, migrations, seed_files))
    ep = t.postgres
    with postgres.admin(ep) as conn:
        if _exists(conn, name):
            return name, False
        with postgres.migration_lock(conn, name, on_wait=lambda _m: None):
            if _exists(conn, name):
                return name, False
            build = f"{name}_build"
            postgres.drop_database(conn, build)
            postgres.create_database(conn, build)
            with postgres.connect(ep, build) as bconn:
                bconn.execute(postgres.HISTORY_DDL.encode())
                for m in migrations:
                    postgres.apply(bconn, m)
                seeds.load_postgres(bconn, seed_files)
            q = postgres.quote_ident
            conn.execute(f"ALTER DATABASE {q(build)} RENAME TO {q(name)}".encode())
            conn.execute(f"ALTER DATABASE {q(name)} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false".encode())
            note = f"clikd template of {role}: {len(migrations)} migrations, {len(seed_files)} seed files"
            _mark_used(conn, name, note)
            _collect(conn, t, role, keep=name)
    return name, True


USED = "; used at "  # the comment's suffix: when a reset last copied the template (epoch seconds)


def _mark_used(conn: Any, name: str, note: str | None = None) -> None:
    """Stamp the template's comment with now, so collection drops the least recently used first."""
    if note is None:
        row = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", (name,)
        ).fetchone()
        note = str(row[0] or "").split(USED)[0] if row else ""
    q = postgres.quote_ident
    text = f"{note}{USED}{time.time():.0f}"
    conn.execute(f"COMMENT ON DATABASE {q(name)} IS {postgres.quote_literal(text)}".encode())


def _last_used(comment: str | None) -> float:
    try:
        return float(str(comment).rsplit(USED, 1)[1])
    except (IndexError, ValueError):
        return 0.0  # built by an older clikd: never stamped


def _exists(conn: Any, name: str) -> bool:
    return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def _collect(conn: Any, t: Target, role: str, *, keep: str) -> None:
    """Drop this role's least recently used templates beyond KEEP_TEMPLATES.

    One in use within RECENT_S is never dropped, however many there are: another checkout's reset
    may be about to copy it (several checkouts, or parallel test workers, share the server).
    """
    like = f"{t.ident.project}_tpl_{role}_%".replace("_", r"\_").replace(r"\_%", "_%")
    rows = conn.execute(
        "SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database "
        "WHERE datname LIKE %s AND datname <> %s ORDER BY oid DESC",
        (like, keep),
    ).fetchall()
    by_use = sorted(((_last_used(c), n) for n, c in rows), reverse=True)
    recent = time.time() - RECENT_S
    for used, name in by_use[KEEP_TEMPLATES - 1 :]:
        if used >= recent:
            continue
        q = postgres.quote_ident(name)
        conn.execute(f"ALTER DATABASE {q} WITH IS_TEMPLATE false".encode())
        postgres.drop_database(conn, name)


def clone(t: Target, role: str, template: str, *, keep_standby: bool = True) -> str:
    """Replace the branch's database with a copy of ``template``: its standby copy when there is one."""
    db = t.database(role)
    with postgres.admin(t.postgres) as conn, postgres.migration_lock(conn, db, on_wait=lambda _m: None):
        if keep_standby and standby.take(conn, t.ident.project, db, template):
            how = "standby copy of"
        else:
            postgres.drop_database(conn, db)
            postgres.create_database(conn, db, template=template)
            how = "clone of"
        _mark_used(conn, template)
    if keep_standby:
        # The copy for the next reset is made after this command has answered (see workers.afterwards).
        workers.afterwards(lambda: standby.refill(t.postgres, t.ident.project, db, template))
    return how


def reset_postgres(
    t: Target,
    role: str,
    migrations: list[Migration],
    seed_files: list[tuple[str, str]],
    *,
    keep_standby: bool = True,
) -> StoreReset:
    import psycopg

    started = time.perf_counter()
    for attempt in range(TEMPLATE_RACES + 1):
        template, built = ensure_template(t, role, migrations, seed_files)
        ready = time.perf_counter()
        reached(f"template:{role}")
        try:
            cloned = clone(t, role, template, keep_standby=keep_standby)
            break
        except psycopg.errors.InvalidCatalogName:
            # Another checkout's reset collected this template between our build and our copy
            # (_collect keeps only the newest few): build it again.
            if attempt == TEMPLATE_RACES:
                raise
    how = f"{cloned} {template}" + (" (template built now)" if built else "")
    done = time.perf_counter()
    return StoreReset(
        role, t.database(role), how, done - started, {"template": ready - started, "clone": done - ready}
    )


# ----------------------------------------------------------------------------------------- scylla


def history_matches(sess: Any, keyspace: str, migrations: list[Migration]) -> bool:
    history = scylla.read_history(sess, keyspace)
    return all(a.success for a in history.values()) and {v: a.checksum for v, a in history.items()} == {
        m.version: m.checksum for m in migrations
    }


def data_tables(sess: Any, keyspace: str) -> list[str]:
    return [n for n in scylla.tables(sess, keyspace) if n not in scylla.BOOKKEEPING]


def nonempty_tables(sess: Any, keyspace: str, names: list[str] | None = None) -> list[str]:
    names = data_tables(sess, keyspace) if names is None else names
    probes = [sess.execute_async(f'SELECT * FROM "{keyspace}"."{n}" LIMIT 1') for n in names]
    return [n for n, f in zip(names, probes, strict=True) if f.result().one() is not None]


def empty_tables(sess: Any, keyspace: str, strategy: str, names: list[str] | None = None) -> list[str]:
    """Empty those of ``names`` (default: all data tables) that hold rows; returns them."""
    full = nonempty_tables(sess, keyspace, names)
    if strategy == "truncate":
        futures = [sess.execute_async(f'TRUNCATE "{keyspace}"."{n}"', timeout=120) for n in full]
        for f in futures:
            f.result()
        return full
    statements: list[Any] = []
    for n in full:
        keys = partition_keys(sess, keyspace, n)
        cols = ", ".join(f'"{k}"' for k in keys)
        delete = sess.prepare(
            f'DELETE FROM "{keyspace}"."{n}" WHERE ' + " AND ".join(f'"{k}" = ?' for k in keys)
        )
        for row in sess.execute(f'SELECT DISTINCT {cols} FROM "{keyspace}"."{n}"'):
            statements.append(delete.bind(tuple(row)))
    seeds.run_concurrently(sess, statements, concurrency=64)
    return full


def partition_keys(sess: Any, keyspace: str, table: str) -> list[str]:
    rows = sess.execute(
        "SELECT column_name, kind, position FROM system_schema.columns "
        "WHERE keyspace_name = %s AND table_name = %s",
        (keyspace, table),
    )
    return [
        r.column_name
        for r in sorted((r for r in rows if r.kind == "partition_key"), key=lambda r: r.position)
    ]


def digests(sess: Any, keyspace: str, names: list[str]) -> dict[str, bytes]:
    """SHA-256 of each table's whole content (its SELECT JSON rows, sorted): what the table holds."""
    import hashlib

    futures = {n: sess.execute_async(f'SELECT JSON * FROM "{keyspace}"."{n}"') for n in names}
    out: dict[str, bytes] = {}
    for n, f in futures.items():
        rows = sorted(r[0] for r in f.result())  # the result pages through the whole table
        out[n] = hashlib.sha256("\n".join(rows).encode("utf-8")).digest()
    return out


SEED_STATE_DDL = (
    f"CREATE TABLE IF NOT EXISTS {scylla.SEED_STATE} (table_name text PRIMARY KEY, seed text, content blob)"
)


def reset_tables(
    sess: Any, keyspace: str, seed_files: list[tuple[str, str]], strategy: str, phases: dict[str, float]
) -> str:
    """Bring the keyspace's tables back to their seeds, touching only tables that differ from them.

    After each reset the content digest of every table is recorded (with the fingerprint of its seed
    file) in ``clikd_seed_state``. A table whose content still has that digest holds exactly its seed
    rows and is left alone; the others are emptied and seeded again. Reading a few thousand rows is
    much cheaper than TRUNCATE (a memtable flush per table) plus writing them again.
    """
    mark = time.perf_counter()
    names = data_tables(sess, keyspace)
    by_table = {Path(p).stem: (p, text) for p, text in seed_files}
    wanted = {n: fingerprint([by_table[n]]) if n in by_table else "empty" for n in names}
    if scylla.SEED_STATE not in scylla.tables(sess, keyspace):
        sess.execute(f'USE "{keyspace}"')
        sess.execute(SEED_STATE_DDL)
        recorded: dict[str, tuple[str, bytes]] = {}
    else:
        recorded = {
            r.table_name: (r.seed, bytes(r.content or b""))
            for r in sess.execute(f'SELECT table_name, seed, content FROM "{keyspace}".{scylla.SEED_STATE}')
        }
    now = digests(sess, keyspace, [n for n in names if n in recorded])
    clean = [n for n in names if n in recorded and recorded[n] == (wanted[n], now[n])]
    dirty = [n for n in names if n not in clean]
    phases["verify"] = time.perf_counter() - mark
    mark = time.perf_counter()
    emptied = empty_tables(sess, keyspace, strategy, dirty)
    phases["empty"] = time.perf_counter() - mark
    mark = time.perf_counter()
    seeds.load_scylla(sess, keyspace, [by_table[n] for n in dirty if n in by_table])
    phases["seed"] = time.perf_counter() - mark
    mark = time.perf_counter()
    insert = sess.prepare(
        f'INSERT INTO "{keyspace}".{scylla.SEED_STATE} (table_name, seed, content) VALUES (?, ?, ?)'
    )
    for n, digest in digests(sess, keyspace, dirty).items():
        sess.execute(insert, (n, wanted[n], digest))
    phases["record"] = time.perf_counter() - mark
    return (
        f"{len(clean)} table(s) verified unchanged; {len(dirty)} reseeded "
        f"({strategy} of {len(emptied)} holding rows)"
    )


def reset_scylla(
    t: Target, migrations: list[Migration], seed_files: list[tuple[str, str]], strategy: str
) -> StoreReset:
    started = time.perf_counter()
    phases: dict[str, float] = {}
    with scylla.session(t.scylla) as sess:
        phases["connect"] = time.perf_counter() - started
        mark = time.perf_counter()
        if scylla.keyspace_exists(sess, t.keyspace) and history_matches(sess, t.keyspace, migrations):
            how = reset_tables(sess, t.keyspace, seed_files, strategy, phases)
        else:
            scylla.drop_keyspace(sess, t.keyspace)
            scylla.migrate(
                t.scylla, t.keyspace, migrations, progress=no_progress, on_wait=lambda _m: None, sess=sess
            )
            phases["migrate"] = time.perf_counter() - mark
            how = "keyspace dropped and migrated afresh; " + reset_tables(
                sess, t.keyspace, seed_files, strategy, phases
            )
    return StoreReset("scylla", t.keyspace, how, time.perf_counter() - started, phases)


# ----------------------------------------------------------------------------------------- keydb


def reset_keydb(t: Target, migrations: list[Migration], seed_files: list[tuple[str, str]]) -> StoreReset:
    started = time.perf_counter()
    conn = keydb.client(t.keydb)
    removed = keydb.delete_prefix(conn, t.pattern)
    mark = time.perf_counter()
    keydb.migrate(t.keydb, t.prefix, migrations, progress=no_progress, on_wait=lambda _m: None, conn=conn)
    if seed_files:
        seeds.load_keydb(conn, t.prefix, seed_files)
    done = time.perf_counter()
    return StoreReset(
        "keydb",
        t.prefix,
        f"unlinked {removed} key(s), migrated, seeded"
        if seed_files
        else f"unlinked {removed} key(s), migrated",
        done - started,
        {"unlink": mark - started, "migrate+seed": done - mark},
    )


# -------------------------------------------------------------------------------------------- s3


def reset_s3(t: Target, seeded: bool) -> StoreReset:
    """Empty the branch's bucket, then put the seed objects back."""
    from tasks.core.stores.s3 import buckets, transfer

    started = time.perf_counter()
    ep = t.object_store()
    buckets.ensure(ep, t.bucket)
    removed = buckets.empty(ep, t.bucket)
    mark = time.perf_counter()
    files = transfer.seed_files(t.root) if seeded else []
    transfer.upload(ep, t.bucket, files)
    done = time.perf_counter()
    what = f"deleted {removed} object(s)" + (f", put {len(files)} seed object(s)" if seeded else "")
    return StoreReset("s3", t.bucket, what, done - started, {"empty": mark - started, "seed": done - mark})


# ----------------------------------------------------------------------------------------- all


def reset(
    t: Target,
    stores: list[str] | None = None,
    *,
    seeded: bool = True,
    scylla_empty: str = "truncate",
    source: Source | None = None,
    keep_standby: bool = True,
    meanwhile: Callable[[], object] = lambda: None,
) -> ResetReport:
    started = time.perf_counter()
    src = source or Source(t.root)
    files = t.migrations(src)
    chosen = stores or t.stores

    def job(store: str) -> Callable[[], StoreReset]:
        def run() -> StoreReset:
            reached(f"reset:{store}")
            if store in POSTGRES_ROLES:
                result = reset_postgres(
                    t,
                    store,
                    files[store],
                    seeds.postgres_seed(src, store) if seeded else [],
                    keep_standby=keep_standby,
                )
            elif store == "scylla":
                result = reset_scylla(t, files[store], seeds.scylla_seed(src) if seeded else [], scylla_empty)
            elif store == "s3":
                result = reset_s3(t, seeded)
            else:
                result = reset_keydb(t, files[store], seeds.keydb_seed(src) if seeded else [])
            return result

        return run

    # A process per driver: the drivers' imports and client work then use every core.
    done = workers.by_driver({s: job(s) for s in chosen}, meanwhile=meanwhile)
    return ResetReport(t.branch, seeded, [done[s] for s in chosen], time.perf_counter() - started)
