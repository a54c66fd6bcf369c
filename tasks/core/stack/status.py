"""env.status: one snapshot of the branch's stack, gathered in parallel.

Per service: container state, a live health probe and its latency, the gRPC health of a service
with a ``grpc`` port (grpc_health.py), host port, uptime, memory and CPU (resources.py); per
database: health, size, migrations (status_migrations.py), queries per second (status_db.py) and
the connection string with the password hidden; the git branch with its last commit (gitinfo.py);
the Docker engine; with ``with_inspect`` (--inspect), db.inspect's report of every store
(status_inspect.py). Nothing here needs the stack to be up: what is missing is reported as such,
with a hint. The database side runs in a thread of its own beside the Docker
side, and nothing waits for a rate window when earlier readings are kept (the usual case).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from tasks.core.dev.model import DevMode
from tasks.core.errors import Unavailable
from tasks.core.stack import gitinfo, grpc_health, status_db, status_inspect, status_migrations, tcp, workers
from tasks.core.stack.engine import branch_containers, connect, container_name
from tasks.core.stack.model import (
    LABEL_SERVICE,
    DatabaseStatus,
    EngineStatus,
    ServiceStatus,
    StatusSnapshot,
    StoreMigrations,
)
from tasks.core.stack.probes import ProbeResult, _resp, run_grpc, run_probe, with_grpc
from tasks.core.stack.resources import Kept, stats
from tasks.core.stack.spec import Component, resolve
from tasks.core.stores import endpoint

if TYPE_CHECKING:
    import docker

    from tasks.core.branch import BranchIdentity
    from tasks.core.config.schema import Settings
    from tasks.core.insight.model import InspectReport
    from tasks.core.session import Session


def _parse_time(text: str) -> dt.datetime | None:
    if not text or text.startswith("0001-"):
        return None
    head = text.rstrip("Z").partition(".")[0]
    try:
        return dt.datetime.fromisoformat(head).replace(tzinfo=dt.UTC)
    except ValueError:
        return None


def _container(
    client: docker.DockerClient, cid: str, *, resources: bool, kept: Kept | None
) -> tuple[dict[str, Any], tuple[int | None, float | None]]:
    """(inspect, (memory, CPU percent)) of one of the branch's containers."""
    info: dict[str, Any] = client.api.inspect_container(cid)
    state = info.get("State") or {}
    if not resources or state.get("Status") != "running":
        return info, (None, None)
    return info, stats(client, cid, str(state.get("StartedAt", "")), kept)


LANGUAGES = ("swift", "kotlin", "typescript", "python")  # the gen core's, in its order


def _clients(session: Session) -> dict[str, str]:
    """Whether each generated API client is current with the spec (from the gen core, when present).

    A client folder without the generator's stamp is "not generated" whatever the spec says, so when
    no folder has one the gen core (about 60 ms of imports: templates, spec loader) is not loaded.
    """
    try:
        from tasks.core.codegen.writer import STAMP

        settings, root = session.config.settings, session.root
        folders = [Path(getattr(settings.clients, lang).output) for lang in LANGUAGES]
        if not any((f if f.is_absolute() else root / f).joinpath(STAMP).is_file() for f in folders):
            return dict.fromkeys(LANGUAGES, "not generated")
        from tasks.core.codegen import clients_current

        found = clients_current(settings, root)
    except Exception:  # the gen core is optional here; a failure only leaves the row out
        return {}
    return {lang: {True: "current", False: "stale", None: "not generated"}[ok] for lang, ok in found.items()}


def _connection(settings: Settings, ident: BranchIdentity, kind: str) -> str:
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


def _size(settings: Settings, ident: BranchIdentity, kind: str) -> str:
    try:
        if kind == "postgres":
            from tasks.core.humanize import human_bytes
            from tasks.core.stack.pgwire import quote_literal
            from tasks.core.stack.provision import pg_connect
            from tasks.core.stack.spec import POSTGRES_ROLES

            ep = endpoint(settings, ident, "postgres")
            listed = ", ".join(quote_literal(ident.postgres_db(r)) for r in POSTGRES_ROLES)
            with pg_connect(ep, timeout=2) as conn:
                rows = conn.query(
                    "SELECT coalesce(sum(pg_database_size(datname)), 0), count(*) FROM pg_database "  # noqa: S608
                    f"WHERE datname IN ({listed})"
                )
            return f"{human_bytes(int(rows[0][0] or 0))} in {rows[0][1]} databases" if rows else "—"
        if kind == "keydb":
            return _keydb_size(settings, ident)
        if kind == "scylla":
            from tasks.core.stack.cql import Connection, quote_literal

            ep = endpoint(settings, ident, "scylla")
            with Connection(ep.host, ep.port, user=ep.user, password=ep.password, timeout=2) as cql:
                tables = cql.query(
                    "SELECT table_name FROM system_schema.tables WHERE keyspace_name = "  # noqa: S608
                    + quote_literal(ident.keyspace)
                )
            return f"{len(tables.rows) if tables else 0} tables in {ident.keyspace}"
        if kind == "s3":
            from tasks.core.humanize import human_bytes
            from tasks.core.stores.s3.wire import bucket_stats

            held = bucket_stats(endpoint(settings, ident, "s3"), ident.bucket)
            return "no bucket yet" if held is None else f"{held[0]} objects, {human_bytes(held[1])}"
    except Exception as exc:  # size is informative; its failure is shown, not raised
        return f"? ({type(exc).__name__})"
    return "—"


def _keydb_size(settings: Settings, ident: BranchIdentity) -> str:
    ep = endpoint(settings, ident, "keydb")
    with tcp.connect(ep.host, ep.port, 2) as sock:
        reader = sock.makefile("rb")
        if ep.password:
            sock.sendall(_resp("AUTH", ep.password))
            reader.readline()
        sock.sendall(_resp("DBSIZE"))
        keys = reader.readline().strip().lstrip(b":").decode()
        sock.sendall(_resp("INFO", "memory"))
        size = int(reader.readline().strip().lstrip(b"$"))
        info = reader.read(size + 2).decode(errors="replace")
    mem = next(
        (ln.split(":", 1)[1].strip() for ln in info.splitlines() if ln.startswith("used_memory_human:")), "?"
    )
    return f"{keys} keys, {mem} used"


def snapshot(
    session: Session,
    *,
    resources: bool = True,
    rates: status_db.Rates | None = None,
    with_inspect: bool = False,
) -> StatusSnapshot:
    began = time.monotonic()
    settings = session.config.settings
    ident = session.ident
    stack = resolve(settings, ident)
    # the probes and the database side (counters, sizes, migrations) run alongside the Docker side
    database_job = workers.start(
        "databases", lambda: _database_work(session, stack.components, rates, with_inspect=with_inspect)
    )
    # and so do the gRPC checks (grpc_wire.py; grpcio only to word a failure): each is shown
    # beside its service's own probe, so it runs whatever that one answers
    grpc_checks: dict[str, Callable[[], grpc_health.GrpcHealth]] = {
        f"grpc:{n}": partial(run_grpc, c.probe) for n, c in stack.components.items() if c.probe.grpc_port
    }
    grpc_job = workers.start("grpc", lambda: workers.run_all(grpc_checks, limit=16)) if grpc_checks else None
    client: docker.DockerClient | None
    try:
        client = connect(timeout=10)
        version = client.api.version()
        info_running = len(client.api.containers(filters={"status": "running"}))
        engine = EngineStatus(
            True,
            str(version.get("Version", "?")),
            str(version.get("ApiVersion", "?")),
            str(client.api.base_url),
            info_running,
        )
        summaries = {
            (s.get("Labels") or {}).get(LABEL_SERVICE, container_name(s)): s
            for s in branch_containers(client, stack.project, stack.branch)
        }
    except Unavailable as exc:
        client = None
        engine = EngineStatus(False, "", "", exc.message, 0)
        summaries = {}

    got = _docker_side(session, client, summaries, list(stack.components), resources=resources)
    workers.wait_all([database_job])
    db_side = database_job.result
    assert db_side is not None  # noqa: S101  (wait_all raised otherwise)
    got.update(db_side.got)
    if grpc_job is not None:
        workers.wait_all([grpc_job])
        got.update(grpc_job.result or {})

    now = dt.datetime.now(dt.UTC)
    services: list[ServiceStatus] = []
    databases: list[DatabaseStatus] = []
    hints: list[str] = []
    for name, comp in stack.components.items():
        probe: ProbeResult = with_grpc(got[f"probe:{name}"], comp.probe, got.get(f"grpc:{name}"))
        inspect = got.get(f"inspect:{name}")
        state, detail = _state(comp, inspect)
        health = "healthy" if probe.ok else ("unhealthy" if state in ("running", "external") else "down")
        hint = _hint(comp, state, probe, inspect)
        if hint:
            hints.append(hint)
        if comp.role == "service":
            started = (
                _parse_time(inspect["State"].get("StartedAt", "")) if inspect and state == "running" else None
            )
            memory, cpu = got.get(f"stats:{name}") or (None, None)
            port = comp.probe.port or next((h for _c, h in comp.ports.values()), None)
            services.append(
                ServiceStatus(
                    name,
                    comp.container,
                    state,
                    health,
                    port,
                    comp.url,
                    round(probe.ms, 1) if probe.ok else None,
                    (now - started).total_seconds() if started else None,
                    memory,
                    cpu,
                    detail or (probe.error if not probe.ok else ""),
                    grpc=probe.grpc,
                )
            )
        else:
            databases.append(
                DatabaseStatus(
                    name,
                    comp.kind,
                    "container" if comp.managed else "external",
                    state,
                    health,
                    round(probe.ms, 1) if probe.ok else None,
                    db_side.got[f"size:{name}"],
                    _connection(settings, ident, comp.kind),
                    detail or (probe.error if not probe.ok else ""),
                )
            )
    if not engine.reachable:
        hints.insert(0, f"Docker is not reachable ({engine.host}): start the engine")
    activity = status_db.finish(settings, ident, db_side.sampling, rates)
    return StatusSnapshot(
        branch=ident.branch,
        project=stack.project,
        network=stack.network,
        git=got["git"],
        engine=engine,
        services=services,
        databases=databases,
        hints=hints,
        clients=got["clients"],
        dev=dev_modes(session, summaries),
        taken_at=now.isoformat(timespec="seconds"),
        seconds=round(time.monotonic() - began, 3),
        migrations=db_side.migrations,
        activity=activity,
        grpc=grpc_health.summary((s.name, s.grpc) for s in services),
        inspect=db_side.inspect,
    )


def _docker_side(
    session: Session,
    client: docker.DockerClient | None,
    summaries: dict[str, Any],
    names: list[str],
    *,
    resources: bool,
) -> dict[str, Any]:
    """git, clients, and inspect:<name> / stats:<name> of each container, all in parallel."""
    jobs: dict[str, Any] = {
        "git": lambda: gitinfo.status(session.root, session.ident.branch),
        "clients": lambda: _clients(session),
    }
    kept = Kept(session.ident) if resources else None
    for name in names:
        summary = summaries.get(name)
        if client is not None and summary is not None:
            jobs[f"container:{name}"] = partial(
                _container, client, str(summary["Id"]), resources=resources, kept=kept
            )
    got = workers.run_all(jobs, limit=16)
    if kept is not None:
        kept.save()
    for name in names:
        found = got.pop(f"container:{name}", None)
        if found is not None:
            got[f"inspect:{name}"], got[f"stats:{name}"] = found
    return got


@dataclass
class _DatabaseSide:
    got: dict[str, Any]  # probe:<name> and size:<name> of each database
    migrations: list[StoreMigrations]
    sampling: status_db.Sampling
    inspect: InspectReport | None


def _scope(comp: Component) -> str:
    return "database" if comp.kind == "postgres" else ("server" if comp.managed else "shared server")


def _database_work(
    session: Session, components: dict[str, Component], rates: status_db.Rates | None, *, with_inspect: bool
) -> _DatabaseSide:
    """Counters first (when there is an earlier reading to compare with), then every request this
    snapshot sends to the stack (probes of all components, sizes and migrations of the databases),
    then counters again: the stack's traffic between two readings never holds clikd's own."""
    settings, ident = session.config.settings, session.ident
    stores = {name: comp for name, comp in components.items() if comp.role == "database"}
    earlier, stored = status_db.earlier(ident, rates)
    start: dict[str, status_db.Reading] = {}
    if stored:  # runs in quick succession: only when no kept sample is old enough yet
        time.sleep(status_db.wait_s(earlier, time.time()))
    if earlier and stores:
        start = status_db.read_all(settings, ident, {c.kind: _scope(c) for c in stores.values()})
    # The services' probes run while the databases are probed, then sized and asked for their
    # migrations, and with --inspect inspected (only the healthy ones): all of it between the two
    # readings, so that none of these queries counts as the stack's traffic.
    service_probes = [
        workers.start(f"probe:{n}", partial(run_probe, c.probe, grpc=False))
        for n, c in components.items()
        if n not in stores
    ]
    probes: dict[str, ProbeResult] = workers.run_all(
        {f"probe:{n}": partial(run_probe, c.probe, grpc=False) for n, c in stores.items()}, limit=16
    )
    healthy = {c.kind: c for n, c in stores.items() if probes[f"probe:{n}"].ok}
    jobs: dict[str, Any] = {
        f"size:{n}": _slow(rates, f"size:{n}", partial(_size, settings, ident, c.kind))
        for n, c in stores.items()
    }
    jobs["migrations"] = _slow(
        rates, f"migrations:{sorted(healthy)}", partial(status_migrations.migrations, session, set(healthy))
    )
    if with_inspect:
        jobs["inspect"] = partial(status_inspect.inspect, session, set(healthy))
    got = workers.run_all(jobs, limit=16)
    workers.wait_all(service_probes)
    probes.update({job.name: job.result for job in service_probes if job.result is not None})
    scopes = {kind: _scope(comp) for kind, comp in healthy.items()}
    after = status_db.read_all(settings, ident, scopes) if scopes else {}
    return _DatabaseSide(
        {**probes, **{k: v for k, v in got.items() if k not in ("migrations", "inspect")}},
        got["migrations"],
        status_db.Sampling(earlier, stored, start, after, scopes),
        got.get("inspect"),
    )


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


def _state(comp: Component, inspect: dict[str, Any] | None) -> tuple[str, str]:
    if not comp.managed:
        return "external", ""
    if inspect is None:
        return "missing", ""
    st = inspect["State"]
    status = str(st.get("Status", "?"))
    if status == "exited":
        return "exited", f"exit code {st.get('ExitCode')}"
    return status, ""


def _hint(comp: Component, state: str, probe: ProbeResult, inspect: dict[str, Any] | None) -> str:
    if probe.ok:
        return ""
    if state == "missing":
        return f"{comp.name} is not running: inv env.start"
    if state == "exited":
        code = inspect["State"].get("ExitCode") if inspect else "?"
        return (
            f"{comp.name} exited with code {code}: see inv env.logs --service {comp.name}, then inv env.start"
        )
    if state == "external":
        return f"{comp.name} ({comp.probe.host}:{comp.probe.port}) does not answer: {probe.error}"
    if probe.on_grpc and probe.grpc is not None:
        return (
            f"{comp.name} answers {comp.probe.kind}, but its gRPC health (port {comp.probe.grpc_port}) does "
            f"not ({probe.grpc.error}): inv env.logs --service {comp.name} --level warn"
        )
    return f"{comp.name} is unhealthy ({probe.error}): inv env.logs --service {comp.name} --level warn"


def dev_modes(session: Session, summaries: dict[str, Any]) -> list[DevMode]:
    """The branch's services in dev mode (env.dev): source, last cycle and its result."""
    from tasks.core.dev.state import dev_mode
    from tasks.core.stack.model import LABEL_DEV

    modes: list[DevMode] = []
    for name, summary in sorted(summaries.items()):
        source = (summary.get("Labels") or {}).get(LABEL_DEV)
        if source:
            modes.append(dev_mode(session.root, session.ident.slug, name, str(source)))
    return modes
