"""The typed shape of clikd.toml.

Every section forbids unknown keys, so a typo is reported (with the nearest valid key) instead of
being silently ignored. Sections are frozen msgspec Structs: :func:`msgspec.convert` checks types
and the bounds in ``Meta`` (the loader does this), while ``__post_init__`` checks that span fields
and runs on every construction.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Annotated, Literal

import msgspec
from msgspec import Meta, field

PortNumber = Annotated[int, Meta(ge=1, le=65535)]
PositiveFloat = Annotated[float, Meta(gt=0)]
# `\Z` rather than `$`: msgspec matches with Python's `re.search`, whose `$` also accepts a
# trailing newline, and these patterns must match the whole value. The loader shows the
# description, not the pattern, when a value does not match.
ProjectName = Annotated[
    str,
    Meta(
        pattern=r"^[a-z][a-z0-9]{0,15}\Z",
        description="a lowercase letter, then up to 15 lowercase letters or digits",
    ),
]
Bastion = Annotated[
    str,
    Meta(
        pattern=r"^\Z|^([^@:\s]+@)?[^@:\s]+(:\d{1,5})?\Z",
        description="'[user@]host[:port]' (or nothing)",
    ),
]


class Invalid(ValueError):
    """A failed cross-field check, with the key it concerns relative to the section that checks it.

    msgspec turns it into a ValidationError with this exception as the cause; the loader reads
    ``key`` from there to name the line in the file.
    """

    def __init__(self, message: str, *key: str) -> None:
        super().__init__(message)
        self.key = key


class Section(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """A table of clikd.toml: unknown keys are refused and nothing changes once loaded.

    msgspec passes these options on to subclasses, but type checkers read ``frozen`` and
    ``kw_only`` per class (``dataclass_transform``), so each section repeats them.
    """


class Project(Section, frozen=True, kw_only=True):
    name: ProjectName = "clikd"
    description: str = ""
    # Where the services' source lives (the platform's monorepo), relative to clikd.toml; env.dev
    # reads each [services.NAME.dev] source below it.
    monorepo_root: str = ""


class Git(Section, frozen=True, kw_only=True):
    main_branch: str = "main"
    remote: str = "origin"


class Registry(Section, frozen=True, kw_only=True):
    host: str = "ghcr.io"
    namespace: str = "clikd-org"
    username: str | None = None
    # Where the password/token comes from, in order: this environment variable, `gh auth token`,
    # then the Docker credential store. The value itself never lives in a config file.
    token_env: str = "GITHUB_TOKEN"
    use_gh_cli: bool = True


class Health(Section, frozen=True, kw_only=True):
    kind: Literal["http", "tcp", "postgres", "redis", "cql", "none"] = "http"
    path: str = "/health"
    port: str = "http"  # which of the service's named ports to probe
    interval: PositiveFloat = 0.25  # seconds between probes
    timeout: PositiveFloat = 90.0  # seconds until the service counts as failed
    # The port named "grpc" must also answer grpc.health.v1 Check with SERVING; false for a gRPC
    # server that has no health service.
    grpc: bool = True


class Build(Section, frozen=True, kw_only=True):
    context: str
    dockerfile: str = "Dockerfile"


PullPolicy = Literal["always", "missing", "never"]

DevAction = Literal["sync", "sync+restart", "sync+exec", "restart", "rebuild"]
DEV_ACTIONS: tuple[str, ...] = ("sync", "sync+restart", "sync+exec", "restart", "rebuild")


class DevRule(Section, frozen=True, kw_only=True):
    """What a change to matching paths does in env.dev (compose watch's vocabulary)."""

    paths: list[str]  # globs relative to the source folder: "src/**", "Cargo.toml"
    action: DevAction = "sync"
    exec: list[str] | None = None  # the command of a sync+exec rule, run in the container

    def __post_init__(self) -> None:
        if not self.paths:
            raise Invalid("a rule needs at least one path glob", "paths")
        if self.action == "sync+exec" and not self.exec:
            raise Invalid("a sync+exec rule needs exec = [command, args...]", "exec")
        if self.exec is not None and self.action != "sync+exec":
            raise Invalid(f"exec only applies to action = 'sync+exec', not {self.action!r}", "exec")


class Dev(Section, frozen=True, kw_only=True):
    """How env.dev runs a service from its source (every key has a default)."""

    source: str = ""  # folder below [project] monorepo_root; default: the service's name
    dockerfile: str = "Dockerfile"  # relative to the source folder
    target: str = ""  # the Dockerfile stage of the dev image; default: the last stage
    command: list[str] | None = None  # the dev command; default: the image's CMD
    to: str = ""  # where the source goes in the container; default: the image's WorkingDir
    watch: list[str] = field(default_factory=lambda: ["."])  # roots below the source folder
    ignore: list[str] = field(default_factory=list)  # globs on top of .git/ and editor temp files
    # First match wins; default: the Dockerfile rebuilds, everything else syncs.
    rules: list[DevRule] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.to and not self.to.startswith("/"):
            raise Invalid(f"the destination {self.to!r} must be an absolute path in the container", "to")
        for root in self.watch:
            if root.startswith("/") or ".." in root.split("/"):
                raise Invalid(f"watch root {root!r} must stay inside the source folder", "watch")


CONTRACT_CHECKS = ("not_a_server_error", "response_schema_conformance", "status_code_conformance")
CONTRACT_PHASES = ("examples", "coverage", "fuzzing", "stateful")


class ServiceTest(Section, frozen=True, kw_only=True):
    """What `clikd test` runs for a service: contract tests from the spec, and the service's own suite."""

    # Contract tests (schemathesis): the path on the service's port where it serves its OpenAPI
    # document; "" = the service serves none and gets no contract tests.
    openapi: str = ""
    port: str = "http"  # which of the service's named ports the contract tests call
    spec: str = ""  # the document the service is tested against; default: [codegen] spec
    operations: list[str] = field(default_factory=list)  # operationIds to test; default: every one
    checks: list[str] = field(default_factory=lambda: list(CONTRACT_CHECKS))
    phases: list[str] = field(default_factory=lambda: list(CONTRACT_PHASES))
    examples: Annotated[int, Meta(ge=1, le=10000)] = 20  # generated cases per operation (--examples)
    seed: Annotated[int, Meta(ge=0)] = 1  # Hypothesis seed, so a rerun sends the same requests (--seed)
    # The service's own suite: an argv, run where `where` says with the branch's URLs in its environment.
    command: list[str] | None = None
    name: str = "suite"  # what the suite is called in the results table and the JUnit report
    where: Literal["container", "host"] = "container"
    env: dict[str, str] = field(default_factory=dict)  # may use the ${...} placeholders of environment
    cwd: str = ""  # host suites: the folder to run in, relative to clikd.toml (default: beside it)
    timeout: PositiveFloat = 600.0  # seconds the suite (or the contract run) may take

    def __post_init__(self) -> None:
        if self.openapi and not self.openapi.startswith("/"):
            raise Invalid(
                f"openapi = {self.openapi!r} must be a path on the service, e.g. /api/openapi.json", "openapi"
            )
        _only(
            self.checks,
            (*CONTRACT_CHECKS, "content_type_conformance", "response_headers_conformance"),
            "check",
            "checks",
        )
        _only(self.phases, CONTRACT_PHASES, "phase", "phases")
        if self.command is not None and not self.command:
            raise Invalid("command needs at least the program to run", "command")
        if self.name == "contract":
            raise Invalid("'contract' is the name of the contract tests; give the suite another name", "name")


class Service(Section, frozen=True, kw_only=True):
    image: str
    ports: dict[str, PortNumber] = field(default_factory=dict)
    depends_on: list[str] = field(default_factory=list)
    health: Health = Health()
    environment: dict[str, str] = field(default_factory=dict)
    volumes: dict[str, str] = field(default_factory=dict)  # volume name -> path in the container
    command: list[str] | None = None
    pull: PullPolicy = "always"
    enabled: bool = True
    build: Build | None = None
    dev: Dev | None = None  # env.dev: run from source with live update
    test: ServiceTest | None = None  # clikd test: contract tests and the service's own suite


class Database(Section, frozen=True, kw_only=True):
    # s3: an S3-compatible object store; user/password are its access key and secret key.
    kind: Literal["postgres", "scylla", "keydb", "s3"]
    # "container": clikd runs one per branch; "external": a server that is already running,
    # shared by branches and separated by database/keyspace/prefix names.
    mode: Literal["container", "external"] = "container"
    image: str = ""
    host: str = "127.0.0.1"
    port: int = 0  # required in practice: 0 (unset) fails the check below
    user: str = ""
    password: str = ""
    volume_path: str = ""
    environment: dict[str, str] = field(default_factory=dict)
    command: list[str] | None = None
    pull: PullPolicy = "missing"
    timeout: PositiveFloat = 90.0

    def __post_init__(self) -> None:
        if self.mode == "container" and not self.image:
            raise Invalid("a database with mode = 'container' needs an image")
        if not 1 <= self.port <= 65535:
            raise Invalid(f"port {self.port} is outside 1..65535", "port")
        if self.kind == "s3" and not (self.user and self.password):
            raise Invalid(
                "an s3 store needs user (its access key) and password (its secret key)",
                "user" if not self.user else "password",
            )


class Codegen(Section, frozen=True, kw_only=True):
    spec: str = "codegen/spec/clikd.openapi.yaml"
    openapi_endpoint: str = "http://127.0.0.1:3002/api/openapi.json"
    templates: str = "codegen/templates"
    timeout: PositiveFloat = 10.0


class Client(Section, frozen=True, kw_only=True):
    output: str
    package: str
    version: str = "0.1.0"


class Clients(Section, frozen=True, kw_only=True):
    swift: Client = Client(output="clients/swift", package="ClikdAPI")
    kotlin: Client = Client(output="clients/kotlin", package="dev.clikd.api")
    typescript: Client = Client(output="clients/typescript", package="@clikd/api")
    python: Client = Client(output="clients/python", package="clikd-api")


DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
# A duration: seconds as a number, or Prometheus's spelling ("30s", "2m", "1m30s", "500ms").
Duration = Annotated[str | float, Meta(description="seconds, or a duration such as '30s', '2m', '1m30s'")]


def duration_seconds(value: str | float) -> float:
    """Seconds of a duration: a number of seconds, or "30s", "2m", "1m30s", "500ms", "1h".

    ValueError naming the value otherwise (a negative number, a unit missing or unknown).
    """
    if isinstance(value, int | float):
        if not value >= 0:  # also NaN
            raise ValueError(f"{value!r} is not a duration (it must be 0 or more seconds)")
        return float(value)
    text = value.strip()
    parts = DURATION.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        raise ValueError(
            f"{value!r} is not a duration (a number of seconds, or e.g. '30s', '2m', '1m30s', '500ms')"
        )
    return sum(float(number) * DURATION_UNITS[unit] for number, unit in parts)


# The placeholders a check's query may hold; clikd fills them in per service and step.
QUERY_PLACEHOLDERS = ("service", "slot", "namespace", "interval")
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class AnalysisCheck(Section, frozen=True, kw_only=True):
    """One query of a canary analysis and its bound: the step passes while value <= max (or >= min)."""

    name: str
    query: str
    max: float | None = None
    min: float | None = None

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise Invalid("a check needs a name", "name")
        if not self.query.strip():
            raise Invalid(f"check {self.name!r} has an empty query", "query")
        if (self.max is None) == (self.min is None):
            which = "both" if self.max is not None else "neither"
            raise Invalid(
                f"check {self.name!r} sets {which} of max and min: set exactly one "
                "(max = 0.5: the value must stay at or below it; min = 0.99: at or above it)",
                "max" if self.max is not None else "name",
            )
        for found in PLACEHOLDER.findall(self.query):
            if found not in QUERY_PLACEHOLDERS:
                import difflib

                near = difflib.get_close_matches(found, QUERY_PLACEHOLDERS, n=1, cutoff=0.5)
                tip = f"; did you mean {{{near[0]}}}?" if near else ""
                raise Invalid(
                    f"check {self.name!r}: {{{found}}} is not a placeholder (known: "
                    f"{', '.join('{' + p + '}' for p in QUERY_PLACEHOLDERS)}){tip}",
                    "query",
                )


class Analysis(Section, frozen=True, kw_only=True):
    """The checks run against Prometheus at every canary step."""

    interval: Duration = "1m"  # between two rounds of checks, and the range of rate() in the queries
    failure_limit: Annotated[int, Meta(ge=1)] = 1  # failed checks in a shift that abort it
    # None: Flagger's two (request success rate >= 99 %, p99 latency <= 500 ms), see
    # tasks/core/deploy/canary/analysis.py
    checks: list[AnalysisCheck] | None = None

    def __post_init__(self) -> None:
        try:
            seconds = duration_seconds(self.interval)
        except ValueError as exc:
            raise Invalid(str(exc), "interval") from None
        if seconds < 1:
            raise Invalid(f"interval {self.interval!r} is under a second", "interval")
        if self.checks is not None and not self.checks:
            raise Invalid(
                "checks = [] leaves nothing to analyse: remove the key for the default checks", "checks"
            )
        if self.checks:
            names = [check.name for check in self.checks]
            twice = sorted({name for name in names if names.count(name) > 1})
            if twice:
                raise Invalid(f"check names must differ: {', '.join(twice)} appear twice", "checks")

    @property
    def interval_seconds(self) -> float:
        return duration_seconds(self.interval)


class CanaryStep(Section, frozen=True, kw_only=True):
    """The canary's share of the traffic, in percent, held for ``pause`` while the analysis runs."""

    weight: Annotated[int, Meta(ge=1, le=100)]
    pause: Duration = "1m"

    def __post_init__(self) -> None:
        try:
            duration_seconds(self.pause)
        except ValueError as exc:
            raise Invalid(str(exc), "pause") from None

    @property
    def pause_seconds(self) -> float:
        return duration_seconds(self.pause)


def _default_steps() -> list[CanaryStep]:
    return [CanaryStep(weight=w) for w in (10, 25, 50, 100)]


_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


class Rollout(Section, frozen=True, kw_only=True):
    """How deploy.production moves traffic to the new slot ([deployment.production])."""

    # bluegreen: all traffic at once when the new slot is healthy; canary: in steps, analysed
    strategy: Literal["bluegreen", "canary"] = "bluegreen"
    steps: list[CanaryStep] = field(default_factory=_default_steps)
    analysis: Analysis = Analysis()
    # gateway: HTTPRoute/GRPCRoute backendRef weights; replicas: a replica ratio behind one Service
    # (coarse, per connection); auto: gateway where the cluster has the Gateway API CRDs
    router: Literal["auto", "gateway", "replicas"] = "auto"
    # The Gateway the gateway router's HTTPRoutes/GRPCRoutes attach to: "NAME" (in the environment's
    # namespace) or "NAMESPACE/NAME"; a Gateway named "clikd" beside the services by default
    gateway: str = "clikd"

    def __post_init__(self) -> None:
        namespace, _, name = self.gateway.rpartition("/")
        for part in (name, *([namespace] if namespace or "/" in self.gateway else [])):
            if not _DNS_LABEL.fullmatch(part):
                raise Invalid(
                    f"gateway {self.gateway!r} is not NAME or NAMESPACE/NAME (lowercase letters, digits "
                    "and '-', at most 63 characters, starting and ending with a letter or digit)",
                    "gateway",
                )
        if not self.steps:
            raise Invalid("steps = [] has no step: the last one must have weight = 100", "steps")
        weights = [step.weight for step in self.steps]
        for i in range(1, len(weights)):
            if weights[i] <= weights[i - 1]:
                raise Invalid(
                    f"step weights must increase strictly: step {i + 1} has {weights[i]} after "
                    f"{weights[i - 1]} (weights: {', '.join(map(str, weights))})",
                    "steps",
                )
        if weights[-1] != 100:
            raise Invalid(
                f"the last step's weight is {weights[-1]}: it must be 100, where the new slot takes all "
                f"traffic (weights: {', '.join(map(str, weights))})",
                "steps",
            )


class Deployment(Section, frozen=True, kw_only=True):
    namespace_prefix: str = "clikd"
    kube_context: str | None = None
    rollout_timeout: PositiveFloat = 300.0
    replicas: Annotated[int, Meta(ge=0)] = 2
    rollback_window: PositiveFloat = 3600.0
    kubeconfig: str | None = None  # default: $KUBECONFIG, then ~/.kube/config
    progress_deadline: Annotated[int, Meta(ge=1)] = 600  # the Deployments' progressDeadlineSeconds
    history_limit: Annotated[int, Meta(ge=1)] = 10  # releases kept in the cluster per environment
    lock_ttl: PositiveFloat = 120.0  # seconds a deploy lock lives without renewal (a dead run's lock expires)
    smoke_timeout: PositiveFloat = 10.0  # seconds per smoke request through the API server's service proxy
    # The Prometheus HTTP API the canary analysis queries (http://host:9090, maybe with a path prefix);
    # reached through the environment's bastion when one is configured
    prometheus_url: str = ""
    production: Rollout = Rollout()  # [deployment.production]: blue/green (default) or canary

    def __post_init__(self) -> None:
        if self.prometheus_url:
            from urllib.parse import urlsplit

            parts = urlsplit(self.prometheus_url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise Invalid(
                    f"prometheus_url {self.prometheus_url!r} is not an http(s)://host[:port][/path] URL",
                    "prometheus_url",
                )
        if self.production.strategy == "canary" and not self.prometheus_url:
            raise Invalid(
                'strategy = "canary" analyses every step against Prometheus: set [deployment] '
                'prometheus_url = "http://prometheus.example:9090"',
                "production",
                "strategy",
            )


class Development(Section, frozen=True, kw_only=True):
    auto_migrate: bool = True
    auto_seed: bool = True
    start_timeout: PositiveFloat = 180.0
    parallel_pulls: Annotated[int, Meta(ge=1, le=16)] = 4
    # db.reset keeps a copy of each Postgres template per branch for the next reset (see
    # tasks/core/db/standby.py): a rename instead of a ~0.2 s clone, for one database's disk space.
    reset_standby: bool = True
    # false turns `env.start --dev` off for this checkout (env.dev still works when asked by name).
    hot_reload: bool = True


REMOTE_TARGETS = ("staging", "production")


def _only(table: Iterable[str], allowed: tuple[str, ...], what: str, section: str) -> None:
    """Refuse a key of ``table`` outside ``allowed``, suggesting the nearest allowed one."""
    import difflib

    for key in table:
        if key not in allowed:
            near = difflib.get_close_matches(key, allowed, n=1, cutoff=0.5)
            tip = f"; did you mean {near[0]!r}?" if near else ""
            raise Invalid(
                f"{key!r} is not a known {what} (expected one of {', '.join(allowed)}){tip}", section, key
            )


class RemoteDatabase(Section, frozen=True, kw_only=True):
    """A database of a remote environment, as the bastion host reaches it."""

    host: str
    port: PortNumber
    user: str = ""
    # The password never lives in a file: the name of the variable that holds it.
    password_env: str = ""


class Environment(Section, frozen=True, kw_only=True):
    """A remote target (staging, production): its cluster, its bastion and the databases behind it."""

    kube_context: str | None = None  # default: [deployment] kube_context
    kubeconfig: str | None = None  # default: [deployment] kubeconfig, then $KUBECONFIG, ~/.kube/config
    namespace: str = ""  # default: <deployment.namespace_prefix>-<environment>
    bastion: Bastion = ""  # user@host:port
    identity_file: str | None = None  # default: the SSH agent, then ~/.ssh/id_*
    known_hosts: str = "~/.ssh/known_hosts"  # the bastion's host key must be in it
    connect_timeout: PositiveFloat = 10.0
    # Names on the remote servers; {project} and {environment} are filled in.
    database_name: str = "{project}_{role}_{environment}"
    keyspace: str = "{project}_{environment}"
    key_prefix: str = "{project}_{environment}:"
    bucket: str = "{project}-{environment}"  # the object store's bucket, when databases.s3 is set
    # postgres, scylla and keydb; s3 (optional): the object store, user = access key, the secret key
    # from password_env
    databases: dict[str, RemoteDatabase] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _only(self.databases, ("postgres", "scylla", "keydb", "s3"), "database", "databases")


class Settings(Section, frozen=True, kw_only=True):
    project: Project = Project()
    git: Git = Git()
    registry: Registry = Registry()
    services: dict[str, Service] = field(default_factory=dict)
    databases: dict[str, Database] = field(default_factory=dict)
    codegen: Codegen = Codegen()
    clients: Clients = Clients()
    deployment: Deployment = Deployment()
    development: Development = Development()
    environments: dict[str, Environment] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _only(self.environments, REMOTE_TARGETS, "environment", "environments")
        known = set(self.services) | set(self.databases)
        for name, service in self.services.items():
            for dep in service.depends_on:
                if dep not in known:
                    message = f"names {dep!r}, which is neither a service nor a database"
                    raise Invalid(message, "services", name, "depends_on")
        clash = set(self.services) & set(self.databases)
        if clash:
            raise Invalid(f"{sorted(clash)} are both a service and a database")
        dependency_order(self)  # refuses a cycle


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
