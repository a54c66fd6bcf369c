"""env.status, database side: queries per second per database (migrations: status_migrations.py).

Queries per second come from each server's own request counter, read twice:
- Postgres: ``xact_commit + xact_rollback`` of the branch's databases in ``pg_stat_database``
  (transactions; a statement outside an explicit transaction is one). Postgres publishes a
  backend's counts when it goes idle, at most about once a second, so short windows are coarse.
- KeyDB: ``total_commands_processed`` of ``INFO stats`` (every command of the server).
- CQL (ScyllaDB role): ``completed_tasks`` of the ``Native-Transport-Requests`` pool in
  ``system_views.thread_pools`` (every CQL request of the node; Apache Cassandra 4+). A server
  without that table (ScyllaDB) shows the total as unknown.
Which window a rate covers (``window_s``), best first:
- ``--watch``: since the previous frame's last reading, read again before this frame's own queries.
- one snapshot: since the newest sample earlier runs kept (qps_sample.py) that is of the same
  servers and ``QPS_SAMPLE_S`` to ``MAX_AGE_S`` old; read at the start of the snapshot: no wait
  (only when every kept sample is younger than ``QPS_SAMPLE_S`` is the oldest waited for).
- otherwise two readings of its own at least ``QPS_SAMPLE_S`` apart: the first right after the
  snapshot's own database queries (probes, sizes, migrations: they must not count as the stack's
  traffic), the second once the rest of the work (Docker, git, clients) is done and the window has
  passed, so the wait overlaps that work.
clikd's own reading requests are subtracted; a shared (external) server counts every branch's
requests, which the ``scope`` field says. A counter of another server (restarted, reset, recreated
database) is never compared with an earlier one: that database's rate is sampled afresh.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tasks.core.insight import resp
from tasks.core.stack import cql, pgwire, qps_sample, workers
from tasks.core.stack.links import COUNTED, Link, close_all, open_link
from tasks.core.stack.model import DatabaseActivity
from tasks.core.stack.readings import MAX_AGE_S, QPS_SAMPLE_S, Reading
from tasks.core.stores import endpoint

if TYPE_CHECKING:
    from tasks.core.branch import BranchIdentity
    from tasks.core.config.schema import Settings
    from tasks.core.stores import Endpoint

__all__ = [
    "QPS_SAMPLE_S",
    "Rates",
    "Reading",
    "Sampling",
    "earlier",
    "failed",
    "finish",
    "read",
    "read_all",
    "wait_s",
]
PG_COUNTER = "xact_commit + xact_rollback"
KEYDB_COUNTER = "total_commands_processed"
CQL_COUNTER = "Native-Transport-Requests completed"
ORDER = ("auth", "main", "scylla", "keydb")  # as db.status lists the stores
SLOW_EVERY_S = 5.0  # --watch reads sizes and migrations this often; health, CPU and rates each frame
SAVE_EVERY_S = 10.0  # --watch writes the kept counter samples this often (each run without --watch: once)


# ----------------------------------------------------------------------------- activity


@dataclass
class Rates:
    """What ``--watch`` carries from one frame to the next: the readings taken at the end of the
    previous frame and the databases read. The next frame reads again before it probes anything,
    so the window holds the stack's own traffic, not clikd's status queries."""

    last: dict[str, Reading] = field(default_factory=dict)
    scopes: dict[str, str] = field(default_factory=dict)
    saved_at: float = -SAVE_EVERY_S  # when the sample file was last written (monotonic)
    # facts that change slowly (sizes, migrations): key -> (monotonic time read, value)
    slow: dict[str, tuple[float, Any]] = field(default_factory=dict)


def _pg(conn: pgwire.Connection, ep: Endpoint, ident: BranchIdentity, scope: str) -> list[Reading]:
    names = {ident.postgres_db(store): store for store in ("auth", "main")}
    rows = conn.query(
        f"SELECT datname, {PG_COUNTER}, datid, stats_reset, pg_postmaster_start_time() "  # noqa: S608
        f"FROM pg_stat_database WHERE datname IN ({', '.join(pgwire.quote_literal(n) for n in names)})"
    )
    at, wall = time.monotonic(), time.time()
    found = {
        str(row[0]): (int(row[1] or 0), f"{ep.host}:{ep.port} since {row[4]} oid {row[2]} reset {row[3]}")
        for row in rows
    }
    return [
        Reading(
            store,
            "postgres",
            PG_COUNTER,
            scope,
            found[db][0] if db in found else None,
            at,
            error="" if db in found else "database not created",
            wall=wall,
            server=found[db][1] if db in found else "",
        )
        for db, store in names.items()
    ]


def _keydb(link: resp.Client, ep: Endpoint, scope: str) -> list[Reading]:
    info = link.text("INFO")  # the default sections hold both the counter and run_id
    at, wall = time.monotonic(), time.time()
    fields = dict(ln.split(":", 1) for ln in info.splitlines() if ":" in ln and not ln.startswith("#"))
    value = int(fields[KEYDB_COUNTER]) if KEYDB_COUNTER in fields else None
    server = f"{ep.host}:{ep.port} run {fields['run_id'].strip()}" if "run_id" in fields else ""
    # INFO is counted once it has answered; the AUTH of the next snapshot's link falls inside the
    # window too (the commands between two readings on one link fall outside every window compared)
    return [
        Reading(
            "keydb",
            "keydb",
            KEYDB_COUNTER,
            scope,
            value,
            at,
            own=1 + bool(ep.password),
            wall=wall,
            server=server,
        )
    ]


def _cql(conn: cql.Connection, ep: Endpoint, scope: str) -> list[Reading]:
    try:
        node = conn.query("SELECT host_id, gossip_generation FROM system.local")
        rows = conn.query(
            "SELECT completed_tasks FROM system_views.thread_pools WHERE name = 'Native-Transport-Requests'"
        )
    except cql.CqlError as exc:
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
    at, wall = time.monotonic(), time.time()
    raw = rows.rows[0][0] if rows and rows.rows else None
    value = int.from_bytes(raw, "big", signed=True) if raw else None
    # the host id stays across a restart; the gossip generation is the node's start time
    host, generation = node.rows[0] if node and node.rows else (None, None)
    server = (
        f"{ep.host}:{ep.port} host {host.hex()} generation {int.from_bytes(generation, 'big', signed=True)}"
        if host and generation
        else ""
    )
    # the counter query is counted once it has answered, the next reading's system.local query too
    return [Reading("scylla", "scylla", CQL_COUNTER, scope, value, at, own=2, wall=wall, server=server)]


def read(settings: Settings, ident: BranchIdentity, kind: str, link: Link, scope: str) -> list[Reading]:
    """The counter readings of one server on its link (one per database: Postgres has two)."""
    ep = endpoint(settings, ident, kind)
    if isinstance(link, pgwire.Connection):
        return _pg(link, ep, ident, scope)
    if isinstance(link, resp.Client):
        return _keydb(link, ep, scope)
    return _cql(link, ep, scope)


def failed(kind: str, scope: str, exc: BaseException) -> list[Reading]:
    """The readings of a server that could not be read: its databases' rates show the error."""
    names = ("auth", "main") if kind == "postgres" else (kind,)
    at, error = time.monotonic(), type(exc).__name__
    return [Reading(name, kind, "", scope, None, at, error=error) for name in names]


def read_all(settings: Settings, ident: BranchIdentity, kinds: dict[str, str]) -> dict[str, Reading]:
    """One reading per database, each server on a link of its own; ``kinds``: database kind ->
    "database" | "server" | "shared server"."""

    def one(kind: str, scope: str) -> Callable[[], list[Reading]]:
        def reading() -> list[Reading]:
            try:
                link = open_link(settings, ident, kind)
            except Exception as exc:  # shown per database; the snapshot goes on
                return failed(kind, scope, exc)
            try:
                return read(settings, ident, kind, link, scope)
            except Exception as exc:
                return failed(kind, scope, exc)
            finally:
                close_all({kind: link})

        return reading

    got = workers.run_all({k: one(k, scope) for k, scope in kinds.items() if k in COUNTED}, limit=4)
    return {r.database: r for readings in got.values() for r in readings}


def rate(prev: Reading | None, cur: Reading, *, stored: bool) -> tuple[float, float] | None:
    """(per second, window in seconds) of ``cur`` against ``prev``, or None when they do not compare.

    ``stored``: ``prev`` comes from another process (qps_sample), so the wall clocks are compared and
    the window must be ``QPS_SAMPLE_S`` to ``MAX_AGE_S`` long; otherwise the monotonic clock.
    """
    if prev is None or prev.value is None or cur.value is None:
        return None
    if (prev.kind, prev.counter, prev.server) != (cur.kind, cur.counter, cur.server) or not cur.server:
        return None  # another server, database or counter: a difference would mean nothing
    if stored:
        window = cur.wall - prev.wall
        if not QPS_SAMPLE_S <= window <= MAX_AGE_S:
            return None
    else:
        window = cur.at - prev.at
        if window <= 0:
            return None
    if cur.value < prev.value:  # reset without a restart (CONFIG RESETSTAT and the like)
        return None
    return round(max(0, cur.value - prev.value - prev.own) / window, 1), window


def _activity(cur: Reading, measured: tuple[float, float] | None) -> DatabaseActivity:
    per_second, window = measured if measured else (None, None)
    return DatabaseActivity(
        cur.database,
        cur.kind,
        cur.counter,
        cur.value,
        per_second,
        round(window, 2) if window else None,
        cur.scope,
        cur.error,
    )


@dataclass
class Sampling:
    """The readings of one snapshot's database side (see the module's docstring for the order)."""

    earlier: list[dict[str, Reading]]  # the previous --watch frame's, or earlier runs' (stored), newest first
    stored: bool
    start: dict[str, Reading]  # at the start of the snapshot, before its own database queries
    after: dict[str, Reading]  # right after them, of the healthy databases
    scopes: dict[str, str]  # the healthy databases' kinds -> "database" | "server" | "shared server"


def earlier(ident: BranchIdentity, rates: Rates | None) -> tuple[list[dict[str, Reading]], bool]:
    """What this snapshot's start reading is compared with: the previous frame, else the kept samples."""
    if rates is not None and rates.last:
        return [rates.last], False
    return qps_sample.load(ident), True


def wait_s(kept: list[dict[str, Reading]], now: float) -> float:
    """How long to wait before the start reading: none when a kept sample is old enough already,
    else until the oldest one is ``QPS_SAMPLE_S`` old (runs in quick succession)."""
    walls = [r.wall for run in kept for r in run.values()]
    if not walls or any(now - w >= QPS_SAMPLE_S for w in walls):
        return 0.0
    return min(QPS_SAMPLE_S, max(0.0, min(walls) + QPS_SAMPLE_S - now))


def _best(kept: list[dict[str, Reading]], cur: Reading, *, stored: bool) -> tuple[float, float] | None:
    """The rate against the newest earlier reading that compares with ``cur``."""
    for run in kept:
        measured = rate(run.get(cur.database), cur, stored=stored)
        if measured is not None:
            return measured
    return None


def finish(
    settings: Settings, ident: BranchIdentity, sampling: Sampling, rates: Rates | None
) -> list[DatabaseActivity]:
    """The rate of each healthy database; samples again only for those with no earlier reading to use.

    The second reading waits for what is left of ``QPS_SAMPLE_S`` since ``sampling.after``. The last
    readings are kept (for the next ``--watch`` frame and in the branch's sample file).
    """
    scopes = sampling.scopes
    if not scopes:  # no healthy database: nothing to read, nothing to wait for
        if rates is not None:
            rates.last, rates.scopes = {}, {}
        return []
    found: dict[str, DatabaseActivity] = {}
    for name, cur in sampling.start.items():
        if cur.kind in scopes:
            measured = _best(sampling.earlier, cur, stored=sampling.stored)
            if measured is not None:
                found[name] = _activity(cur, measured)
    last = dict(sampling.after)
    pending = {r.kind for name, r in sampling.after.items() if name not in found and r.value is not None}
    if pending:
        began = max(r.at for r in sampling.after.values() if r.kind in pending)
        time.sleep(max(0.0, began + QPS_SAMPLE_S - time.monotonic()))
        end = read_all(settings, ident, {k: scopes[k] for k in pending})
        for name, cur in end.items():  # (auth may be measured already when only main's sample was off)
            if name not in found:
                found[name] = _activity(cur, rate(sampling.after.get(name), cur, stored=False))
        last.update(end)
    for name, cur in sampling.after.items():
        found.setdefault(name, _activity(cur, None))
    if rates is None:
        qps_sample.save(ident, last)
    else:
        # --watch: the file is for the next command, not the next frame (which uses rates.last);
        # written every SAVE_EVERY_S, it costs a frame a tenth of what writing it each second did
        if time.monotonic() - rates.saved_at >= SAVE_EVERY_S:
            qps_sample.save(ident, last)
            rates.saved_at = time.monotonic()
        rates.last, rates.scopes = last, scopes
    order = sorted(found, key=lambda n: ORDER.index(n) if n in ORDER else len(ORDER))
    return [found[n] for n in order]
