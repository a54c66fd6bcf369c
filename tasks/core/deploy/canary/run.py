"""deploy.production with ``strategy = "canary"``: fill the idle slot as blue/green does, shift traffic
to it step by step under analysis (shift.py), then go live as blue/green does; and the two ways back
into a shift that stopped: ``--resume`` and deploy.rollback.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tasks.core.config.schema import Settings
from tasks.core.deploy import bluegreen, releases, slots
from tasks.core.deploy.canary.access import prometheus as open_prometheus
from tasks.core.deploy.canary.analysis import Analysis
from tasks.core.deploy.canary.router import GatewayRef, GatewayRouter, ReplicaRouter, detect
from tasks.core.deploy.canary.shift import Driver, Watcher
from tasks.core.deploy.canary.state import IN_PROGRESS, Abort, Shift, StepRecord
from tasks.core.deploy.kube import Kube, Obj
from tasks.core.deploy.lock import DeployLock
from tasks.core.deploy.model import DeployResult, Release, ReleaseInput, Target
from tasks.core.deploy.render import Layout, Renderer, services, target_for
from tasks.core.deploy.steps import smoke, smoke_or_fail
from tasks.core.errors import UsageError
from tasks.core.session import Session

Progress = Callable[[str], None]


@dataclass(frozen=True)
class CanaryPlan:
    """What the shift will do, shown before the prompt."""

    router: str  # gateway | replicas
    describe: list[str]  # the router's own words: how exact the shares are
    steps: list[tuple[int, float]]  # (weight %, pause seconds)
    interval: float
    failure_limit: int
    checks: list[str]  # "name: query (max|min bound)"
    prometheus: str
    services: list[str] = field(default_factory=list)


def make_router(
    kube: Kube, settings: Settings, target: Target, *, stable: str, canary: str, kind: str | None = None
) -> GatewayRouter | ReplicaRouter:
    """The router of ``[deployment.production] router`` on this cluster, or of a recorded ``kind``."""
    rollout = settings.deployment.production
    ports = {name: dict(svc.ports) for name, svc in services(settings).items()}
    if (kind or detect(kube, rollout.router)) == "gateway":
        gateway = GatewayRef.parse(rollout.gateway)
        return GatewayRouter(kube, target.namespace, ports, stable=stable, canary=canary, gateway=gateway)
    return ReplicaRouter(kube, target.namespace, ports, stable=stable, canary=canary, total=target.replicas)


def plan(kube: Kube, settings: Settings, target: Target, *, stable: str | None, canary: str) -> CanaryPlan:
    rollout = settings.deployment.production
    analysis = Analysis.from_settings(rollout.analysis)
    router = make_router(kube, settings, target, stable=stable or "(none)", canary=canary)
    steps = [(s.weight, s.pause_seconds) for s in rollout.steps]
    checks = [f"{c.name}: {c.bound} {c.threshold:g}, {c.query}" for c in analysis.checks]
    return CanaryPlan(
        router=router.kind,
        describe=router.describe([w for w, _ in steps]),
        steps=steps,
        interval=analysis.interval,
        failure_limit=analysis.failure_limit,
        checks=checks,
        prometheus=settings.deployment.prometheus_url,
        services=list(services(settings)),
    )


def in_progress(kube: Kube, namespace: str) -> Release | None:
    """The newest release whose shift is not over (shifting or held), if any."""
    return next((r for r in releases.history(kube, namespace) if r.status in IN_PROGRESS), None)


def refuse_new_deploy(kube: Kube, namespace: str) -> None:
    """A deploy may not start beside a shift that is not over: it would fill the canary's slot."""
    open_shift = in_progress(kube, namespace)
    if open_shift is not None and open_shift.shift is not None:
        where = Shift.from_dict(open_shift.shift).describe()
        raise UsageError(
            f"revision {open_shift.revision} is mid-shift in {namespace} ({where})",
            hint="inv deploy.production --resume continues it; inv deploy.rollback aborts it",
        )


def new_shift(settings: Settings, router: str, *, stable: str, canary: str) -> Shift:
    steps = [StepRecord(s.weight, s.pause_seconds) for s in settings.deployment.production.steps]
    return Shift(stable=stable, canary=canary, router=router, steps=steps)


def drive(
    session: Session,
    kube: Kube,
    release: Release,
    shift: Shift,
    *,
    lock: DeployLock,
    progress: Progress,
    watcher: Watcher,
    ask: Callable[[Shift], str] | None,
) -> Shift:
    """Run ``shift`` from its recorded step through Prometheus (directly or via the bastion)."""
    settings = session.config.settings
    target = target_for(settings, Layout(session.root), release.environment)
    router = make_router(kube, settings, target, stable=shift.stable, canary=shift.canary, kind=shift.router)
    with open_prometheus(settings, release.environment, note=progress) as client:
        driver = Driver(
            kube=kube,
            release=release,
            shift=shift,
            router=router,
            analysis=Analysis.from_settings(settings.deployment.production.analysis),
            prometheus=client,
            services=list(services(settings)),
            progress=progress,
            watcher=watcher,
            lost=lambda: lock.lost,
            ask=ask,
        )
        return driver.run()


def deploy(
    session: Session,
    kube: Kube,
    *,
    target: Target,
    renderer: Renderer,
    namespace_obj: Obj,
    release: Release,
    slot: str | None,
    old: str | None,
    lock: DeployLock,
    limit: float,
    progress: Progress,
    watcher: Watcher,
    ask: Callable[[Shift], str] | None,
) -> DeployResult:
    settings = session.config.settings
    refuse_new_deploy(kube, target.namespace)
    prepared = bluegreen.prepare(
        kube,
        settings=settings,
        target=target,
        renderer=renderer,
        namespace_obj=namespace_obj,
        release=release,
        slot=slot,
        old=old,
        limit=limit,
        progress=progress,
    )
    if old is None:  # the first production deploy: nothing to shift from
        progress("no slot serves yet: the first canary release goes live at once")
        return bluegreen.go_live(
            kube, settings=settings, prepared=prepared, release=release, limit=limit, progress=progress
        )
    router = make_router(kube, settings, target, stable=old, canary=prepared.slot)
    shift = new_shift(settings, router.kind, stable=old, canary=prepared.slot)
    release.status, release.slot, release.shift = "shifting", prepared.slot, shift.to_dict()
    releases.record(kube, release, prepared.objects, keep=settings.deployment.history_limit)
    drive(session, kube, release, shift, lock=lock, progress=progress, watcher=watcher, ask=ask)
    return _finish(session, kube, release, shift, prepared, limit=limit, progress=progress)


def _finish(
    session: Session,
    kube: Kube,
    release: Release,
    shift: Shift,
    prepared: bluegreen.Prepared,
    *,
    limit: float,
    progress: Progress,
) -> DeployResult:
    """100 % passed: the public Services follow the routes to the canary slot; recorded as deployed."""
    settings = session.config.settings
    router = make_router(
        kube, settings, prepared.target, stable=shift.stable, canary=shift.canary, kind=shift.router
    )

    def back_to_stable() -> None:
        weights = router.set_stable()
        slots.switch(kube, prepared.renderer, shift.stable)
        now = time.time()
        shift.phase = "aborted"
        shift.abort = Abort(
            cause="smoke",
            reason=f"the public Services failed their smoke tests on slot {shift.canary} after the switch",
            decided=now,
            stable=now,
            step=shift.step + 1,
        )
        shift.current.weights = {ref: [w.stable, w.canary] for ref, w in weights.items()}
        release.status, release.shift = "aborted", shift.to_dict()
        releases.save(kube, release)

    release.shift = shift.to_dict()
    return bluegreen.go_live(
        kube,
        settings=settings,
        prepared=prepared,
        release=release,
        limit=limit,
        progress=progress,
        on_failed_switch=back_to_stable,
    )


def _open_shift(kube: Kube, target: Target) -> tuple[Release, Shift]:
    release = in_progress(kube, target.namespace)
    if release is None or release.shift is None:
        raise UsageError(
            f"no canary shift is in progress in {target.namespace}",
            hint="inv deploy.status --env production shows the last releases; deploy.production starts one",
        )
    return release, Shift.from_dict(release.shift)


def resume(
    session: Session,
    kube: Kube,
    *,
    timeout: float | None = None,
    progress: Progress,
    watcher: Watcher | None = None,
    ask: Callable[[Shift], str] | None = None,
) -> DeployResult:
    """Continue a shift that stopped (a killed CLI, a hold) at its recorded step, that step again in full.

    The weights are the recorded ones; pauses and the analysis are as configured now, so a held shift
    can be resumed with a shorter pause.
    """
    settings = session.config.settings
    target = target_for(settings, Layout(session.root), "production")
    limit = float(timeout or settings.deployment.rollout_timeout)
    started = time.monotonic()
    with DeployLock(kube, target.namespace, settings.deployment.lock_ttl, purpose="resume") as lock:
        if lock.took_over:
            progress(f"took over the deploy lock of {lock.took_over}")
        release, shift = _open_shift(kube, target)
        configured = settings.deployment.production.steps
        for i, step in enumerate(shift.steps):
            if i < len(configured) and configured[i].weight == step.weight:
                step.pause = configured[i].pause_seconds
        release_in = ReleaseInput(release.branch, release.commit, release.tag, dict(release.images))
        if not slots.slot_serves(kube, target, release, settle=limit, progress=progress):
            raise UsageError(
                f"slot {shift.canary} no longer runs revision {release.revision}; the shift cannot continue",
                hint="inv deploy.rollback aborts it (traffic back to the stable slot)",
            )
        shift.phase, shift.resumed = "shifting", shift.resumed + 1
        progress(f"resuming revision {release.revision}: {shift.describe()}")
        drive(
            session, kube, release, shift, lock=lock, progress=progress, watcher=watcher or Watcher(), ask=ask
        )
        renderer = Renderer(settings, Layout(session.root), target, release_in)
        objects = releases.manifests(kube, target.namespace, release.revision) or []
        prepared = bluegreen.Prepared(target, renderer, shift.canary, shift.stable, objects, [], [])
        result = _finish(session, kube, release, shift, prepared, limit=limit, progress=progress)
    took = lock.took_over
    from dataclasses import replace

    return replace(result, took_over_lock=took, seconds=round(time.monotonic() - started, 2))


def abort(session: Session, kube: Kube, *, progress: Progress) -> DeployResult:
    """deploy.rollback of a shift that is not over: everything back on the stable slot, smoke-tested."""
    settings = session.config.settings
    target = target_for(settings, Layout(session.root), "production")
    started = time.monotonic()
    with DeployLock(kube, target.namespace, settings.deployment.lock_ttl, purpose="rollback") as lock:
        release, shift = _open_shift(kube, target)
        router = make_router(
            kube, settings, target, stable=shift.stable, canary=shift.canary, kind=shift.router
        )
        driver = Driver(
            kube=kube,
            release=release,
            shift=shift,
            router=router,
            analysis=Analysis.from_settings(settings.deployment.production.analysis),
            prometheus=None,  # an abort queries nothing
            services=list(services(settings)),
            progress=progress,
        )
        driver.abort("rollback", "aborted by deploy.rollback", raise_error=False)
        release_in = ReleaseInput(release.branch, release.commit, release.tag, dict(release.images))
        renderer = Renderer(settings, Layout(session.root), target, release_in)
        applied = slots.switch(kube, renderer, shift.stable)
        after = smoke(
            kube, settings, target, renderer, via=lambda s: s, timeout=settings.deployment.smoke_timeout
        )
        smoke_or_fail(after, f"through the public Services on slot {shift.stable} after the abort")
    return DeployResult(
        target.environment,
        target.namespace,
        release,
        applied,
        after,
        switched=f"{shift.canary} -> {shift.stable}",
        took_over_lock=lock.took_over,
        seconds=round(time.monotonic() - started, 2),
    )
