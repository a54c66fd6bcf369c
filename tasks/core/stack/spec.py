"""The desired stack of one branch, resolved from the settings without touching Docker.

Every name comes from the branch identity, every host port from :func:`tasks.core.ports.host_ports`
and every database address from :mod:`tasks.core.stores`; this module only assembles them.
"""

from __future__ import annotations

import hashlib
import json
import string
from dataclasses import dataclass, field
from typing import Literal

from tasks.core.branch import BranchIdentity
from tasks.core.config.schema import Database, Service, Settings, dependency_order
from tasks.core.errors import ConfigError, UsageError
from tasks.core.ports import host_ports
from tasks.core.stack.model import (
    LABEL_BRANCH,
    LABEL_DEPENDS,
    LABEL_PROJECT,
    LABEL_ROLE,
    LABEL_SERVICE,
)
from tasks.core.stores import HOST_ALIAS, inner_endpoint

PLACEHOLDERS = (
    "postgres_auth_url",
    "postgres_main_url",
    "keydb_url",
    "key_prefix",
    "scylla_hosts",
    "scylla_keyspace",
    "s3_endpoint",
    "s3_bucket",
    "s3_access_key",
    "s3_secret_key",
    "branch",
    "service",
)
POSTGRES_ROLES = ("auth", "main")

ProbeKind = Literal["http", "tcp", "postgres", "redis", "cql", "none"]
DATABASE_PROBES: dict[str, ProbeKind] = {
    "postgres": "postgres",
    "keydb": "redis",
    "scylla": "cql",
    "s3": "http",
}


@dataclass(frozen=True)
class Probe:
    """How clikd decides that a component is ready, from this machine."""

    kind: ProbeKind
    host: str
    port: int
    path: str = "/health"
    interval: float = 0.25
    timeout: float = 90.0
    user: str = ""
    password: str = ""
    grpc_port: int = 0  # host port of the service's "grpc" port, probed with grpc.health.v1 (0: none)


@dataclass(frozen=True)
class Component:
    """One service or database of the branch, fully resolved."""

    name: str
    role: Literal["service", "database"]
    kind: str  # service | postgres | scylla | keydb
    managed: bool  # False: an external database, probed but never run by clikd
    image: str
    container: str
    environment: dict[str, str]
    command: list[str] | None
    ports: dict[str, tuple[int, int]]  # port name -> (container port, host port)
    volumes: dict[str, str]  # docker volume name -> path in the container
    depends_on: tuple[str, ...]
    probe: Probe
    pull: str  # always | missing | never
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        if self.role == "service" and self.probe.kind == "http":
            return f"http://127.0.0.1:{self.probe.port}"
        if self.probe.kind == "none":
            return ""
        return f"{self.probe.host}:{self.probe.port}"

    def spec_hash(self) -> str:
        """A hash of everything that shapes the container, except the image's content."""
        doc = {
            "image": self.image,
            "environment": self.environment,
            "command": self.command,
            "ports": {k: list(v) for k, v in sorted(self.ports.items())},
            "volumes": self.volumes,
            "labels": self.labels,
            "aliases": [self.name],
        }
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()

    def config_hash(self, image_id: str) -> str:
        """The ``dev.clikd.config-hash`` label: the resolved config plus the image it runs."""
        return hashlib.sha256(f"{self.spec_hash()}\n{image_id}".encode()).hexdigest()


@dataclass(frozen=True)
class Stack:
    """Everything env.start needs to know about the branch, before looking at Docker."""

    project: str
    branch: str
    network: str
    components: dict[str, Component]  # in start order
    waves: list[list[str]]
    network_labels: dict[str, str]

    def dependents(self, names: set[str]) -> set[str]:
        """``names`` plus everything that depends on them, transitively."""
        found = set(names)
        grew = True
        while grew:
            grew = False
            for comp in self.components.values():
                if comp.name not in found and found.intersection(comp.depends_on):
                    found.add(comp.name)
                    grew = True
        return found

    def dependencies(self, names: set[str]) -> set[str]:
        """``names`` plus everything they depend on, transitively."""
        found = set(names)
        todo = list(names)
        while todo:
            comp = self.components.get(todo.pop())
            for dep in comp.depends_on if comp else ():
                if dep not in found:
                    found.add(dep)
                    todo.append(dep)
        return found


def base_labels(project: str, branch: str) -> dict[str, str]:
    return {LABEL_PROJECT: project, LABEL_BRANCH: branch}


def placeholder_values(settings: Settings, ident: BranchIdentity) -> dict[str, str]:
    """The values of the ``${...}`` placeholders, as containers on the branch network see them."""
    values: dict[str, str] = {
        "key_prefix": ident.key_prefix,
        "scylla_keyspace": ident.keyspace,
        "branch": ident.branch,
    }
    kinds = {db.kind for db in settings.databases.values()}
    if "postgres" in kinds:
        pg = inner_endpoint(settings, "postgres")
        for role in POSTGRES_ROLES:
            values[f"postgres_{role}_url"] = pg.postgres_dsn(ident.postgres_db(role))
    if "keydb" in kinds:
        values["keydb_url"] = inner_endpoint(settings, "keydb").redis_url()
    if "scylla" in kinds:
        cql = inner_endpoint(settings, "scylla")
        values["scylla_hosts"] = f"{cql.host}:{cql.port}"
    if "s3" in kinds:
        s3 = inner_endpoint(settings, "s3")
        values.update(
            s3_endpoint=s3.s3_url,
            s3_bucket=ident.bucket,
            s3_access_key=s3.user,
            s3_secret_key=s3.password,
        )
    return values


def render_environment(
    env: dict[str, str], values: dict[str, str], *, service: str, where: str
) -> dict[str, str]:
    """Substitute ``${name}`` placeholders; an unknown or unavailable one is a ConfigError."""
    context = {**values, "service": service}
    rendered: dict[str, str] = {}
    for key, raw in env.items():
        template = string.Template(raw)
        try:
            rendered[key] = template.substitute(context)
        except KeyError as exc:
            name = exc.args[0]
            known = ", ".join(f"${{{p}}}" for p in PLACEHOLDERS)
            why = (
                "is not a placeholder clikd knows"
                if name not in PLACEHOLDERS
                else "needs a database of that kind, and none is configured"
            )
            raise ConfigError(
                f"{where}.environment.{key} uses ${{{name}}}, which {why}",
                hint=f"placeholders: {known}; write $$ for a literal $",
            ) from None
        except ValueError as exc:
            raise ConfigError(
                f"{where}.environment.{key} = {raw!r} is not a valid template: {exc}",
                hint="placeholders look like ${name}; write $$ for a literal $",
            ) from None
    return rendered


def _database(
    name: str, db: Database, settings: Settings, ident: BranchIdentity, ports: dict[str, int]
) -> Component:
    labels = {**base_labels(ident.project, ident.branch), LABEL_SERVICE: name, LABEL_ROLE: "database"}
    probe_kind: ProbeKind = DATABASE_PROBES[db.kind]
    # The object store's gateway answers /healthz; env.start then creates the bucket with a signed
    # request, which is where wrong keys show.
    path = "/healthz" if db.kind == "s3" else "/health"
    if db.mode == "external":
        return Component(
            name=name,
            role="database",
            kind=db.kind,
            managed=False,
            image="",
            container="",
            environment={},
            command=None,
            ports={},
            volumes={},
            depends_on=(),
            probe=Probe(
                probe_kind, db.host, db.port, path, timeout=db.timeout, user=db.user, password=db.password
            ),
            pull="never",
            labels=labels,
        )
    env: dict[str, str] = {}
    if db.kind == "postgres":
        env = {"POSTGRES_USER": db.user or "postgres", "POSTGRES_PASSWORD": db.password or "postgres"}
    elif db.kind == "s3":
        # SeaweedFS (and most S3 servers) take their admin identity from these two variables.
        env = {"AWS_ACCESS_KEY_ID": db.user, "AWS_SECRET_ACCESS_KEY": db.password}
    env.update(
        render_environment(
            db.environment, placeholder_values(settings, ident), service=name, where=f"databases.{name}"
        )
    )
    host_port = ports[f"{name}.main"]
    volumes = {ident.volume(name): db.volume_path} if db.volume_path else {}
    return Component(
        name=name,
        role="database",
        kind=db.kind,
        managed=True,
        image=db.image,
        container=ident.container(name),
        environment=env,
        command=list(db.command) if db.command else None,
        ports={"main": (db.port, host_port)},
        volumes=volumes,
        depends_on=(),
        probe=Probe(
            probe_kind,
            "127.0.0.1",
            host_port,
            path,
            timeout=db.timeout,
            user=env.get("POSTGRES_USER", db.user),
            password=env.get("POSTGRES_PASSWORD", db.password),
        ),
        pull=db.pull,
        labels=labels,
    )


def _service(
    name: str, svc: Service, settings: Settings, ident: BranchIdentity, ports: dict[str, int]
) -> Component:
    enabled_deps = tuple(d for d in svc.depends_on if d in settings.databases or settings.services[d].enabled)
    labels = {
        **base_labels(ident.project, ident.branch),
        LABEL_SERVICE: name,
        LABEL_ROLE: "service",
        LABEL_DEPENDS: ",".join(enabled_deps),
    }
    published = {pname: (port, ports[f"{name}.{pname}"]) for pname, port in svc.ports.items()}
    health = svc.health
    if health.kind in ("http", "tcp") and health.port not in published:
        raise ConfigError(
            f"services.{name}.health.port = {health.port!r} names no port of the service",
            hint=f"use one of {sorted(published) or ['(add ports)']}",
        )
    probe_port = published[health.port][1] if health.port in published else 0
    grpc_port = published["grpc"][1] if "grpc" in published and health.grpc else 0
    env = render_environment(
        svc.environment, placeholder_values(settings, ident), service=name, where=f"services.{name}"
    )
    return Component(
        name=name,
        role="service",
        kind="service",
        managed=True,
        image=svc.image,
        container=ident.container(name),
        environment=env,
        command=list(svc.command) if svc.command else None,
        ports=published,
        volumes={ident.volume(name, vol): path for vol, path in svc.volumes.items()},
        depends_on=enabled_deps,
        probe=Probe(
            health.kind,
            "127.0.0.1",
            probe_port,
            path=health.path,
            interval=health.interval,
            timeout=health.timeout,
            grpc_port=grpc_port,
        ),
        pull=svc.pull,
        labels=labels,
    )


def resolve(settings: Settings, ident: BranchIdentity) -> Stack:
    """The branch's whole stack (enabled services and every database) in start order."""
    ports = host_ports(settings, ident)
    waves = [
        [n for n in wave if n in settings.databases or settings.services[n].enabled]
        for wave in dependency_order(settings)
    ]
    waves = [w for w in waves if w]
    components: dict[str, Component] = {}
    for wave in waves:
        for name in wave:
            if name in settings.databases:
                components[name] = _database(name, settings.databases[name], settings, ident, ports)
            else:
                components[name] = _service(name, settings.services[name], settings, ident, ports)
    return Stack(
        project=ident.project,
        branch=ident.branch,
        network=ident.network,
        components=components,
        waves=waves,
        network_labels=base_labels(ident.project, ident.branch),
    )


@dataclass(frozen=True)
class Selection:
    """Which components a run acts on, and which selected ones lose a dependency to --exclude."""

    names: list[str]  # in start order
    excluded: list[str]
    affected: dict[str, list[str]]  # excluded dependency -> selected dependents


def _split(raw: str) -> list[str]:
    return [p.strip() for p in raw.split(",") if p.strip()]


def select(stack: Stack, *, only: str = "", exclude: str = "") -> Selection:
    """``--only`` picks components plus their dependencies; ``--exclude`` drops components."""
    known = set(stack.components)
    wanted_only, wanted_out = _split(only), _split(exclude)
    unknown = [n for n in wanted_only + wanted_out if n not in known]
    if unknown:
        raise UsageError(
            f"unknown service or database: {', '.join(unknown)}",
            hint=f"known: {', '.join(stack.components)}",
        )
    chosen = stack.dependencies(set(wanted_only)) if wanted_only else set(known)
    out = set(wanted_out)
    chosen -= out
    affected: dict[str, list[str]] = {}
    for name in sorted(out):
        users = [c for c in stack.components if c in chosen and name in stack.dependencies({c}) - {c}]
        if users:
            affected[name] = users
    order = [n for n in stack.components if n in chosen]
    return Selection(order, sorted(out), affected)


HOST_GATEWAY = {HOST_ALIAS: "host-gateway"}
