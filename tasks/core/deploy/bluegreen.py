"""Blue/green in two halves, shared by the instant switch and the canary shift.

:func:`prepare` fills the idle slot (validate, apply, the expand migrations, wait for the rollouts,
smoke-test it through its preview Services) without moving any traffic; :func:`go_live` points the
public Services at it, smoke-tests them (switching back on a failure), marks the old slot idle, runs
the contract migrations and records the release as deployed. flow.py calls them back to back; the
canary (deploy/canary/run.py) shifts traffic step by step in between.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from tasks.core.config.schema import Settings
from tasks.core.deploy import releases, rollout
from tasks.core.deploy.kube import Kube, Obj
from tasks.core.deploy.model import SLOTS, DeployResult, Release, SmokeResult, Target
from tasks.core.deploy.render import Renderer
from tasks.core.deploy.slots import mark_idle, scale_down_idle, switch
from tasks.core.deploy.steps import (
    apply_all,
    contract,
    smoke,
    smoke_or_fail,
    smoke_slot,
    validate,
    wait_job,
)

Progress = Callable[[str], None]


@dataclass
class Prepared:
    """The filled slot, ready to take traffic: what was applied and how its smoke tests went."""

    target: Target
    renderer: Renderer
    slot: str
    old: str | None  # the slot the public Services select now
    objects: list[Obj]  # the slot's objects and the public Services, as recorded with the release
    applied: list[str]
    smoke: list[SmokeResult]
    scaled_down: list[str] = field(default_factory=list)


def prepare(
    kube: Kube,
    *,
    settings: Settings,
    target: Target,
    renderer: Renderer,
    namespace_obj: Obj,
    release: Release,
    slot: str | None,
    old: str | None,
    limit: float,
    progress: Progress,
) -> Prepared:
    slot = slot or SLOTS[0]
    scaled_down = scale_down_idle(kube, settings, target)
    if scaled_down:
        progress(f"scaled to 0 (idle past the rollback window): {', '.join(scaled_down)}")
    slot_objects = [
        namespace_obj,
        *renderer.workload(slot),
        *renderer.service_objects(slot=slot, preview=True),
        renderer.ingress(),
    ]
    public = renderer.service_objects(slot=slot, preview=False)
    job = renderer.migrations_job(release.revision, slot)
    contract_job = renderer.migrations_job(release.revision, slot, phase="contract")
    validate(kube, slot_objects + public + [j for j in (job, contract_job) if j])
    progress(
        f"{len(slot_objects) + len(public)} manifests valid (server-side dry run); deploying slot {slot}"
    )
    applied, generations = apply_all(kube, slot_objects, progress)
    if job is not None:
        kube.apply(job)
        applied.append(f"Job/{job['metadata']['name']}")
        progress(f"running migrations (expand) as job {job['metadata']['name']}")
        wait_job(kube, target.namespace, job["metadata"]["name"], limit, progress)
    rollout.wait(kube, target.namespace, generations, timeout=limit, progress=progress)
    results = smoke_slot(kube, settings, target, renderer, slot)
    smoke_or_fail(results, f"on slot {slot} (its preview Services); the public Services were not switched")
    return Prepared(target, renderer, slot, old, slot_objects + public, applied, results, scaled_down)


def go_live(
    kube: Kube,
    *,
    settings: Settings,
    prepared: Prepared,
    release: Release,
    limit: float,
    progress: Progress,
    on_failed_switch: Callable[[], None] | None = None,
) -> DeployResult:
    """Switch the public Services to the prepared slot and record ``release`` as deployed.

    ``on_failed_switch`` puts traffic back when the public Services fail their smoke tests after the
    switch (default: the public Services back on the old slot).
    """
    target, renderer, slot, old = prepared.target, prepared.renderer, prepared.slot, prepared.old
    progress(f"slot {slot} healthy; switching the public Services {old or '(none)'} -> {slot}")
    applied = prepared.applied + switch(kube, renderer, slot)
    after = smoke(
        kube, settings, target, renderer, via=lambda s: s, timeout=settings.deployment.smoke_timeout
    )
    if any(not r.ok for r in after) and old:
        if on_failed_switch is not None:
            on_failed_switch()
        else:
            switch(kube, renderer, old)
        smoke_or_fail(after, f"through the public Services after the switch; switched back to {old}")
    smoke_or_fail(after, "through the public Services after the switch")
    mark_idle(kube, settings, target.namespace, slot, old)
    release.status = "deployed"
    release.slot = slot
    release.contract, contract_details = contract(
        kube, renderer, release, slot, limit=limit, progress=progress
    )
    contract_job = renderer.migrations_job(release.revision, slot, phase="contract")
    if contract_job is not None:
        applied.append(f"Job/{contract_job['metadata']['name']}")
        outcome = f"contract migrations {release.contract}"
        release.note = (release.note + "; " if release.note else "") + outcome
    if old:
        window = settings.deployment.rollback_window
        release.note = (release.note + "; " if release.note else "") + (
            f"slot {old} kept up for rollback ({window:.0f}s window)"
        )
    releases.record(kube, release, prepared.objects, keep=settings.deployment.history_limit)
    return DeployResult(
        target.environment,
        target.namespace,
        release,
        applied,
        prepared.smoke + after,
        switched=f"{old or '(none)'} -> {slot}",
        scaled_down=prepared.scaled_down,
        contract_details=contract_details,
    )
