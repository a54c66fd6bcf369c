"""Waiting for Deployments by kubectl's own rules, and saying why one is stuck.

:func:`deployment_state` is ``kubectl rollout status``'s DeploymentStatusViewer
(kubernetes/kubectl pkg/polymorphichelpers/rollout_status.go), checked in the same order:
generation observed, ProgressDeadlineExceeded (failed at once), updated, old, available.
Two clocks run: the Deployment's own ``progressDeadlineSeconds`` (the controller's verdict) and our
overall timeout; a failure says which one fired.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from tasks.core.deploy.kube import Kube, Obj
from tasks.core.deploy.model import Blocked, PodProblem, RolloutState
from tasks.core.errors import Unhealthy

REVISION = "deployment.kubernetes.io/revision"
Progress = Callable[[str], None]


def deployment_state(dep: Obj, *, min_generation: int = 0) -> RolloutState:
    """kubectl's verdict on one Deployment object."""
    name = dep["metadata"]["name"]
    spec = dep.get("spec", {})
    status = dep.get("status", {})
    generation = int(dep["metadata"].get("generation", 0))
    observed = int(status.get("observedGeneration", 0))
    if observed < max(generation, min_generation):
        return RolloutState(name, False, f"waiting for deployment {name!r} spec update to be observed")
    for cond in status.get("conditions", []):
        if cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
            return RolloutState(
                name, False, f"deployment {name!r} exceeded its progress deadline", failed=True
            )
    want = int(spec.get("replicas", 1))
    updated = int(status.get("updatedReplicas", 0))
    replicas = int(status.get("replicas", 0))
    available = int(status.get("availableReplicas", 0))
    if updated < want:
        return RolloutState(name, False, f"{updated} out of {want} new replicas have been updated")
    if replicas > updated:
        return RolloutState(name, False, f"{replicas - updated} old replicas are pending termination")
    if available < updated:
        return RolloutState(name, False, f"{available} of {updated} updated replicas are available")
    return RolloutState(name, True, f"deployment {name!r} successfully rolled out")


def wait(
    kube: Kube,
    namespace: str,
    generations: dict[str, int],
    *,
    timeout: float,
    progress: Progress | None = None,
    interval: float = 0.5,
) -> list[RolloutState]:
    """Wait for every Deployment in ``generations`` (name -> generation from the apply response).

    Raises Unhealthy naming the first blocking Deployment, with its new pods' reasons and recent events.
    """
    deadline = time.monotonic() + timeout
    pending = dict(generations)
    done: dict[str, RolloutState] = {}
    last: dict[str, str] = {}
    last_beat = time.monotonic()
    while True:
        for name, generation in list(pending.items()):
            dep = kube.get("Deployment", name, namespace)
            if dep is None:
                raise Unhealthy(f"deployment {name!r} disappeared from {namespace} while rolling out")
            state = deployment_state(dep, min_generation=generation)
            if state.failed:
                raise blocked_error(kube, namespace, dep, state.message, "progress-deadline")
            if state.done:
                done[name] = state
                del pending[name]
                if progress:
                    progress(state.message)
            elif progress and last.get(name) != state.message:
                progress(f"{name}: {state.message}")
            last[name] = state.message
        if not pending:
            return [done[n] for n in generations]
        now = time.monotonic()
        if now >= deadline:
            name = sorted(pending)[0]
            dep = kube.get("Deployment", name, namespace) or {"metadata": {"name": name}}
            raise blocked_error(
                kube, namespace, dep, f"timed out after {timeout:.0f}s: {last.get(name, '')}", "timeout"
            )
        if progress and now - last_beat > 15:
            progress(f"still waiting for {', '.join(sorted(pending))} ({deadline - now:.0f}s left)")
            last_beat = now
        time.sleep(interval)


def blocked_error(kube: Kube, namespace: str, dep: Obj, message: str, fired: str) -> Unhealthy:
    report = diagnose(kube, namespace, dep, message, fired)
    return blocked_to_error(report)


def blocked_to_error(report: Blocked) -> Unhealthy:
    if report.fired == "progress-deadline":
        clock = (
            "the Deployment's own progress deadline (progressDeadlineSeconds) fired: "
            "the controller gave up on it before our timeout"
        )
    else:
        clock = "our timeout (--timeout) fired before the Deployment's progress deadline"
    details = [clock]
    for pod in report.pods:
        details.append(f"pod {pod.pod} ({pod.phase}): {'; '.join(pod.reasons) or 'no reason reported'}")
    details += [f"event: {e}" for e in report.events]
    reasons = sorted({r.split(" (")[0].split(": ", 1)[-1] for p in report.pods for r in p.reasons})
    why = f" — {', '.join(reasons)}" if reasons else ""
    error = Unhealthy(
        f"rollout of deployment/{report.deployment} in {report.namespace} is stuck: {report.message}{why}",
        hint=(
            "fix the image or configuration and deploy again, or roll back with `inv deploy.rollback`; "
            "the pods and events above say what the cluster saw"
        ),
        details=details,
    )
    error.blocked = report  # type: ignore[attr-defined]
    return error


def diagnose(kube: Kube, namespace: str, dep: Obj, message: str, fired: str) -> Blocked:
    """The blocking Deployment's new ReplicaSet, its pods' reasons, and recent events."""
    name = dep["metadata"]["name"]
    revision = dep["metadata"].get("annotations", {}).get(REVISION)
    selector = dep.get("spec", {}).get("selector", {}).get("matchLabels", {})
    labels = ",".join(f"{k}={v}" for k, v in selector.items())
    sets = [
        rs
        for rs in kube.list("ReplicaSet", namespace, labels=labels)
        if any(o.get("name") == name for o in rs["metadata"].get("ownerReferences", []))
    ]
    new = [rs for rs in sets if rs["metadata"].get("annotations", {}).get(REVISION) == revision]
    pods: list[PodProblem] = []
    involved = {name}
    if new:
        rs = new[0]
        involved.add(rs["metadata"]["name"])
        rs_labels = rs["spec"]["selector"].get("matchLabels", {})
        for pod in kube.list("Pod", namespace, labels=",".join(f"{k}={v}" for k, v in rs_labels.items())):
            problem = pod_problem(pod)
            involved.add(problem.pod)
            if problem.reasons or problem.phase != "Running":
                pods.append(problem)
    events = recent_events(kube, namespace, involved)
    return Blocked(
        deployment=name,
        namespace=namespace,
        message=message,
        fired="progress-deadline" if fired == "progress-deadline" else "timeout",
        pods=pods[:5],
        events=events,
    )


def pod_problem(pod: Obj) -> PodProblem:
    status = pod.get("status", {})
    reasons: list[str] = []
    for cs in status.get("initContainerStatuses", []) + status.get("containerStatuses", []):
        state = cs.get("state", {})
        for key in ("waiting", "terminated"):
            info = state.get(key)
            if info and info.get("reason") and info.get("reason") != "Completed":
                text = f"{cs['name']}: {info['reason']}"
                if info.get("message"):
                    text += f" ({info['message']})"
                reasons.append(text)
        if not state.get("waiting") and not cs.get("ready", False) and not state.get("terminated"):
            reasons.append(f"{cs['name']}: not ready")
    for cond in status.get("conditions", []):
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
            reasons.append(f"{cond.get('reason', 'Unschedulable')}: {cond.get('message', '')}".strip())
    return PodProblem(pod["metadata"]["name"], str(status.get("phase", "Unknown")), reasons)


def recent_events(kube: Kube, namespace: str, names: set[str], limit: int = 8) -> list[str]:
    def when(event: dict[str, Any]) -> str:
        return str(
            event.get("lastTimestamp")
            or event.get("eventTime")
            or event["metadata"].get("creationTimestamp", "")
        )

    events = [e for e in kube.list("Event", namespace) if e.get("involvedObject", {}).get("name") in names]
    events.sort(key=when)
    lines = []
    for e in events[-limit:]:
        obj = e.get("involvedObject", {})
        count = f" (x{e['count']})" if e.get("count", 1) > 1 else ""
        lines.append(
            f"{e.get('type', 'Normal')} {e.get('reason', '')} {obj.get('kind', '')}/{obj.get('name', '')}: "
            f"{e.get('message', '').strip()}{count}"
        )
    return lines
