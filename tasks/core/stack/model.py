"""Results and progress events of the stack operations (plain dataclasses, rendered elsewhere)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from tasks.core.dev.model import DevMode
from tasks.core.stack.grpc_health import GrpcHealth

if TYPE_CHECKING:
    from tasks.core.insight.model import InspectReport

# Labels on every container, network and volume clikd creates.
LABEL_PROJECT = "dev.clikd.project"
LABEL_BRANCH = "dev.clikd.branch"
LABEL_SERVICE = "dev.clikd.service"
LABEL_HASH = "dev.clikd.config-hash"
LABEL_ROLE = "dev.clikd.role"  # "service" or "database"
LABEL_VOLUME = "dev.clikd.volume"
LABEL_DEV = "dev.clikd.dev"  # the service runs from source under env.dev (value: the source folder)
LABEL_DEPENDS = "dev.clikd.depends-on"  # comma-separated, so stop can order without the config


# ----------------------------------------------------------------------------- events


@dataclass(frozen=True)
class StepEvent:
    """A phase of the operation begins or ends (``login``, ``pull``, ``ports``, ``network``...)."""

    step: str
    message: str
    done: bool = False


@dataclass(frozen=True)
class PullEvent:
    """Progress of one image pull; ``total`` is None when the engine does not say."""

    image: str
    status: str
    current: int = 0
    total: int | None = None
    done: bool = False
    error: str | None = None


ComponentPhase = Literal[
    "pending", "creating", "starting", "waiting", "healthy", "failed", "skipped", "kept", "provisioning"
]


@dataclass(frozen=True)
class ComponentEvent:
    """A service or database changed phase."""

    name: str
    phase: ComponentPhase
    detail: str = ""
    seconds: float | None = None


Event = StepEvent | PullEvent | ComponentEvent
EventSink = Callable[[Event], None]


def ignore_events(_event: Event) -> None:
    """The default sink: nobody is watching."""


# ----------------------------------------------------------------------------- plan


ActionKind = Literal["create", "recreate", "start", "keep", "remove", "check"]


@dataclass(frozen=True)
class Action:
    """What converge does to one component and why."""

    name: str
    kind: ActionKind
    reason: str


# ----------------------------------------------------------------------------- start


@dataclass
class ComponentResult:
    name: str
    role: str  # service | database
    action: str
    healthy: bool
    seconds: float  # from the start of the run until healthy (or failed)
    url: str = ""
    host_ports: dict[str, int] = field(default_factory=dict)
    probe_ms: float | None = None
    error: str = ""
    grpc: GrpcHealth | None = None  # its gRPC health check, for a service with a grpc port


@dataclass
class StartResult:
    branch: str
    project: str
    network: str
    changed: bool
    seconds: float
    actions: list[Action]
    components: list[ComponentResult]
    pulled: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Lines already shown as progress while the start ran (databases created, migrations, seeds):
    # kept for --json, not repeated under the summary.
    progress: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------- stop


@dataclass
class StopResult:
    branch: str
    stopped: list[str]
    removed_containers: list[str]
    removed_network: str | None
    removed_volumes: list[str]
    dropped: list[str]  # branch data removed from external stores (databases, keyspace, keys)
    kept_volumes: list[str]
    seconds: float
    notes: list[str] = field(default_factory=list)
    removed_images: list[str] = field(default_factory=list)  # dev images of the branch (purge)


# ----------------------------------------------------------------------------- status


@dataclass
class ServiceStatus:
    name: str
    container: str
    state: str  # running, exited, missing...
    health: str  # healthy, unhealthy, unknown
    host_port: int | None
    url: str
    probe_ms: float | None
    uptime_s: float | None
    memory_bytes: int | None
    cpu_percent: float | None
    detail: str = ""
    grpc: GrpcHealth | None = None  # its gRPC health check, for a service with a grpc port


@dataclass
class DatabaseStatus:
    name: str
    kind: str
    mode: str
    state: str
    health: str
    probe_ms: float | None
    size: str
    connection: str  # password hidden
    detail: str = ""


@dataclass
class StoreMigrations:
    """env.status: where one store's migrations stand (from the same reading as db.status)."""

    store: str  # auth | main | scylla | keydb
    target: str  # database, keyspace or key prefix
    state: str  # up to date | N pending | drift | failed | not created | unreachable
    applied: int = 0
    pending: int = 0
    drift: int = 0  # applied files whose checksum changed, or applied versions with no file
    failed: int = 0
    error: str = ""


@dataclass
class DatabaseActivity:
    """env.status: how busy one database is, from the server's own request counter."""

    database: str  # auth, main (Postgres databases), keydb, scylla
    kind: str
    counter: str  # what is counted, e.g. "xact_commit + xact_rollback"
    total: int | None  # the counter now
    per_second: float | None  # its rate over the sample (or since the previous --watch frame)
    window_s: float | None = None
    scope: str = ""  # "database", "server" (the whole server) or "shared server"
    error: str = ""


@dataclass
class GitStatus:
    branch: str
    commit: str | None
    subject: str | None
    age_s: float | None


@dataclass
class EngineStatus:
    reachable: bool
    version: str
    api_version: str
    host: str
    containers_running: int


@dataclass
class StatusSnapshot:
    branch: str
    project: str
    network: str
    git: GitStatus
    engine: EngineStatus
    services: list[ServiceStatus]
    databases: list[DatabaseStatus]
    hints: list[str]
    taken_at: str
    seconds: float
    clients: dict[str, str] = field(default_factory=dict)  # language -> current | stale | not generated
    migrations: list[StoreMigrations] = field(default_factory=list)
    activity: list[DatabaseActivity] = field(default_factory=list)
    dev: list[DevMode] = field(default_factory=list)  # services running from source (env.dev)
    grpc: str = ""  # "all serving", "not serving: NAME (why), ...", or "" with no gRPC port
    inspect: InspectReport | None = None  # --inspect: db.inspect's report of every store


# ----------------------------------------------------------------------------- list / prune


@dataclass
class Environment:
    branch: str
    state: str  # running, partial, stopped, data-only
    containers: int
    running: int
    volumes: list[str]
    volume_bytes: int | None
    ports: list[int]
    branch_exists: bool | None = None


@dataclass
class EnvironmentList:
    project: str
    environments: list[Environment]


@dataclass
class PruneResult:
    candidates: list[Environment]
    removed: list[StopResult]
    kept: list[str]
