"""The typed shape of clikd.toml.

Every model forbids unknown keys, so a typo is reported (with the nearest valid key) instead of
being silently ignored.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, field_validator, model_validator

PortNumber = int


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Project(Section):
    name: str = Field(default="clikd", pattern=r"^[a-z][a-z0-9]{0,15}$")
    description: str = ""


class Git(Section):
    main_branch: str = "main"
    remote: str = "origin"


class Registry(Section):
    host: str = "ghcr.io"
    namespace: str = "clikd-org"
    username: str | None = None
    # Where the password/token comes from, in order: this environment variable, `gh auth token`,
    # then the Docker credential store. The value itself never lives in a config file.
    token_env: str = "GITHUB_TOKEN"
    use_gh_cli: bool = True


class Health(Section):
    kind: Literal["http", "tcp", "postgres", "redis", "cql", "none"] = "http"
    path: str = "/health"
    port: str = "http"  # which of the service's named ports to probe
    interval: PositiveFloat = 0.25  # seconds between probes
    timeout: PositiveFloat = 90.0  # seconds until the service counts as failed


class Build(Section):
    context: str
    dockerfile: str = "Dockerfile"


PullPolicy = Literal["always", "missing", "never"]


class Service(Section):
    image: str
    ports: dict[str, PortNumber] = Field(default_factory=dict)
    depends_on: list[str] = Field(default_factory=list)
    health: Health = Health()
    environment: dict[str, str] = Field(default_factory=dict)
    volumes: dict[str, str] = Field(default_factory=dict)  # volume name -> path in the container
    command: list[str] | None = None
    pull: PullPolicy = "always"
    enabled: bool = True
    build: Build | None = None

    @field_validator("ports")
    @classmethod
    def _valid_ports(cls, ports: dict[str, int]) -> dict[str, int]:
        for name, port in ports.items():
            if not 1 <= port <= 65535:
                raise ValueError(f"port {name} = {port} is outside 1..65535")
        return ports


class Database(Section):
    kind: Literal["postgres", "scylla", "keydb"]
    # "container": clikd runs one per branch; "external": a server that is already running,
    # shared by branches and separated by database/keyspace/prefix names.
    mode: Literal["container", "external"] = "container"
    image: str = ""
    host: str = "127.0.0.1"
    port: PortNumber = 0
    user: str = ""
    password: str = ""
    volume_path: str = ""
    environment: dict[str, str] = Field(default_factory=dict)
    command: list[str] | None = None
    pull: PullPolicy = "missing"
    timeout: PositiveFloat = 90.0

    @model_validator(mode="after")
    def _container_needs_image(self) -> Database:
        if self.mode == "container" and not self.image:
            raise ValueError("a database with mode = 'container' needs an image")
        if not 1 <= self.port <= 65535:
            raise ValueError(f"port {self.port} is outside 1..65535")
        return self


class Codegen(Section):
    spec: str = "codegen/spec/clikd.openapi.yaml"
    openapi_endpoint: str = "http://127.0.0.1:3002/api/openapi.json"
    templates: str = "codegen/templates"
    timeout: PositiveFloat = 10.0


class Client(Section):
    output: str
    package: str
    version: str = "0.1.0"


class Clients(Section):
    swift: Client = Client(output="clients/swift", package="ClikdAPI")
    kotlin: Client = Client(output="clients/kotlin", package="dev.clikd.api")
    typescript: Client = Client(output="clients/typescript", package="@clikd/api")
    python: Client = Client(output="clients/python", package="clikd-api")


class Deployment(Section):
    namespace_prefix: str = "clikd"
    kube_context: str | None = None
    rollout_timeout: PositiveFloat = 300.0
    replicas: int = Field(default=2, ge=0)
    rollback_window: PositiveFloat = 3600.0
    kubeconfig: str | None = None  # default: $KUBECONFIG, then ~/.kube/config
    progress_deadline: int = Field(default=600, ge=1)  # the Deployments' progressDeadlineSeconds
    history_limit: int = Field(default=10, ge=1)  # releases kept in the cluster per environment
    lock_ttl: PositiveFloat = 120.0  # seconds a deploy lock lives without renewal (a dead run's lock expires)
    smoke_timeout: PositiveFloat = 10.0  # seconds per smoke request through the API server's service proxy


class Development(Section):
    auto_migrate: bool = True
    auto_seed: bool = True
    start_timeout: PositiveFloat = 180.0
    parallel_pulls: int = Field(default=4, ge=1, le=16)


REMOTE_TARGETS = ("staging", "production")


def _only(table: Iterable[str], allowed: tuple[str, ...], what: str) -> None:
    import difflib

    for key in table:
        if key not in allowed:
            near = difflib.get_close_matches(key, allowed, n=1, cutoff=0.5)
            tip = f"; did you mean {near[0]!r}?" if near else ""
            raise ValueError(f"{key!r} is not a known {what} (expected one of {', '.join(allowed)}){tip}")


class RemoteDatabase(Section):
    """A database of a remote environment, as the bastion host reaches it."""

    host: str
    port: PortNumber
    user: str = ""
    # The password never lives in a file: the name of the variable that holds it.
    password_env: str = ""

    @field_validator("port")
    @classmethod
    def _valid_port(cls, port: int) -> int:
        if not 1 <= port <= 65535:
            raise ValueError(f"port {port} is outside 1..65535")
        return port


class Environment(Section):
    """A remote target (staging, production): its cluster, its bastion and the databases behind it."""

    kube_context: str | None = None  # default: [deployment] kube_context
    kubeconfig: str | None = None  # default: [deployment] kubeconfig, then $KUBECONFIG, ~/.kube/config
    namespace: str = ""  # default: <deployment.namespace_prefix>-<environment>
    bastion: str = Field(default="", pattern=r"^$|^([^@:\s]+@)?[^@:\s]+(:\d{1,5})?$")  # user@host:port
    identity_file: str | None = None  # default: the SSH agent, then ~/.ssh/id_*
    known_hosts: str = "~/.ssh/known_hosts"  # the bastion's host key must be in it
    connect_timeout: PositiveFloat = 10.0
    # Names on the remote servers; {project} and {environment} are filled in.
    database_name: str = "{project}_{role}_{environment}"
    keyspace: str = "{project}_{environment}"
    key_prefix: str = "{project}_{environment}:"
    databases: dict[str, RemoteDatabase] = Field(default_factory=dict)

    @field_validator("databases")
    @classmethod
    def _known_kinds(cls, databases: dict[str, RemoteDatabase]) -> dict[str, RemoteDatabase]:
        _only(databases, ("postgres", "scylla", "keydb"), "database")
        return databases


class Settings(Section):
    project: Project = Project()
    git: Git = Git()
    registry: Registry = Registry()
    services: dict[str, Service] = Field(default_factory=dict)
    databases: dict[str, Database] = Field(default_factory=dict)
    codegen: Codegen = Codegen()
    clients: Clients = Clients()
    deployment: Deployment = Deployment()
    development: Development = Development()
    environments: dict[str, Environment] = Field(default_factory=dict)

    @field_validator("environments")
    @classmethod
    def _known_environments(cls, environments: dict[str, Environment]) -> dict[str, Environment]:
        _only(environments, REMOTE_TARGETS, "environment")
        return environments

    @model_validator(mode="after")
    def _dependencies_exist(self) -> Settings:
        known = set(self.services) | set(self.databases)
        for name, service in self.services.items():
            for dep in service.depends_on:
                if dep not in known:
                    raise ValueError(
                        f"services.{name}.depends_on names {dep!r}, which is neither a service nor a database"
                    )
        clash = set(self.services) & set(self.databases)
        if clash:
            raise ValueError(f"{sorted(clash)} are both a service and a database")
        dependency_order(self)  # refuses a cycle
        return self


def dependency_order(settings: Settings) -> list[list[str]]:
    """Services and databases in start order: each inner list can start in parallel.

    Raises ValueError naming a cycle when ``depends_on`` forms one.
    """
    from graphlib import CycleError, TopologicalSorter

    graph: dict[str, set[str]] = {name: set() for name in settings.databases}
    for name, service in settings.services.items():
        graph[name] = set(service.depends_on)
    sorter = TopologicalSorter(graph)
    try:
        sorter.prepare()
    except CycleError as exc:
        cycle = " -> ".join(exc.args[1])
        raise ValueError(f"depends_on forms a cycle: {cycle}") from None
    waves: list[list[str]] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready())
        waves.append(ready)
        sorter.done(*ready)
    return waves
