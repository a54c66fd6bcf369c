"""What the deploy core hands back: plain dataclasses, rendered by views.py or as JSON."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

Strategy = Literal["rolling", "blue-green"]
SLOTS = ("blue", "green")


@dataclass(frozen=True)
class Target:
    """One environment on one cluster: where the manifests go and how they roll out."""

    environment: str  # staging | production | preview
    namespace: str
    strategy: Strategy
    replicas: int
    host: str
    progress_deadline: int
    migrations: dict[str, Any] | None = None
    ttl_hours: float | None = None


@dataclass(frozen=True)
class ReleaseInput:
    """What is being deployed: the code (commit, branch) and an image per service."""

    branch: str
    commit: str
    tag: str
    images: dict[str, str]
    # Services built from their Dockerfiles for this release: service -> the tag pushed
    # (``host/namespace/service:tag``); their ``images`` entry is then the pushed digest.
    built: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BuiltImage:
    """One service image built from its Dockerfile and pushed."""

    service: str
    reference: str  # host/namespace/service:tag, as pushed
    image: str  # host/namespace/service@sha256:..., what the Deployments run
    digest: str
    build_seconds: float
    push_seconds: float


class CheckState(StrEnum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class Check:
    name: str
    state: CheckState
    detail: str
    hint: str | None = None
    checked: str = ""  # what the check looked at (a path, a socket, a database)
    seconds: float = 0.0  # how long it took


@dataclass(frozen=True)
class ChecksReport:
    checks: list[Check]
    forced: bool = False

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.state is CheckState.FAIL]

    @property
    def warned(self) -> list[Check]:
        return [c for c in self.checks if c.state is CheckState.WARN]


@dataclass(frozen=True)
class RolloutState:
    """kubectl's verdict on one Deployment at one moment."""

    name: str
    done: bool
    message: str
    failed: bool = False  # ProgressDeadlineExceeded


@dataclass(frozen=True)
class PodProblem:
    pod: str
    phase: str
    reasons: list[str]  # e.g. "api: ImagePullBackOff (Back-off pulling image ...)", "Unschedulable: ..."


@dataclass(frozen=True)
class Blocked:
    """Why a rollout did not finish: the blocking Deployment, its new pods and recent events."""

    deployment: str
    namespace: str
    message: str
    fired: Literal["progress-deadline", "timeout"]
    pods: list[PodProblem]
    events: list[str]


@dataclass(frozen=True)
class SmokeResult:
    service: str
    via: str  # the Service the request went through
    ok: bool
    status: int
    detail: str


@dataclass
class Release:
    """One entry of the in-cluster history (a ConfigMap labelled dev.clikd.release)."""

    revision: int
    environment: str
    namespace: str
    status: str  # deployed | failed | superseded | rolled-back | shifting | held | aborted (canary)
    images: dict[str, str]
    commit: str
    branch: str
    tag: str
    user: str
    time: dt.datetime
    strategy: Strategy
    slot: str | None = None
    checks: list[Check] = field(default_factory=list)
    forced: bool = False
    note: str = ""
    rollback_of: int | None = None
    contract: str | None = None  # blue/green: "completed" or "failed: <why>" of the contract migrations Job
    built: dict[str, str] = field(default_factory=dict)  # service -> tag pushed (images holds the digest)
    tests: str = ""  # clikd test at the commit: "green: ...", "skipped (...): REASON", "forced (...)"
    # canary: the shift as it happens (deploy/canary/state.py's Shift.to_dict), kept so deploy.status,
    # --resume and deploy.rollback see it from any machine
    shift: dict[str, Any] | None = None


@dataclass(frozen=True)
class ServiceStatus:
    service: str
    deployment: str
    image: str
    ready: int
    desired: int
    updated: int
    available: int


@dataclass(frozen=True)
class EnvironmentStatus:
    environment: str
    namespace: str
    exists: bool
    revision: int | None
    active_slot: str | None
    deployed_at: dt.datetime | None
    deployed_by: str | None
    commit: str | None
    services: list[ServiceStatus]
    history: list[Release]
    lock_holder: str | None = None
    scaled_down: list[str] = field(default_factory=list)  # idle-slot Deployments scaled to 0 just now
    # The newest release's canary shift (Release.shift), with its revision and, while it is not
    # over, the weights read from the cluster now: route/Service -> [stable, canary]
    shift: dict[str, Any] | None = None
    shift_revision: int | None = None
    shift_weights: dict[str, list[int]] | None = None


@dataclass(frozen=True)
class StatusReport:
    cluster: str
    environments: list[EnvironmentStatus]


@dataclass(frozen=True)
class DeployResult:
    environment: str
    namespace: str
    release: Release
    applied: list[str]
    smoke: list[SmokeResult]
    switched: str | None = None  # blue/green: "blue -> green"
    took_over_lock: str | None = None
    seconds: float = 0.0
    scaled_down: list[str] = field(default_factory=list)  # idle-slot Deployments past the rollback window
    scaled_up: list[str] = field(default_factory=list)  # rollback: the slot's Deployments brought back
    built: list[BuiltImage] = field(default_factory=list)  # images built and pushed for this deploy
    contract_details: list[str] = field(default_factory=list)  # a failed contract Job: pods, logs, events


@dataclass(frozen=True)
class PreviewResult:
    namespace: str
    action: Literal["deployed", "deleted", "swept"]
    deleted: list[str] = field(default_factory=list)
    expires: dt.datetime | None = None
    deploy: DeployResult | None = None
