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
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tasks.core.dev.model import DevMode
from tasks.core.errors import Unavailable
from tasks.core.stack import gitinfo, grpc_health, status_db, status_stores, workers
from tasks.core.stack.engine import connect, container_name, of_branch, versions
from tasks.core.stack.model import (
    LABEL_SERVICE,
    DatabaseStatus,
    EngineStatus,
    ServiceStatus,
    StatusSnapshot,
)
from tasks.core.stack.probes import ProbeResult, run_grpc, with_grpc
from tasks.core.stack.resources import Kept, stats
from tasks.core.stack.spec import Component, resolve

if TYPE_CHECKING:
    import docker

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
        "databases", lambda: status_stores.work(session, stack.components, rates, with_inspect=with_inspect)
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
        # one list of every container: the engine's running count and the branch's own
        every: list[dict[str, Any]] = client.api.containers(all=True)
        engine = EngineStatus(
            True,
            *versions(client),
            str(client.api.base_url),
            sum(1 for s in every if s.get("State") == "running"),
        )
        summaries = {
            (s.get("Labels") or {}).get(LABEL_SERVICE, container_name(s)): s
            for s in of_branch(every, stack.project, stack.branch)
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
                    status_stores.connection(settings, ident, comp.kind),
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
