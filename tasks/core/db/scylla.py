"""The ScyllaDB side (CQL): the branch's keyspace, migrations with history, emptying tables.

History lives in ``clikd_migrations`` inside the branch's keyspace. CQL has no transactional DDL, so
each migration is claimed with a lightweight transaction keyed on its version (``INSERT ... IF NOT
EXISTS``, with a TTL so a crashed run's claim expires), run statement by statement (the driver waits
for schema agreement after each DDL statement), and marked successful with ``UPDATE ... IF owner = ?``.
A second process finding a claim waits for it to finish. A failing statement releases the claim, so
the history is as before; statements before it stay applied, which is why CQL migrations are written
with ``IF NOT EXISTS``.
"""

# ruff: noqa: S608  (statements name only our own tables and quoted branch names; values go as parameters)
from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from tasks.core.db import sqlsplit
from tasks.core.db.errors import LockTimeout, MigrationFailed, StoreUnavailable
from tasks.core.db.files import Migration
from tasks.core.db.models import Applied, MigrationState, Progress, StoreMigration, StoreStatus, plan
from tasks.core.stores import Endpoint

HISTORY = "clikd_migrations"
SEED_STATE = "clikd_seed_state"  # db.reset's record of what each table held right after seeding
BOOKKEEPING = (HISTORY, SEED_STATE)
REPLICATION = "{'class': 'NetworkTopologyStrategy', 'replication_factor': 1}"
CLAIM_TTL = 900  # seconds: a crashed run's claim expires by itself
WAIT_TIMEOUT = 300.0

HISTORY_DDL = f"""
CREATE TABLE IF NOT EXISTS {HISTORY} (
    version      bigint PRIMARY KEY,
    description  text,
    checksum     blob,
    applied_at   timestamp,
    execution_ms double,
    success      boolean,
    owner        uuid
)"""


@contextmanager
def session(ep: Endpoint, keyspace: str | None = None, *, metadata: bool = False) -> Iterator[Any]:
    """A driver session on ``ep`` (schema metadata only when asked: it makes connecting slower)."""
    from cassandra import ConsistencyLevel
    from cassandra.auth import PlainTextAuthProvider
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, NoHostAvailable
    from cassandra.policies import LoadBalancingPolicy, RoundRobinPolicy, WhiteListRoundRobinPolicy

    logging.getLogger("cassandra").setLevel(logging.ERROR)
    # Through an SSH forward only the forwarded address is reachable: the cluster's other nodes
    # (system.peers) sit on addresses this machine cannot route to, so the driver must not use them.
    policy: LoadBalancingPolicy = (
        WhiteListRoundRobinPolicy([ep.host]) if ep.mode == "remote" else RoundRobinPolicy()
    )
    profile = ExecutionProfile(
        load_balancing_policy=policy,
        request_timeout=60,
        consistency_level=ConsistencyLevel.LOCAL_QUORUM,
        serial_consistency_level=ConsistencyLevel.LOCAL_SERIAL,
    )
    cluster = Cluster(
        contact_points=[ep.host],
        port=ep.port,
        protocol_version=4,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        auth_provider=PlainTextAuthProvider(ep.user, ep.password) if ep.user else None,
        connect_timeout=5,
        control_connection_timeout=5,
        max_schema_agreement_wait=30,
        schema_metadata_enabled=metadata,
        token_metadata_enabled=False,
    )
    try:
        try:
            sess = cluster.connect()
        except NoHostAvailable as exc:
            raise StoreUnavailable(
                f"the CQL server at {ep.host}:{ep.port} does not answer ({_short(exc)})",
                hint="start the branch's databases (inv env.start) or check [databases.scylla] in clikd.toml",
            ) from None
        if keyspace:
            sess.set_keyspace(keyspace)
        yield sess
    finally:
        cluster.shutdown()


def _short(exc: BaseException) -> str:
    text = getattr(exc, "message", None) or str(exc)
    return " ".join(str(text).split())[:300]


def keyspace_exists(sess: Any, keyspace: str) -> bool:
    row = sess.execute(
        "SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = %s", (keyspace,)
    ).one()
    return row is not None


def tables(sess: Any, keyspace: str) -> list[str]:
    rows = sess.execute("SELECT table_name FROM system_schema.tables WHERE keyspace_name = %s", (keyspace,))
    return sorted(r.table_name for r in rows)


def views(sess: Any, keyspace: str) -> list[str]:
    rows = sess.execute("SELECT view_name FROM system_schema.views WHERE keyspace_name = %s", (keyspace,))
    return sorted(r.view_name for r in rows)


def create_keyspace(sess: Any, keyspace: str) -> bool:
    existed = keyspace_exists(sess, keyspace)
    if not existed:
        sess.execute(f'CREATE KEYSPACE IF NOT EXISTS "{keyspace}" WITH replication = {REPLICATION}')
    return not existed


def use_keyspace(sess: Any, keyspace: str, *, timeout: float = 30.0) -> None:
    """USE the keyspace, waiting while a concurrent run's CREATE KEYSPACE is still being applied.

    Two runs that both find no keyspace both send CREATE KEYSPACE IF NOT EXISTS; the server answers the
    second at once, before the first one's keyspace can be used: USE then fails with "does not exist".
    """
    from cassandra import InvalidRequest

    deadline = time.monotonic() + timeout
    while True:
        try:
            sess.set_keyspace(keyspace)
            return
        except InvalidRequest as exc:
            if "does not exist" not in str(exc) or time.monotonic() > deadline:
                raise
        sess.cluster.control_connection.wait_for_schema_agreement()
        time.sleep(0.05)


def drop_keyspace(sess: Any, keyspace: str) -> None:
    sess.execute(f'DROP KEYSPACE IF EXISTS "{keyspace}"')


def read_history(sess: Any, keyspace: str) -> dict[int, Applied]:
    if HISTORY not in tables(sess, keyspace):
        return {}
    rows = sess.execute(
        "SELECT version, description, checksum, applied_at, execution_ms, success "
        f'FROM "{keyspace}".{HISTORY}'
    )
    out: dict[int, Applied] = {}
    for r in rows:
        applied_at = r.applied_at.replace(tzinfo=dt.UTC) if r.applied_at else None
        out[int(r.version)] = Applied(
            int(r.version),
            r.description or "",
            bytes(r.checksum or b""),
            applied_at,
            r.execution_ms,
            bool(r.success),
        )
    return out


def status(ep: Endpoint, keyspace: str, migrations: list[Migration]) -> StoreStatus:
    with session(ep) as sess:
        if not keyspace_exists(sess, keyspace):
            return StoreStatus("scylla", keyspace, False, plan("scylla", migrations, {}))
        return StoreStatus("scylla", keyspace, True, plan("scylla", migrations, read_history(sess, keyspace)))


def _claim(sess: Any, keyspace: str, m: Migration, owner: uuid.UUID, on_wait: Callable[[str], None]) -> bool:
    """True when this process owns ``m`` now; False when another process applied it meanwhile."""
    from cassandra import ConsistencyLevel
    from cassandra.query import SimpleStatement

    claim = (
        f'INSERT INTO "{keyspace}".{HISTORY} (version, description, checksum, success, owner) '
        f"VALUES (%s, %s, %s, false, %s) IF NOT EXISTS USING TTL {CLAIM_TTL}"
    )
    read = SimpleStatement(
        f'SELECT success, owner FROM "{keyspace}".{HISTORY} WHERE version = %s',
        consistency_level=ConsistencyLevel.LOCAL_SERIAL,
    )
    deadline = time.monotonic() + WAIT_TIMEOUT
    told = False
    while True:
        rs = sess.execute(claim, (m.version, m.description, m.checksum, owner))
        if rs.was_applied:
            return True
        while True:
            row = sess.execute(read, (m.version,)).one()
            if row is None:
                break  # the other run gave up (failed): claim again
            if row.success:
                return False
            if not told:
                on_wait(f"waiting for {m.name}: another run (owner {row.owner}) is applying it")
                told = True
            if time.monotonic() > deadline:
                raise LockTimeout(
                    f"{m.path} has been claimed by another run (owner {row.owner}) "
                    f"for over {WAIT_TIMEOUT:.0f} s",
                    hint=f"wait for it, or let its claim expire ({CLAIM_TTL} s after it was taken)",
                )
            time.sleep(0.1)


def apply(sess: Any, keyspace: str, m: Migration, owner: uuid.UUID) -> tuple[float, list[str]]:
    """Run a claimed migration; returns (ms, warnings)."""
    warnings: list[str] = []
    started = time.perf_counter()
    for stmt in sqlsplit.split(m.text, cql=True):
        try:
            sess.execute(stmt.text)
        except Exception as exc:
            sess.execute(
                f'DELETE FROM "{keyspace}".{HISTORY} WHERE version = %s IF owner = %s',
                (m.version, owner),
            )
            raise MigrationFailed(
                f"{m.path} line {stmt.line}: {_short(exc)}",
                hint=(
                    "its history row was removed; CQL cannot roll back schema changes, so statements "
                    "before this one stay applied (write them with IF NOT EXISTS), fix the file and run "
                    "db.migrate again"
                ),
                details=[f"statement (line {stmt.line}): {stmt.excerpt()}"],
            ) from None
    # The driver already waits after each DDL statement; this confirms the node(s) agree before the
    # history row says the migration is done.
    if not sess.cluster.control_connection.wait_for_schema_agreement():
        warnings.append(
            f"{m.name}: schema agreement not reached within {sess.cluster.max_schema_agreement_wait} s"
        )
    ms = (time.perf_counter() - started) * 1000
    sess.execute(
        f'UPDATE "{keyspace}".{HISTORY} USING TTL 0 SET description = %s, checksum = %s, applied_at = %s, '
        "execution_ms = %s, success = true, owner = %s WHERE version = %s IF owner = %s",
        (m.description, m.checksum, dt.datetime.now(dt.UTC), ms, owner, m.version, owner),
    )
    return ms, warnings


def migrate(
    ep: Endpoint,
    keyspace: str,
    migrations: list[Migration],
    *,
    progress: Progress,
    on_wait: Callable[[str], None],
    sess: Any = None,
) -> StoreMigration:
    if sess is None:
        with session(ep) as own:
            return migrate(ep, keyspace, migrations, progress=progress, on_wait=on_wait, sess=own)
    started = time.perf_counter()
    result = StoreMigration("scylla", keyspace)
    result.created = create_keyspace(sess, keyspace)
    use_keyspace(sess, keyspace)
    sess.execute(HISTORY_DDL)
    states = plan("scylla", migrations, read_history(sess, keyspace))
    by_version = {m.version: m for m in migrations}
    # an unfinished row ("failed") is another run's claim in progress, or a crashed one's until it expires
    todo = [s for s in states if s.state in ("pending", "failed")]
    result.drift = [s for s in states if s.state in ("drift", "missing")]
    owner = uuid.uuid4()
    progress("scylla", 0, len(todo), keyspace)
    for i, s in enumerate(todo):
        m = by_version[s.version]
        if _claim(sess, keyspace, m, owner, on_wait):
            if s.out_of_order:
                result.warnings.append(
                    f"{m.path} is older than the newest applied migration; applying it anyway"
                )
            ms, warnings = apply(sess, keyspace, m, owner)
            result.warnings.extend(warnings)
            result.applied.append(
                MigrationState(
                    m.version, m.description, m.path, "applied", dt.datetime.now(dt.UTC), ms, s.out_of_order
                )
            )
        progress("scylla", i + 1, len(todo), m.name)
    result.seconds = time.perf_counter() - started
    return result
