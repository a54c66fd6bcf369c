"""env.status, database side: migrations per store and queries per second per database.

Migrations: the same reading as ``db.status`` (files against each store's history), summed up per
store as "up to date", "N pending", "drift" (an applied file changed or vanished), "failed",
"not created" or "unreachable".

Queries per second come from each server's own request counter, read twice:
- Postgres: ``xact_commit + xact_rollback`` of the branch's databases in ``pg_stat_database``
  (transactions; a statement outside an explicit transaction is one). Postgres publishes a
  backend's counts when it goes idle, at most about once a second, so short windows are coarse.
- KeyDB: ``total_commands_processed`` of ``INFO stats`` (every command of the server).
- CQL (ScyllaDB role): ``completed_tasks`` of the ``Native-Transport-Requests`` pool in
  ``system_views.thread_pools`` (every CQL request of the node; Apache Cassandra 4+). A server
  without that table (ScyllaDB) shows the total as unknown.
The rate is taken over ``QPS_SAMPLE_S`` for one snapshot, or since the previous frame with
``--watch``. clikd's own reading requests are subtracted; a shared (external) server counts every
branch's requests, which the ``scope`` field says.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tasks.core.stack import workers
from tasks.core.stack.model import DatabaseActivity, StoreMigrations
from tasks.core.stores import endpoint

if TYPE_CHECKING:
    from tasks.core.branch import BranchIdentity
    from tasks.core.config.schema import Settings
    from tasks.core.session import Session

QPS_SAMPLE_S = 1.0
PG_COUNTER = "xact_commit + xact_rollback"
KEYDB_COUNTER = "total_commands_processed"
CQL_COUNTER = "Native-Transport-Requests completed"
ORDER = ("auth", "main", "scylla", "keydb")  # as db.status lists the stores


# ----------------------------------------------------------------------------- migrations


def store_kind(store: str) -> str:
    return "postgres" if store in ("auth", "main") else store


def _summary(store: str, found: object) -> StoreMigrations:
    from tasks.core.db.models import StoreStatus

    assert isinstance(found, StoreStatus)  # noqa: S101  (what migrate.status returns)
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
    return StoreMigrations(store, found.target, state, applied, pending, drift, failed)


def migrations(session: Session, kinds: set[str]) -> list[StoreMigrations]:
    """Where each store's migrations stand, for the stores on the database kinds given (the healthy ones)."""
    try:
        from tasks.core.db import migrate as db_migrate
        from tasks.core.db import target as db_target
        from tasks.core.db.files import STORES
    except ImportError:  # the db package is not part of this installation
        return []
    stores = [s for s in STORES if store_kind(s) in kinds]
    if not stores:
        return []
    t = db_target.for_session(session)

    def one(store: str) -> Callable[[], StoreMigrations]:
        def read() -> StoreMigrations:
            try:
                return _summary(store, db_migrate.status(t, [store]).stores[0])
            except Exception as exc:  # shown per store; the snapshot goes on
                return StoreMigrations(store, "", "unreachable", error=f"{type(exc).__name__}: {exc}"[:200])

        return read

    got = workers.run_all({s: one(s) for s in stores}, limit=4)
    return [got[s] for s in stores]


# ----------------------------------------------------------------------------- activity


@dataclass(frozen=True)
class Reading:
    database: str
    kind: str
    counter: str
    scope: str
    value: int | None
    at: float
    own: int = 0  # requests the reading itself adds to the counter
    error: str = ""


@dataclass
class Rates:
    """What ``--watch`` carries from one frame to the next: the readings taken at the end of the
    previous frame and the databases read. The next frame reads again before it probes anything,
    so the window holds the stack's own traffic, not clikd's status queries."""

    last: dict[str, Reading] = field(default_factory=dict)
    scopes: dict[str, str] = field(default_factory=dict)


def _pg(settings: Settings, ident: BranchIdentity, scope: str) -> list[Reading]:
    from tasks.core.stack.pgwire import quote_literal
    from tasks.core.stack.provision import pg_connect

    names = {ident.postgres_db(store): store for store in ("auth", "main")}
    ep = endpoint(settings, ident, "postgres")
    with pg_connect(ep, timeout=2) as conn:
        rows = conn.query(
            f"SELECT datname, {PG_COUNTER} FROM pg_stat_database "  # noqa: S608
            f"WHERE datname IN ({', '.join(quote_literal(n) for n in names)})"
        )
    at = time.monotonic()
    found = {str(name): int(value or 0) for name, value in rows}
    return [
        Reading(
            store,
            "postgres",
            PG_COUNTER,
            scope,
            found.get(db),
            at,
            error="" if db in found else "database not created",
        )
        for db, store in names.items()
    ]


def _keydb(settings: Settings, ident: BranchIdentity, scope: str) -> list[Reading]:
    from tasks.core.stack.probes import _resp

    ep = endpoint(settings, ident, "keydb")
    with socket.create_connection((ep.host, ep.port), timeout=2) as sock:
        reader = sock.makefile("rb")
        if ep.password:
            sock.sendall(_resp("AUTH", ep.password))
            reader.readline()
        sock.sendall(_resp("INFO", "stats"))
        size = int(reader.readline().strip().lstrip(b"$"))
        info = reader.read(size + 2).decode(errors="replace")
    at = time.monotonic()
    value = next(
        (int(ln.split(":", 1)[1]) for ln in info.splitlines() if ln.startswith(KEYDB_COUNTER + ":")), None
    )
    # INFO is counted once it has answered; AUTH of the next reading falls inside the window too
    return [Reading("keydb", "keydb", KEYDB_COUNTER, scope, value, at, own=1 + bool(ep.password))]


def _cql(settings: Settings, ident: BranchIdentity, scope: str) -> list[Reading]:
    from tasks.core.stack.cql import Connection, CqlError

    ep = endpoint(settings, ident, "scylla")
    try:
        with Connection(ep.host, ep.port, user=ep.user, password=ep.password, timeout=2) as cql:
            rows = cql.query(
                "SELECT completed_tasks FROM system_views.thread_pools "
                "WHERE name = 'Native-Transport-Requests'"
            )
    except CqlError as exc:
        return [
            Reading(
                "scylla",
                "scylla",
                CQL_COUNTER,
                scope,
                None,
                time.monotonic(),
                error=f"no counter: {exc}"[:120],
            )
        ]
    at = time.monotonic()
    raw = rows.rows[0][0] if rows and rows.rows else None
    value = int.from_bytes(raw, "big", signed=True) if raw else None
    return [Reading("scylla", "scylla", CQL_COUNTER, scope, value, at, own=1)]


READERS: dict[str, Callable[[Settings, BranchIdentity, str], list[Reading]]] = {
    "postgres": _pg,
    "keydb": _keydb,
    "scylla": _cql,
}


def read_all(settings: Settings, ident: BranchIdentity, kinds: dict[str, str]) -> dict[str, Reading]:
    """One reading per database; ``kinds``: database kind -> "database" | "server" | "shared server"."""

    def one(kind: str, scope: str) -> Callable[[], list[Reading]]:
        def read() -> list[Reading]:
            try:
                return READERS[kind](settings, ident, scope)
            except Exception as exc:  # shown per database; the snapshot goes on
                names = ("auth", "main") if kind == "postgres" else (kind,)
                at, error = time.monotonic(), type(exc).__name__
                return [Reading(name, kind, "", scope, None, at, error=error) for name in names]

        return read

    got = workers.run_all({k: one(k, scope) for k, scope in kinds.items() if k in READERS}, limit=4)
    return {r.database: r for readings in got.values() for r in readings}


def _compare(before: dict[str, Reading], now: dict[str, Reading]) -> list[DatabaseActivity]:
    out: list[DatabaseActivity] = []
    for name, cur in sorted(now.items(), key=lambda item: ORDER.index(item[0]) if item[0] in ORDER else 9):
        prev = before.get(name)
        per_second = window = None
        if cur.value is not None and prev is not None and prev.value is not None and cur.at > prev.at:
            window = cur.at - prev.at
            per_second = round(max(0, cur.value - prev.value - prev.own) / window, 1)
        out.append(
            DatabaseActivity(
                name,
                cur.kind,
                cur.counter,
                cur.value,
                per_second,
                round(window, 2) if window else None,
                cur.scope,
                cur.error,
            )
        )
    return out


def frame_start(
    settings: Settings, ident: BranchIdentity, rates: Rates | None
) -> list[DatabaseActivity] | None:
    """With a previous ``--watch`` frame: the rates since its end, read before this frame probes."""
    if rates is None or not rates.last:
        return None
    return _compare(rates.last, read_all(settings, ident, rates.scopes))


def frame_end(
    settings: Settings,
    ident: BranchIdentity,
    scopes: dict[str, str],
    rates: Rates | None,
    measured: list[DatabaseActivity] | None,
) -> list[DatabaseActivity]:
    """The rates of this snapshot: ``measured`` at frame start, else two readings QPS_SAMPLE_S apart.

    ``scopes``: the healthy databases' kinds -> "database" | "server" | "shared server".
    """
    if not scopes:  # no healthy database: nothing to read, nothing to wait for
        if rates is not None:
            rates.last, rates.scopes = {}, {}
        return []
    if measured is None:
        first = read_all(settings, ident, scopes)
        time.sleep(QPS_SAMPLE_S)
        last = read_all(settings, ident, scopes)
        measured = _compare(first, last)
    elif rates is not None:
        last = read_all(settings, ident, scopes)
    if rates is not None:
        rates.last, rates.scopes = last, scopes
    return measured
