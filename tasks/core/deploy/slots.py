"""Blue/green slots: which one the public Services select, the switch, idle marks and scaling down.

A slot is one Deployment per service (``<svc>-blue``, ``<svc>-green``). After a switch the old slot
is marked idle (an annotation with the time); env.status and deploy.status scale idle slots to 0 once
the rollback window has passed, and a rollback scales them back up.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from tasks.core.config.schema import Settings
from tasks.core.deploy import rollout
from tasks.core.deploy.kube import Kube, Obj
from tasks.core.deploy.model import SLOTS, Release, Target
from tasks.core.deploy.render import Renderer, services
from tasks.core.errors import Unhealthy

Progress = Callable[[str], None]


def active_slot(kube: Kube, settings: Settings, target: Target) -> str | None:
    """The slot the public Services select; None before the first production deploy."""
    seen: set[str] = set()
    for name in services(settings):
        svc = kube.get("Service", name, target.namespace)
        if svc is not None:
            slot = svc.get("spec", {}).get("selector", {}).get("dev.clikd/slot")
            if slot:
                seen.add(slot)
    if len(seen) > 1:
        raise Unhealthy(
            f"the public Services in {target.namespace} select different slots: {sorted(seen)}",
            hint="an earlier switch was interrupted; run deploy.rollback --to REV or deploy.production again",
        )
    return next(iter(seen), None)


IDLE_SINCE = "dev.clikd/idle-since"


def slot_deployments(kube: Kube, settings: Settings, namespace: str, slot: str) -> list[Obj]:
    found = []
    for name in services(settings):
        dep = kube.get("Deployment", f"{name}-{slot}", namespace)
        if dep is not None:
            found.append(dep)
    return found


def mark_idle(kube: Kube, settings: Settings, namespace: str, live: str, idle: str | None) -> None:
    """Record the switch: ``idle``'s Deployments idle since now, ``live``'s not idle."""
    now = dt.datetime.now(dt.UTC).isoformat()
    for dep in slot_deployments(kube, settings, namespace, live):
        kube.patch(
            "Deployment",
            dep["metadata"]["name"],
            namespace,
            {"metadata": {"annotations": {IDLE_SINCE: None}}},
        )
    if idle:
        for dep in slot_deployments(kube, settings, namespace, idle):
            kube.patch(
                "Deployment",
                dep["metadata"]["name"],
                namespace,
                {"metadata": {"annotations": {IDLE_SINCE: now}}},
            )


def scale_down_idle(kube: Kube, settings: Settings, target: Target) -> list[str]:
    """Scale to 0 the idle slot's Deployments idle for longer than the rollback window; their names."""
    if target.strategy != "blue-green" or kube.get("Namespace", target.namespace) is None:
        return []
    live = active_slot(kube, settings, target)
    window = dt.timedelta(seconds=settings.deployment.rollback_window)
    now = dt.datetime.now(dt.UTC)
    scaled: list[str] = []
    for slot in SLOTS:
        if slot == live:
            continue
        for dep in slot_deployments(kube, settings, target.namespace, slot):
            since = dep["metadata"].get("annotations", {}).get(IDLE_SINCE)
            if not since or int(dep["spec"].get("replicas", 0)) == 0:
                continue
            if now - dt.datetime.fromisoformat(since) > window:
                name = dep["metadata"]["name"]
                kube.patch("Deployment", name, target.namespace, {"spec": {"replicas": 0}})
                scaled.append(name)
    return scaled


def switch(kube: Kube, renderer: Renderer, slot: str) -> list[str]:
    """Point every public Service at ``slot`` (one server-side apply each)."""
    refs = []
    for obj in renderer.service_objects(slot=slot, preview=False):
        kube.apply(obj)
        refs.append(f"Service/{obj['metadata']['name']} -> {slot}")
    return refs


def slot_serves(kube: Kube, target: Target, release: Release, *, settle: float, progress: Progress) -> bool:
    """True when ``release``'s slot still runs exactly its images, rolled out (or scaled to 0).

    A slot that runs the images but has a pod not ready just now (a restart, a probe that timed out
    on a busy node) is given ``settle`` seconds to become available again before it is given up on.
    """
    unsettled: dict[str, int] = {}
    for service, image in release.images.items():
        dep = kube.get("Deployment", f"{service}-{release.slot}", target.namespace)
        if dep is None:
            return False
        containers = dep["spec"]["template"]["spec"]["containers"]
        if containers[0].get("image") != image:
            return False
        if int(dep["spec"].get("replicas", 0)) == 0:
            continue  # scaled down after the rollback window: the rollback scales it back up
        state = rollout.deployment_state(dep)
        if state.failed:
            return False
        if not state.done or int(dep.get("status", {}).get("availableReplicas", 0)) < 1:
            unsettled[dep["metadata"]["name"]] = int(dep["metadata"].get("generation", 0))
    if unsettled:
        progress(
            f"slot {release.slot} runs revision {release.revision} but is not ready "
            f"({', '.join(sorted(unsettled))}); waiting up to {settle:.0f}s"
        )
        try:
            rollout.wait(kube, target.namespace, unsettled, timeout=settle, progress=progress)
        except Unhealthy as exc:
            progress(f"slot {release.slot} did not become ready: {exc.message}")
            return False
    return True


def scale_up(
    kube: Kube, settings: Settings, target: Target, slot: str, *, timeout: float, progress: Progress
) -> list[str]:
    """Bring a scaled-down slot back to the environment's replicas and wait for it; the names."""
    generations: dict[str, int] = {}
    for dep in slot_deployments(kube, settings, target.namespace, slot):
        if int(dep["spec"].get("replicas", 0)) == 0:
            name = dep["metadata"]["name"]
            result = kube.patch("Deployment", name, target.namespace, {"spec": {"replicas": target.replicas}})
            generations[name] = int(result["metadata"].get("generation", 0))
    if generations:
        progress(
            f"slot {slot} was scaled down; scaling it back up to {target.replicas}: {', '.join(generations)}"
        )
        rollout.wait(kube, target.namespace, generations, timeout=timeout, progress=progress)
    return list(generations)
