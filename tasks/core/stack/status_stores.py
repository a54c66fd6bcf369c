"""env.status, database side: every database's probe, size, migrations and request counters.

The order of the requests is what makes the queries-per-second figures mean the stack's own traffic
(status_db.py): each server's counters are read first, then every request this snapshot sends to
the stack (the probes of all components, the services' included, the sizes and the migrations), then
the counters again. Each server gets one working connection (links.py) for its readings, its size and
(KeyDB, CQL) its migrations; the probes keep connections of their own, so a probe's latency is what a
client's first query meets. Sizes and migrations run beside the probes; only the migrations of the
databases whose probe passed are shown.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from tasks.core.humanize import human_bytes
from tasks.core.insight import resp
from tasks.core.stack import cql, pgwire, status_db, status_inspect, status_migrations, workers
from tasks.core.stack.links import COUNTED, Link, close_all, open_link
from tasks.core.stack.model import StoreMigrations
from tasks.core.stack.probes import run_probe
from tasks.core.stack.spec import POSTGRES_ROLES, Component
from tasks.core.stores import endpoint

if TYPE_CHECKING:
    from tasks.core.branch import BranchIdentity
    from tasks.core.config.schema import Settings
    from tasks.core.insight.model import InspectReport
    from tasks.core.session import Session


@dataclass
class DatabaseSide:
    got: dict[str, Any]  # probe:<name> of every component and size:<name> of each database
    migrations: list[StoreMigrations]
    sampling: status_db.Sampling
    inspect: InspectReport | None


def connection(settings: Settings, ident: BranchIdentity, kind: str) -> str:
    """The database's connection string, with the password hidden."""
    ep = endpoint(settings, ident, kind)
    if kind == "postgres":
        dsn = ep.postgres_dsn(ident.postgres_db("main"))
        return dsn.replace(":" + quote(ep.password, safe="") + "@", ":****@", 1) if ep.password else dsn
    if kind == "keydb":
        url = ep.redis_url()
        return url.replace(":" + quote(ep.password, safe="") + "@", ":****@", 1) if ep.password else url
    if kind == "s3":
        return f"{ep.s3_url}/{ident.bucket}"
    return f"cql://{ep.host}:{ep.port}/{ident.keyspace}"


def size(settings: Settings, ident: BranchIdentity, kind: str, link: Link | None) -> str:
    """What the branch holds in the database, read on its link; a failure is shown, not raised."""
    try:
        if isinstance(link, pgwire.Connection):
            listed = ", ".join(pgwire.quote_literal(ident.postgres_db(r)) for r in POSTGRES_ROLES)
            rows = link.query(
                "SELECT coalesce(sum(pg_database_size(datname)), 0), count(*) FROM pg_database "  # noqa: S608
                f"WHERE datname IN ({listed})"
            )
            return f"{human_bytes(int(rows[0][0] or 0))} in {rows[0][1]} databases" if rows else "—"
        if isinstance(link, resp.Client):
            keys = link.call("DBSIZE")
            info = link.text("INFO", "memory")
            mem = next(
                (
                    ln.split(":", 1)[1].strip()
                    for ln in info.splitlines()
                    if ln.startswith("used_memory_human:")
                ),
                "?",
            )
            return f"{keys!s} keys, {mem} used" if isinstance(keys, int) else f"? (DBSIZE answered {keys!r})"
        if isinstance(link, cql.Connection):
            tables = link.query(
                "SELECT table_name FROM system_schema.tables WHERE keyspace_name = "  # noqa: S608
                + cql.quote_literal(ident.keyspace)
            )
            return f"{len(tables.rows) if tables else 0} tables in {ident.keyspace}"
        if kind == "s3":
            from tasks.core.stores.s3.wire import bucket_stats

            held = bucket_stats(endpoint(settings, ident, "s3"), ident.bucket)
            return "no bucket yet" if held is None else f"{held[0]} objects, {human_bytes(held[1])}"
    except Exception as exc:  # size is informative
        return f"? ({type(exc).__name__})"
    return "—"


def _scope(comp: Component) -> str:
    return "database" if comp.kind == "postgres" else ("server" if comp.managed else "shared server")


@dataclass
class _Server:
    """One counted server's link for this snapshot and its first readings (or why it has none)."""

    link: Link | None
    start: list[status_db.Reading]
    error: BaseException | None = None


def _open(settings: Settings, ident: BranchIdentity, kind: str, scope: str, *, reading: bool) -> _Server:
    try:
        link = open_link(settings, ident, kind)
    except Exception as exc:  # its size, rates and migrations say so; the snapshot goes on
        return _Server(None, status_db.failed(kind, scope, exc) if reading else [], exc)
    if not reading:
        return _Server(link, [])
    try:
        return _Server(link, status_db.read(settings, ident, kind, link, scope))
    except Exception as exc:
        return _Server(link, status_db.failed(kind, scope, exc), exc)


def work(
    session: Session,
    components: dict[str, Component],
    rates: status_db.Rates | None,
    *,
    with_inspect: bool,
) -> DatabaseSide:
    """Counters, then probes, sizes, migrations (and with --inspect the inspection), then counters."""
    settings, ident = session.config.settings, session.ident
    stores = {name: comp for name, comp in components.items() if comp.role == "database"}
    kinds = {c.kind: c for c in stores.values()}
    # the migration files are read beside the first readings, not before the probes (5-9 ms)
    reader = _Reader(session, set(kinds))
    earlier, stored = status_db.earlier(ident, rates)
    if stored:  # runs in quick succession: only when no kept sample is old enough yet
        time.sleep(status_db.wait_s(earlier, time.time()))
    opened = workers.run_all(
        {
            kind: partial(_open, settings, ident, kind, _scope(comp), reading=bool(earlier))
            for kind, comp in kinds.items()
            if kind in COUNTED
        },
        limit=4,
    )
    links = {kind: server.link for kind, server in opened.items() if server.link is not None}
    try:
        return _between(
            session,
            components=components,
            stores=stores,
            links=links,
            opened=opened,
            reader=reader,
            earlier=earlier,
            stored=stored,
            rates=rates,
            with_inspect=with_inspect,
        )
    finally:
        close_all(links)


def _between(
    session: Session,
    *,
    components: dict[str, Component],
    stores: dict[str, Component],
    links: dict[str, Link],
    opened: dict[str, _Server],
    reader: _Reader,
    earlier: list[dict[str, status_db.Reading]],
    stored: bool,
    rates: status_db.Rates | None,
    with_inspect: bool,
) -> DatabaseSide:
    settings, ident = session.config.settings, session.ident
    jobs: dict[str, Callable[[], Any]] = {
        f"probe:{n}": partial(run_probe, c.probe, grpc=False) for n, c in components.items()
    }
    for name, comp in stores.items():
        jobs[f"store:{name}"] = partial(
            _on_link, settings, ident, name, comp.kind, opened=opened, reader=reader, rates=rates
        )
        if comp.kind == "postgres" and reader.wanted:  # each database's history on a connection to it
            for store in status_migrations.stores_of("postgres"):
                jobs[f"migrations:{store}"] = _slow(
                    rates, f"migrations:{store}", partial(reader.store, store, None)
                )
    got = workers.run_all(jobs, limit=24)
    for name in stores:
        got[f"size:{name}"], on_link = got.pop(f"store:{name}")
        got.update({f"migrations:{m.store}": m for m in on_link})
    healthy = {c.kind: c for n, c in stores.items() if got[f"probe:{n}"].ok}
    migrations = [
        got.pop(f"migrations:{store}")
        for store in status_migrations.all_stores()
        if status_migrations.store_kind(store) in healthy and f"migrations:{store}" in got
    ]
    inspect = status_inspect.inspect(session, set(healthy)) if with_inspect else None
    scopes = {kind: _scope(comp) for kind, comp in healthy.items()}
    after = _after(settings, ident, links, scopes)
    start = {r.database: r for server in opened.values() for r in server.start}
    return DatabaseSide(
        {k: v for k, v in got.items() if not k.startswith("migrations:")},
        migrations,
        status_db.Sampling(earlier, stored, start, after, scopes),
        inspect,
    )


class _Reader:
    """status_migrations.Reader, made in a thread of its own; each store's read waits for it."""

    def __init__(self, session: Session, kinds: set[str]) -> None:
        self.wanted = any(status_migrations.stores_of(kind) for kind in kinds)
        self._job = (
            workers.start("migration files", partial(status_migrations.Reader, session))
            if self.wanted
            else None
        )

    def store(self, store: str, link: Link | None) -> StoreMigrations:
        if self._job is None:
            raise RuntimeError("no migrations to read")
        workers.wait_all([self._job])  # raises what reading the files raised
        if self._job.result is None:
            raise RuntimeError("the migration files were not read")
        return self._job.result.store(store, link)


def _on_link(
    settings: Settings,
    ident: BranchIdentity,
    name: str,
    kind: str,
    *,
    opened: dict[str, _Server],
    reader: _Reader,
    rates: status_db.Rates | None,
) -> tuple[str, list[StoreMigrations]]:
    """The database's size, then (KeyDB, CQL) its migrations: one after the other on its link."""
    server = opened.get(kind)
    link = server.link if server is not None else None
    if server is not None and link is None and server.error is not None:
        held = f"? ({type(server.error).__name__})"
    else:
        held = _slow(rates, f"size:{name}", partial(size, settings, ident, kind, link))()
    if kind == "postgres" or not reader.wanted:
        return held, []
    return held, [
        _slow(rates, f"migrations:{store}", partial(reader.store, store, link))()
        for store in status_migrations.stores_of(kind)
    ]


def _after(
    settings: Settings, ident: BranchIdentity, links: dict[str, Link], scopes: dict[str, str]
) -> dict[str, status_db.Reading]:
    """The last readings, on each healthy server's link (a new one when it had none)."""

    def one(kind: str, scope: str) -> Callable[[], list[status_db.Reading]]:
        def reading() -> list[status_db.Reading]:
            link = links.get(kind)
            if link is None:
                return list(status_db.read_all(settings, ident, {kind: scope}).values())
            try:
                return status_db.read(settings, ident, kind, link, scope)
            except Exception as exc:
                return status_db.failed(kind, scope, exc)

        return reading

    got = workers.run_all({k: one(k, s) for k, s in scopes.items() if k in COUNTED}, limit=4)
    return {r.database: r for readings in got.values() for r in readings}


def _slow(rates: status_db.Rates | None, key: str, read: Callable[[], Any]) -> Callable[[], Any]:
    """``read``, or under --watch its answer from a frame less than SLOW_EVERY_S ago."""
    if rates is None:
        return read

    def kept_or_read() -> Any:
        hit = rates.slow.get(key)
        if hit is not None and time.monotonic() - hit[0] < status_db.SLOW_EVERY_S:
            return hit[1]
        value = read()
        rates.slow[key] = (time.monotonic(), value)
        return value

    return kept_or_read
