"""env.status: one snapshot of the branch's stack, gathered in parallel.

Per service: container state, a live health probe and its latency, host port, uptime, memory and
CPU (two one-shot stats samples 0.25 s apart); per database: health, size and the connection string
with the password hidden; the git branch with its last commit; the Docker engine. Nothing here
needs the stack to be up: what is missing is reported as such, with a hint.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from tasks.core.errors import Unavailable
from tasks.core.stack import workers
from tasks.core.stack.engine import branch_containers, connect, container_name
from tasks.core.stack.model import (
    LABEL_SERVICE,
    DatabaseActivity,
    DatabaseStatus,
    EngineStatus,
    GitStatus,
    ServiceStatus,
    StatusSnapshot,
    StoreMigrations,
)
from tasks.core.stack.probes import ProbeResult, run_probe
from tasks.core.stack.spec import Component, resolve
from tasks.core.stores import endpoint

if TYPE_CHECKING:
    import docker

    from tasks.core.branch import BranchIdentity
    from tasks.core.config.schema import Settings
    from tasks.core.session import Session
    from tasks.core.stack.status_db import Rates

CPU_SAMPLE_S = 0.25


def _parse_time(text: str) -> dt.datetime | None:
    if not text or text.startswith("0001-"):
        return None
    head = text.rstrip("Z").partition(".")[0]
    try:
        return dt.datetime.fromisoformat(head).replace(tzinfo=dt.UTC)
    except ValueError:
        return None


CGROUP = Path("/sys/fs/cgroup")


def _cgroup_files(cid: str) -> tuple[Path, Path, bool] | None:
    """(CPU usage file, memory file, is v2) of a container when this machine runs the engine."""
    v1 = (CGROUP / "cpuacct" / "docker" / cid / "cpuacct.usage", CGROUP / "memory" / "docker" / cid)
    if v1[0].is_file():
        return v1[0], v1[1], False
    scope = CGROUP / "system.slice" / f"docker-{cid}.scope"
    if (scope / "cpu.stat").is_file():
        return scope / "cpu.stat", scope, True
    return None


def _cgroup_read(files: tuple[Path, Path, bool]) -> tuple[float, int | None]:
    """(CPU seconds used so far, memory bytes without the page cache)."""
    cpu_file, mem_dir, v2 = files
    if v2:
        usec = next(
            int(ln.split()[1]) for ln in cpu_file.read_text().splitlines() if ln.startswith("usage_usec")
        )
        used, stat_name, cache_key = usec / 1e6, "memory.current", "inactive_file"
    else:
        used, stat_name, cache_key = (
            int(cpu_file.read_text()) / 1e9,
            "memory.usage_in_bytes",
            "total_inactive_file",
        )
    try:
        usage = int((mem_dir / stat_name).read_text())
        stats = dict(ln.split() for ln in (mem_dir / "memory.stat").read_text().splitlines())
        memory: int | None = usage - int(stats.get(cache_key, 0))
    except (OSError, ValueError):
        memory = None
    return used, memory


def _stats(client: docker.DockerClient, container: str) -> tuple[int | None, float | None]:
    """(memory bytes, CPU percent over CPU_SAMPLE_S).

    Read from the container's cgroup when the engine runs on this machine (instant); otherwise from
    two one-shot samples of the stats API (which Engine 20.10 answers only once a second).
    """
    files = _cgroup_files(container)
    if files is not None:
        try:
            cpu0, _ = _cgroup_read(files)
            began = time.monotonic()
            time.sleep(CPU_SAMPLE_S)
            cpu1, memory = _cgroup_read(files)
            return memory, round(100 * (cpu1 - cpu0) / (time.monotonic() - began), 1)
        except (OSError, ValueError, StopIteration):
            pass  # fall back to the API

    def sample() -> dict[str, Any]:
        got: dict[str, Any] = client.api.stats(container, stream=False, one_shot=True)
        return got

    try:
        first = sample()
        time.sleep(CPU_SAMPLE_S)
        second = sample()
    except Exception:  # the container went away meanwhile
        return None, None
    mem = second.get("memory_stats") or {}
    usage = mem.get("usage")
    extra = mem.get("stats") or {}
    cache = extra.get("inactive_file", extra.get("total_inactive_file", extra.get("cache", 0)))
    memory = int(usage - cache) if usage is not None else None
    try:
        cpu_delta = (
            second["cpu_stats"]["cpu_usage"]["total_usage"] - first["cpu_stats"]["cpu_usage"]["total_usage"]
        )
        sys_delta = second["cpu_stats"]["system_cpu_usage"] - first["cpu_stats"]["system_cpu_usage"]
        cpus = second["cpu_stats"].get("online_cpus") or 1
        cpu = round(cpu_delta / sys_delta * cpus * 100, 1) if sys_delta > 0 else 0.0
    except (KeyError, TypeError):
        cpu = None
    return memory, cpu


def _git(session: Session, branch: str) -> GitStatus:
    try:
        import git

        repo = git.Repo(session.root, search_parent_directories=True)
        commit = repo.heads[branch].commit if branch in repo.heads else None
        if commit is None and not repo.head.is_detached and repo.head.is_valid():
            commit = repo.head.commit if repo.active_branch.name == branch else None
    except Exception:  # no repository, no such branch: shown as "no commits"
        return GitStatus(branch, None, None, None)
    if commit is None:
        return GitStatus(branch, None, None, None)
    subject = str(commit.message).strip().splitlines()[0] if commit.message else ""
    return GitStatus(branch, commit.hexsha[:10], subject[:72], max(0.0, time.time() - commit.committed_date))


def _clients(session: Session) -> dict[str, str]:
    """Whether each generated API client is current with the spec (from the gen core, when present)."""
    try:
        from tasks.core.codegen import clients_current

        found = clients_current(session.config.settings, session.root)
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
    return f"cql://{ep.host}:{ep.port}/{ident.keyspace}"


def _size(settings: Settings, ident: BranchIdentity, kind: str) -> str:
    try:
        if kind == "postgres":
            from tasks.core.stack.pgwire import quote_literal
            from tasks.core.stack.provision import pg_connect
            from tasks.core.stack.spec import POSTGRES_ROLES
            from tasks.core.stack.views import human_bytes

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
    except Exception as exc:  # size is informative; its failure is shown, not raised
        return f"? ({type(exc).__name__})"
    return "—"


def _keydb_size(settings: Settings, ident: BranchIdentity) -> str:
    import socket

    from tasks.core.stack.probes import _resp

    ep = endpoint(settings, ident, "keydb")
    with socket.create_connection((ep.host, ep.port), timeout=2) as sock:
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


def snapshot(session: Session, *, resources: bool = True, rates: Rates | None = None) -> StatusSnapshot:
    began = time.monotonic()
    settings = session.config.settings
    ident = session.ident
    stack = resolve(settings, ident)
    measured = _database_rates(session, rates)
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

    jobs: dict[str, Any] = {"git": lambda: _git(session, ident.branch), "clients": lambda: _clients(session)}
    for name, comp in stack.components.items():
        jobs[f"probe:{name}"] = lambda comp=comp: run_probe(comp.probe)
        if comp.role == "database":
            jobs[f"size:{name}"] = lambda comp=comp: _size(settings, ident, comp.kind)
        summary = summaries.get(name)
        if client is not None and summary is not None:
            cid = str(summary["Id"])
            jobs[f"inspect:{name}"] = lambda cid=cid: client.api.inspect_container(cid)
            if resources and summary.get("State") == "running":
                jobs[f"stats:{name}"] = lambda cid=cid: _stats(client, cid)
    got = workers.run_all(jobs, limit=16)

    now = dt.datetime.now(dt.UTC)
    services: list[ServiceStatus] = []
    databases: list[DatabaseStatus] = []
    hints: list[str] = []
    for name, comp in stack.components.items():
        probe: ProbeResult = got[f"probe:{name}"]
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
                    got[f"size:{name}"],
                    _connection(settings, ident, comp.kind),
                    detail or (probe.error if not probe.ok else ""),
                )
            )
    if not engine.reachable:
        hints.insert(0, f"Docker is not reachable ({engine.host}): start the engine")
    store_migrations, activity = _database_side(session, stack.components, databases, rates, measured)
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
        taken_at=now.isoformat(timespec="seconds"),
        seconds=round(time.monotonic() - began, 3),
        migrations=store_migrations,
        activity=activity,
    )


def _database_rates(session: Session, rates: Rates | None) -> list[DatabaseActivity] | None:
    """--watch: queries per second since the previous frame, read before this frame's own queries."""
    from tasks.core.stack import status_db

    return status_db.frame_start(session.config.settings, session.ident, rates)


def _database_side(
    session: Session,
    components: dict[str, Component],
    databases: list[DatabaseStatus],
    rates: Rates | None,
    measured: list[DatabaseActivity] | None,
) -> tuple[list[StoreMigrations], list[DatabaseActivity]]:
    """Migrations per store, then queries per second per database, for the healthy databases."""
    from tasks.core.stack import status_db

    healthy = {d.kind: components[d.name] for d in databases if d.health == "healthy"}
    scopes = {
        kind: "database" if kind == "postgres" else ("server" if comp.managed else "shared server")
        for kind, comp in healthy.items()
    }
    store_migrations = status_db.migrations(session, set(healthy))
    activity = status_db.frame_end(session.config.settings, session.ident, scopes, rates, measured)
    return store_migrations, activity


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
    return f"{comp.name} is unhealthy ({probe.error}): inv env.logs --service {comp.name} --level warn"
