"""env.status and env.logs against a remote target: Deployments, pods and pod logs from the Kubernetes API.

Status: one row per Deployment (blue/green slots each get their own row, with the slot and whether the
public Services select it) and one per pod, with a health word and a hint for what is wrong.

Logs: every container of every pod of the chosen services, read through the API server's
``pods/<pod>/log`` endpoint with ``timestamps=true``, parsed into the same :class:`LogLine` as local
Docker logs (same level parsing, same :class:`Filters`). A line's ``service`` is the Deployment's service
(``api``); when a service runs more than one pod (replicas, or both blue/green slots) it becomes
``api/<pod suffix>`` (the random tail of the pod name, e.g. ``api/x2k4q``), so lines of different pods
stay apart without the long ReplicaSet hash; a pod with several containers adds ``:<container>``.
"""

from __future__ import annotations

import datetime as dt
import heapq
import math
import queue
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from tasks.core.deploy.kube import ApiError, Kube, Obj
from tasks.core.errors import ClikdError, Unavailable, Unhealthy, UsageError
from tasks.core.stack.logs import Filters, LogLine, _Follower, _lines_of, split_line

if TYPE_CHECKING:
    from tasks.core.config.schema import Settings

LABEL_SERVICE = "app.kubernetes.io/name"
LABEL_SLOT = "dev.clikd/slot"
HEALTHY, PROGRESSING, DEGRADED, SCALED_TO_ZERO = "healthy", "progressing", "degraded", "scaled-to-zero"
# Container reasons that mean the pod will not get better by waiting.
BAD_REASONS = {
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
    "ErrImageNeverPull",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
    "OOMKilled",
    "Error",
    "ContainerCannotRun",
    "Evicted",
}


# ---------------------------------------------------------------------------- model
@dataclass(frozen=True)
class PodStatus:
    name: str
    service: str  # the owning Deployment's service ("" for a pod of no Deployment, e.g. a Job's)
    deployment: str | None
    slot: str | None
    phase: str  # Pending | Running | Succeeded | Failed | Unknown (or Terminating)
    ready: bool
    ready_containers: int
    containers: int
    restarts: int
    node: str | None
    age_s: float | None
    reason: str | None  # the last waiting/terminated reason: CrashLoopBackOff, ImagePullBackOff, OOMKilled...
    message: str | None


@dataclass(frozen=True)
class DeploymentStatus:
    name: str
    service: str
    slot: str | None  # blue | green in production, None for a rolling environment
    active: bool | None  # blue/green: whether the public Services select this slot; None when unknown
    images: list[str]
    desired: int
    ready: int
    available: int
    updated: int
    age_s: float | None
    health: str  # healthy | progressing | degraded | scaled-to-zero
    hint: str | None
    pods: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ClusterStatus:
    environment: str
    namespace: str
    server: str
    active_slot: str | None
    deployments: list[DeploymentStatus]
    pods: list[PodStatus]
    hints: list[str]
    taken_at: str

    @property
    def healthy(self) -> bool:
        return all(d.health in (HEALTHY, SCALED_TO_ZERO) for d in self.deployments)


# ---------------------------------------------------------------------------- helpers
def _age(meta: Obj, now: float) -> float | None:
    created = meta.get("creationTimestamp")
    if not created:
        return None
    try:
        when = dt.datetime.fromisoformat(str(created).replace("Z", "+00:00"))
    except ValueError:
        return None
    return max(0.0, now - when.timestamp())


def _matches(selector: Obj, labels: dict[str, str]) -> bool:
    """A Deployment's ``spec.selector`` (matchLabels and matchExpressions) against a pod's labels."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key", ""), expr.get("operator", ""), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return bool(selector.get("matchLabels") or selector.get("matchExpressions"))


def _service_of(dep: Obj) -> str:
    labels = dep["metadata"].get("labels") or {}
    return str(labels.get(LABEL_SERVICE) or dep["metadata"]["name"])


def _owner(pod: Obj, deployments: list[Obj]) -> Obj | None:
    owners = pod["metadata"].get("ownerReferences") or []
    if owners and not any(o.get("kind") == "ReplicaSet" for o in owners):
        return None  # a Job's pod (migrations) may carry a service's labels: not the Deployment's
    labels = pod["metadata"].get("labels") or {}
    for dep in deployments:
        if _matches(dep["spec"].get("selector") or {}, labels):
            return dep
    return None


def _pod_reason(pod: Obj) -> tuple[str | None, str | None]:
    """The most telling reason of a pod: a container's waiting, terminated or last-terminated reason."""
    status = pod.get("status") or {}
    found: tuple[str | None, str | None] = (None, None)
    for cs in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        state = cs.get("state") or {}
        last = (cs.get("lastState") or {}).get("terminated") or {}
        for part in (state.get("waiting"), state.get("terminated"), last):
            if part and part.get("reason") and part.get("reason") != "Completed":
                reason, message = str(part["reason"]), part.get("message")
                if reason in BAD_REASONS:
                    return reason, message
                if found[0] is None:
                    found = (reason, message)
    if status.get("reason"):  # pod-level: Evicted, NodeLost...
        return str(status["reason"]), status.get("message")
    return found


def pod_status(pod: Obj, deployments: list[Obj], now: float) -> PodStatus:
    meta, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
    owner = _owner(pod, deployments)
    statuses = status.get("containerStatuses") or []
    conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    reason, message = _pod_reason(pod)
    phase = str(status.get("phase") or "Unknown")
    if meta.get("deletionTimestamp"):
        phase = "Terminating"
    labels = meta.get("labels") or {}
    return PodStatus(
        name=meta["name"],
        service=_service_of(owner) if owner else str(labels.get(LABEL_SERVICE, "")),
        deployment=owner["metadata"]["name"] if owner else None,
        slot=labels.get(LABEL_SLOT),
        phase=phase,
        ready=conditions.get("Ready") == "True",
        ready_containers=sum(1 for cs in statuses if cs.get("ready")),
        containers=len(spec.get("containers") or []),
        restarts=sum(int(cs.get("restartCount", 0)) for cs in statuses),
        node=spec.get("nodeName"),
        age_s=_age(meta, now),
        reason=reason,
        message=message,
    )


def _hint_for(reason: str, service: str, images: list[str], environment: str) -> str:
    if reason in ("ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull"):
        return (
            f"the image {', '.join(images)} cannot be pulled: check that the tag was built and pushed, "
            f"or roll back (inv deploy.rollback --env {environment})"
        )
    if reason in ("CrashLoopBackOff", "Error", "RunContainerError", "ContainerCannotRun"):
        return f"{service} keeps crashing: read its logs (inv env.logs --service {service})"
    if reason == "OOMKilled":
        return f"{service} ran out of memory: raise its memory limit or find the leak (inv env.logs)"
    if reason in ("CreateContainerConfigError", "CreateContainerError"):
        return (
            f"{service}'s container cannot be created: check its ConfigMap and Secret clikd-{service}-secrets"
        )
    return f"{service}'s pods report {reason}"


def _health(dep: Obj, pods: list[PodStatus], active: bool | None, environment: str) -> tuple[str, str | None]:
    spec, status = dep.get("spec") or {}, dep.get("status") or {}
    desired = int(spec.get("replicas", 1))
    service = _service_of(dep)
    images = [c.get("image", "") for c in spec["template"]["spec"].get("containers") or []]
    if desired == 0:
        live_pods = [p for p in pods if p.phase != "Terminating"]
        if active is False:
            return SCALED_TO_ZERO, None  # the idle slot, scaled down after the rollback window
        hint = f"{dep['metadata']['name']} is scaled to 0: nothing serves {service}"
        return SCALED_TO_ZERO, None if live_pods else hint
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    bad = next((p.reason for p in pods if p.reason in BAD_REASONS), None)
    if bad:
        return DEGRADED, _hint_for(bad, service, images, environment)
    progressing = conditions.get("Progressing") or {}
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        return DEGRADED, (
            f"the rollout of {dep['metadata']['name']} stalled past its progress deadline "
            f"({status.get('availableReplicas', 0)}/{desired} available): see its pods below"
        )
    ready, available = int(status.get("readyReplicas", 0)), int(status.get("availableReplicas", 0))
    updated = int(status.get("updatedReplicas", 0))
    generation = int(dep["metadata"].get("generation", 0))
    observed = int(status.get("observedGeneration", 0))
    if observed < generation or updated < desired or ready < desired or available < desired:
        return PROGRESSING, None
    if (conditions.get("Available") or {}).get("status") == "False":
        return DEGRADED, f"{dep['metadata']['name']}: {conditions['Available'].get('message', 'unavailable')}"
    return HEALTHY, None


def _missing(kube: Kube, namespace: str, environment: str | None) -> Unavailable:
    if environment is None:
        return Unavailable(
            f"nothing is deployed there yet: namespace {namespace} does not exist on {kube.ref.server}",
            hint="deploy first (inv deploy.staging, deploy.production), or check the namespace and context",
        )
    deploy = "deploy.preview" if environment == "preview" else f"deploy.{environment}"
    return Unavailable(
        f"nothing is deployed to {environment} yet: "
        f"namespace {namespace} does not exist on {kube.ref.server}",
        hint=f"deploy it with inv {deploy}, or check [environments.{environment}] namespace / kube_context",
    )


def _active_slot(
    kube: Kube, namespace: str, environment: str, settings: Settings, hints: list[str]
) -> str | None:
    """The slot the public Services select, by deploy's own rule (slots.active_slot)."""
    from tasks.core.deploy.model import Target
    from tasks.core.deploy.slots import active_slot

    target = Target(environment, namespace, "blue-green", 0, "", 0)
    try:
        return active_slot(kube, settings, target)
    except Unhealthy as exc:
        hints.append(f"{exc.message}; {exc.hint}" if exc.hint else exc.message)
        return None


# ---------------------------------------------------------------------------- status
def status(kube: Kube, namespace: str, *, environment: str, settings: Settings) -> ClusterStatus:
    """Deployments and pods of ``namespace``; Unavailable when it does not exist (nothing deployed)."""
    if kube.get("Namespace", namespace) is None:
        raise _missing(kube, namespace, environment)
    now = time.time()
    deployments = sorted(kube.list("Deployment", namespace), key=lambda d: d["metadata"]["name"])
    raw_pods = sorted(kube.list("Pod", namespace), key=lambda p: p["metadata"]["name"])
    pods = [pod_status(p, deployments, now) for p in raw_pods]
    hints: list[str] = []
    slotted = any((d["metadata"].get("labels") or {}).get(LABEL_SLOT) for d in deployments)
    active = _active_slot(kube, namespace, environment, settings, hints) if slotted else None
    rows: list[DeploymentStatus] = []
    for dep in deployments:
        meta, spec, st = dep["metadata"], dep.get("spec") or {}, dep.get("status") or {}
        slot = (meta.get("labels") or {}).get(LABEL_SLOT)
        is_active = None if slot is None or active is None else slot == active
        mine = [p for p in pods if p.deployment == meta["name"]]
        health, hint = _health(dep, mine, is_active, environment)
        rows.append(
            DeploymentStatus(
                name=meta["name"],
                service=_service_of(dep),
                slot=slot,
                active=is_active,
                images=[c.get("image", "") for c in spec["template"]["spec"].get("containers") or []],
                desired=int(spec.get("replicas", 1)),
                ready=int(st.get("readyReplicas", 0)),
                available=int(st.get("availableReplicas", 0)),
                updated=int(st.get("updatedReplicas", 0)),
                age_s=_age(meta, now),
                health=health,
                hint=hint,
                pods=[p.name for p in mine],
            )
        )
        if hint:
            hints.append(f"{meta['name']}: {hint}")
    if not deployments:
        deploy = "deploy.preview" if environment == "preview" else f"deploy.{environment}"
        hints.append(f"namespace {namespace} has no Deployments: inv {deploy}")
    taken = dt.datetime.fromtimestamp(now, dt.UTC).isoformat(timespec="seconds")
    return ClusterStatus(environment, namespace, kube.ref.server, active, rows, pods, hints, taken)


# ---------------------------------------------------------------------------- logs
@dataclass(frozen=True)
class LogTarget:
    """One container of one pod whose log is read; ``label`` is what its lines carry as service."""

    service: str
    pod: str
    container: str
    label: str


def _started(pod: Obj, container: str) -> bool:
    """Whether the container has run at all (else the API answers 'waiting to start')."""
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        if cs.get("name") == container:
            state = cs.get("state") or {}
            return bool(state.get("running") or state.get("terminated") or (cs.get("lastState") or {}))
    return False


def targets(kube: Kube, namespace: str, filters: Filters) -> list[LogTarget]:
    """The containers to read, of the Deployments' pods, restricted to ``filters.services``.

    An unknown service is a UsageError; a missing namespace Unavailable (nothing deployed)."""
    if kube.get("Namespace", namespace) is None:
        raise _missing(kube, namespace, None)
    deployments = kube.list("Deployment", namespace)
    known = {_service_of(d) for d in deployments}
    unknown = sorted(filters.services - known)
    if unknown:
        raise UsageError(
            f"namespace {namespace} runs no service {', '.join(unknown)}",
            hint=f"its services: {', '.join(sorted(known)) or 'none'}",
        )
    chosen = filters.services or known
    by_service: dict[str, list[Obj]] = {}
    for pod in kube.list("Pod", namespace):
        owner = _owner(pod, deployments)
        if owner is None or pod["metadata"].get("deletionTimestamp"):
            continue
        service = _service_of(owner)
        if service in chosen:
            by_service.setdefault(service, []).append(pod)
    found: list[LogTarget] = []
    for service, pods in sorted(by_service.items()):
        for pod in sorted(pods, key=lambda p: p["metadata"]["name"]):
            name = pod["metadata"]["name"]
            containers = [c["name"] for c in pod["spec"].get("containers") or []]
            for container in containers:
                if not _started(pod, container):
                    continue
                label = service
                if len(pods) > 1:
                    label += "/" + name.rsplit("-", 1)[-1]
                if len(containers) > 1:
                    label += f":{container}"
                found.append(LogTarget(service, name, container, label))
    return found


_TS = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$")


def normalize_ts(ts: str) -> str:
    """RFC 3339 as ``...THH:MM:SS.nnnnnnnnnZ`` (UTC, nine digits), so timestamps sort as text.

    The kubelet trims trailing zeros of the fraction (RFC3339Nano); Docker does not."""
    match = _TS.match(ts)
    if not match:
        return ts
    head, frac, zone = match.group(1), (match.group(2) or "")[:9].ljust(9, "0"), match.group(3)
    if zone != "Z":
        when = dt.datetime.fromisoformat(f"{head}{zone}").astimezone(dt.UTC)
        head = when.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{head}.{frac}Z"


def _parse(text: str, label: str) -> LogLine:
    line = split_line(text, label)
    return LogLine(normalize_ts(line.ts), line.service, line.level, line.text) if line.ts else line


def _log_query(
    target: LogTarget, *, since: float | None, tail: int | None, follow: bool
) -> list[tuple[str, Any]]:
    query: list[tuple[str, Any]] = [("container", target.container), ("timestamps", "true")]
    if since is not None:
        query.append(("sinceSeconds", str(max(1, math.ceil(time.time() - since)))))
    if tail is not None and tail >= 0:
        query.append(("tailLines", str(tail)))
    if follow:
        query.append(("follow", "true"))
    return query


def _log_path(namespace: str, pod: str) -> str:
    return f"/api/v1/namespaces/{quote(namespace)}/pods/{quote(pod)}/log"


def _unavailable(failures: list[tuple[LogTarget, ClikdError]], namespace: str) -> Unavailable:
    first = failures[0][1]
    return Unavailable(
        f"the API server gives no logs for the pods in {namespace}: {first.message}",
        hint="the nodes' kubelets must be reachable from the API server (kubectl logs fails the same way)",
        details=[f"{t.pod}/{t.container}: {e.message}" for t, e in failures],
    )


def _after(since: float | None) -> str:
    if since is None:
        return ""
    return dt.datetime.fromtimestamp(since, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f000Z")


def collect(
    kube: Kube, namespace: str, *, filters: Filters, since: float | None, tail: int | None
) -> list[LogLine]:
    """Every matching line of the chosen services' pods (the last ``tail`` per container), by time.

    With a level or grep filter the whole log is read and ``tail`` applies to the matching lines (as
    env.logs does locally); a container whose log the API refuses is left out, and if all are refused
    the API's answer is raised as Unavailable."""
    from tasks.core.stack import workers

    chosen = targets(kube, namespace, filters)
    filtering = filters.level is not None or filters.grep is not None
    floor = _after(since)

    def fetch(target: LogTarget) -> list[LogLine] | ClikdError:
        query = _log_query(target, since=since, tail=None if filtering else tail, follow=False)
        try:
            raw: str = kube.request(
                "GET", _log_path(namespace, target.pod), query=query, raw=True, timeout=30
            )
        except ApiError as exc:
            return exc
        lines = [_parse(text, target.label) for text in raw.splitlines() if text]
        kept = [ln for ln in lines if ln.ts >= floor and filters.keep(ln)]
        return kept[-tail:] if tail is not None and tail >= 0 else kept

    got = workers.run_all({f"{t.pod}/{t.container}": partial(fetch, t) for t in chosen}, limit=8)
    by_key = {f"{t.pod}/{t.container}": t for t in chosen}
    failures = [(by_key[k], v) for k, v in got.items() if isinstance(v, ClikdError)]
    if chosen and len(failures) == len(chosen):
        raise _unavailable(failures, namespace)
    return list(heapq.merge(*[sorted(v) for v in got.values() if isinstance(v, list) and v]))


POD_CHECK_S = 2.0  # how often follow looks for deleted pods


class _PodFollower(_Follower):
    """stack.logs' follower (re-ordering window, batches in time order), fed by pod log streams."""

    def __init__(self, kube: Kube, namespace: str, filters: Filters, stop: threading.Event) -> None:
        self.kube = kube
        self.namespace = namespace
        self.filters = filters
        self.stop = stop
        self.inbox: queue.SimpleQueue[LogLine] = queue.SimpleQueue()
        self.lock = threading.Lock()
        self.open: dict[str, list[Any]] = {}  # pod -> its open log streams
        self.failures: list[tuple[LogTarget, ClikdError]] = []
        self.floor = ""

    def pump_pod(self, target: LogTarget, since: float | None, tail: int | None) -> None:
        query = _log_query(target, since=since, tail=tail, follow=True)
        try:
            response = self.kube.stream(_log_path(self.namespace, target.pod), query=query)
        except ClikdError as exc:
            with self.lock:
                self.failures.append((target, exc))
            return
        with self.lock:
            self.open.setdefault(target.pod, []).append(response)
            if self.stop.is_set():  # stopped while connecting
                _close(response)
        try:
            for text in _lines_of(response.stream(64 * 1024, decode_content=True)):
                if self.stop.is_set():
                    break
                if not text:
                    continue
                line = _parse(text, target.label)
                if line.ts >= self.floor and self.filters.keep(line):
                    self.inbox.put(line)
        except Exception as exc:  # the stream was shut down (stop) or the server hung up: this pod ends
            _ = exc
        finally:
            _close(response)

    def close_all(self) -> None:
        with self.lock:
            for responses in self.open.values():
                for response in responses:
                    _close(response)

    def close_gone(self) -> None:
        """End the streams of pods that were deleted. A kubelet ends them itself when the container
        stops, but not one that is unreachable (a lost node), nor kwok's."""
        try:
            alive = {
                p["metadata"]["name"]
                for p in self.kube.list("Pod", self.namespace)
                if not p["metadata"].get("deletionTimestamp")
            }
        except ClikdError:
            return  # the API server hiccuped: look again next time
        with self.lock:
            for pod, responses in self.open.items():
                if pod not in alive:
                    for response in responses:
                        _close(response)


def _close(response: Any) -> None:
    for step in ("shutdown", "release_conn"):
        try:
            getattr(response, step)()
        except Exception as exc:  # already closed
            _ = exc


def follow(
    kube: Kube,
    namespace: str,
    *,
    filters: Filters,
    since: float | None,
    tail: int | None,
    on_lines: Callable[[list[LogLine]], None],
    stop: threading.Event | None = None,
) -> None:
    """Stream matching lines (``follow=true``, one thread per pod container) to ``on_lines`` in time
    order, in batches, until ``stop`` is set or every stream has ended (pods deleted). Pods created
    later (a rollout) are not picked up: run it again. Unavailable if the API refuses every stream."""
    from tasks.core.stack import workers

    chosen = targets(kube, namespace, filters)
    event = stop or threading.Event()
    follower = _PodFollower(kube, namespace, filters, event)
    follower.floor = _after(since)
    jobs = [
        workers.start(f"logs-{t.pod}-{t.container}", partial(follower.pump_pod, t, since, tail))
        for t in chosen
    ]

    def watch() -> None:  # every stream ended: let the deliverer flush what is queued, then stop
        last = time.monotonic()
        for job in jobs:
            while not job.done.wait(0.2):
                if event.is_set():
                    return
                if time.monotonic() - last >= POD_CHECK_S:
                    follower.close_gone()
                    last = time.monotonic()
        while not follower.inbox.empty() and not event.is_set():
            time.sleep(0.05)
        event.set()

    workers.start("logs-watch", watch)
    try:
        follower.deliver(on_lines)
    finally:
        event.set()
        follower.close_all()
    if chosen and len(follower.failures) == len(chosen):
        raise _unavailable(follower.failures, namespace)
