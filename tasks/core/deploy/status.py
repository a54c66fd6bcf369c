"""What runs where: per environment, the current revision, images, replicas, active slot, who and when;
and the preview environments (a branch's own namespace, with an expiry)."""

from __future__ import annotations

import datetime as dt

from tasks.core.deploy import lock, releases
from tasks.core.deploy.flow import Plan, Progress, deploy, make_plan, quiet
from tasks.core.deploy.kube import Kube
from tasks.core.deploy.model import (
    ChecksReport,
    EnvironmentStatus,
    PreviewResult,
    ServiceStatus,
    StatusReport,
)
from tasks.core.deploy.render import Layout, target_for
from tasks.core.deploy.slots import active_slot, scale_down_idle
from tasks.core.session import Session


def environment_status(
    session: Session, kube: Kube, environment: str, namespace: str | None = None
) -> EnvironmentStatus:
    settings = session.config.settings
    target = target_for(settings, Layout(session.root), environment, namespace=namespace)
    ns = target.namespace
    if kube.get("Namespace", ns) is None:
        return EnvironmentStatus(environment, ns, False, None, None, None, None, None, [], [])
    held = lock.read(kube, ns)
    busy = held is not None and not held.expired  # a deploy is running: leave its slots alone
    scaled_down = [] if busy else scale_down_idle(kube, settings, target)
    history = releases.history(kube, ns)
    current = next((r for r in history if r.status == "deployed"), None)
    slot = active_slot(kube, settings, target) if target.strategy == "blue-green" else None
    rows: list[ServiceStatus] = []
    deployments = kube.list("Deployment", ns, labels="app.kubernetes.io/managed-by=clikd")
    for dep in sorted(deployments, key=lambda d: d["metadata"]["name"]):
        labels = dep["metadata"].get("labels", {})
        status = dep.get("status", {})
        rows.append(
            ServiceStatus(
                service=labels.get("app.kubernetes.io/name", "?"),
                deployment=dep["metadata"]["name"],
                image=dep["spec"]["template"]["spec"]["containers"][0].get("image", ""),
                ready=int(status.get("readyReplicas", 0)),
                desired=int(dep["spec"].get("replicas", 0)),
                updated=int(status.get("updatedReplicas", 0)),
                available=int(status.get("availableReplicas", 0)),
            )
        )
    newest = history[0] if history else None
    shift = newest.shift if newest is not None else None
    live = None
    if newest is not None and shift is not None and newest.status in ("shifting", "held"):
        from tasks.core.deploy.canary.run import make_router

        router = make_router(
            kube, settings, target, stable=shift["stable"], canary=shift["canary"], kind=shift["router"]
        )
        live = {ref: [w.stable, w.canary] for ref, w in sorted(router.weights().items())}
    return EnvironmentStatus(
        environment=environment,
        namespace=ns,
        exists=True,
        revision=current.revision if current else None,
        active_slot=slot,
        deployed_at=current.time if current else None,
        deployed_by=current.user if current else None,
        commit=current.commit if current else None,
        services=rows,
        history=history[:5],
        lock_holder=held.holder if held and not held.expired else None,
        scaled_down=scaled_down,
        shift=shift,
        shift_revision=newest.revision if shift is not None and newest is not None else None,
        shift_weights=live,
    )


def status(session: Session, kube: Kube, environments: list[str]) -> StatusReport:
    return StatusReport(kube.ref.server, [environment_status(session, kube, e) for e in environments])


# ---------------------------------------------------------------------------- previews
def preview_namespace(session: Session) -> str:
    return session.ident.namespace(session.config.settings.deployment.namespace_prefix)


def preview_plan(session: Session, kube: Kube, *, tag: str | None) -> Plan:
    return make_plan(session, kube, "preview", tag=tag, namespace=preview_namespace(session))


def preview_deploy(
    session: Session, kube: Kube, plan: Plan, *, timeout: float | None, progress: Progress = quiet
) -> PreviewResult:
    hours = float(plan.target.ttl_hours or 72)
    expires = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=hours)).replace(microsecond=0)
    result = deploy(
        session,
        kube,
        plan,
        checks=ChecksReport([]),
        timeout=timeout,
        progress=progress,
        expires=expires,
    )
    return PreviewResult(plan.target.namespace, "deployed", expires=expires, deploy=result)


def preview_delete(session: Session, kube: Kube) -> PreviewResult:
    ns = preview_namespace(session)
    found = kube.get("Namespace", ns)
    if found is None:
        return PreviewResult(ns, "deleted", deleted=[])
    if found["metadata"].get("labels", {}).get("dev.clikd/preview") != "true":
        from tasks.core.errors import UsageError

        raise UsageError(f"namespace {ns} is not a clikd preview; refusing to delete it")
    kube.delete("Namespace", ns)
    return PreviewResult(ns, "deleted", deleted=[ns])


def preview_sweep(kube: Kube, *, now: dt.datetime | None = None) -> PreviewResult:
    """Delete every preview namespace past its ``dev.clikd/expires-at``."""
    moment = (now or dt.datetime.now(dt.UTC)).timestamp()
    gone: list[str] = []
    for ns in kube.list("Namespace", labels="dev.clikd/preview=true"):
        labels = ns["metadata"].get("labels", {})
        try:
            expires = int(labels.get("dev.clikd/expires-at", "0"))
        except ValueError:
            continue
        if expires and expires <= moment and not ns["metadata"].get("deletionTimestamp"):
            kube.delete("Namespace", ns["metadata"]["name"])
            gone.append(ns["metadata"]["name"])
    return PreviewResult("*", "swept", deleted=gone)
