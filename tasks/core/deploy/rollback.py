"""deploy.rollback: back to an earlier release, by switching slots when the old slot still runs it.

A canary shift that is not over (shifting, or held) is aborted instead: every route and Service back
on the stable slot, the canary scaled to 0 (canary/run.py).

Blue/green: when the chosen release's slot still runs exactly its images (scaled down after the
rollback window counts: it is scaled back up), the rollback smoke-tests that slot through its preview
Service, switches the public Services to it and smoke-tests again; otherwise, and for rolling
environments, the chosen release is deployed again like a new one (flow.deploy).
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import replace

from tasks.core.deploy import flow, releases, slots, steps
from tasks.core.deploy.flow import Progress
from tasks.core.deploy.kube import Kube
from tasks.core.deploy.lock import DeployLock
from tasks.core.deploy.model import SLOTS, ChecksReport, DeployResult, Release, ReleaseInput, Target
from tasks.core.deploy.render import Layout, Renderer, target_for
from tasks.core.errors import UsageError
from tasks.core.session import Session


def rollback_target(kube: Kube, namespace: str, to: int | None) -> tuple[Release, Release | None]:
    """(the release to return to, the current one)."""
    past = releases.history(kube, namespace)
    if not past:
        raise UsageError(f"no releases recorded in {namespace}", hint="deploy first; nothing to roll back to")
    current = next((r for r in past if r.status == "deployed"), None)
    if to is not None:
        chosen = next((r for r in past if r.revision == to), None)
        if chosen is None:
            known = ", ".join(str(r.revision) for r in past)
            raise UsageError(f"revision {to} is not in the history of {namespace}", hint=f"recorded: {known}")
        if chosen.status == "failed":
            raise UsageError(f"revision {to} failed to deploy; roll back to a release that worked")
        return chosen, current
    older = [r for r in past if r.status in ("superseded", "deployed", "rolled-back") and r is not current]
    if current is not None:
        older = [r for r in older if r.revision < current.revision and r.images != current.images]
    if not older:
        raise UsageError(f"no earlier working release in {namespace}", hint="see inv deploy.status")
    return older[0], current


def rollback(
    session: Session,
    kube: Kube,
    environment: str,
    *,
    to: int | None = None,
    timeout: float | None = None,
    progress: Progress = flow.quiet,
) -> DeployResult:
    settings = session.config.settings
    layout = Layout(session.root)
    target = target_for(settings, layout, environment)
    if environment == "production":
        from tasks.core.deploy.canary import run as canary_run

        open_shift = canary_run.in_progress(kube, target.namespace)
        if open_shift is not None and to is None:
            return canary_run.abort(session, kube, progress=progress)
        if open_shift is not None:
            raise UsageError(
                f"revision {open_shift.revision} is mid-shift in {target.namespace}: its traffic is split",
                hint="run deploy.rollback without --to first (it aborts the shift), then --to REV",
            )
    chosen, _current = rollback_target(kube, target.namespace, to)
    release_in = ReleaseInput(chosen.branch, chosen.commit, chosen.tag, dict(chosen.images))
    note = f"rollback to revision {chosen.revision}"
    checks = ChecksReport([], forced=False)
    if target.strategy == "blue-green":
        active = slots.active_slot(kube, settings, target)
        wait = float(timeout or settings.deployment.rollout_timeout)
        if (
            chosen.slot
            and chosen.slot != active
            and slots.slot_serves(kube, target, chosen, settle=wait, progress=progress)
        ):
            return _switch_back(
                session,
                kube=kube,
                target=target,
                chosen=chosen,
                active=active,
                release_in=release_in,
                note=note,
                timeout=wait,
                progress=progress,
            )
        progress(
            f"slot {chosen.slot} no longer runs revision {chosen.revision}; deploying it to the idle slot"
        )
    plan = flow.make_plan(session, kube, environment, release=release_in)
    if target.strategy == "rolling":
        plan = replace(plan, manifests=releases.manifests(kube, target.namespace, chosen.revision))
    return flow.deploy(
        session,
        kube,
        plan,
        checks=checks,
        timeout=timeout,
        progress=progress,
        note=note,
        rollback_of=chosen.revision,
    )


def _switch_back(
    session: Session,
    *,
    kube: Kube,
    target: Target,
    chosen: Release,
    active: str | None,
    release_in: ReleaseInput,
    note: str,
    timeout: float,
    progress: Progress,
) -> DeployResult:
    settings = session.config.settings
    started = time.monotonic()
    slot = chosen.slot or SLOTS[0]
    renderer = Renderer(settings, Layout(session.root), target, release_in)
    with DeployLock(kube, target.namespace, settings.deployment.lock_ttl, purpose="rollback") as lock:
        scaled_up = slots.scale_up(kube, settings, target, slot, timeout=timeout, progress=progress)
        progress(f"slot {slot} still runs revision {chosen.revision}; smoke-testing it before the switch")
        results = steps.smoke_slot(kube, settings, target, renderer, slot)
        steps.smoke_or_fail(results, f"on slot {slot}; nothing was switched")
        applied = slots.switch(kube, renderer, slot)
        after = steps.smoke(
            kube, settings, target, renderer, via=lambda s: s, timeout=settings.deployment.smoke_timeout
        )
        steps.smoke_or_fail(after, "through the public Services after switching back")
        slots.mark_idle(kube, settings, target.namespace, slot, active)
        revision = releases.next_revision(kube, target.namespace)
        release = Release(
            revision=revision,
            environment=target.environment,
            namespace=target.namespace,
            status="deployed",
            images=dict(chosen.images),
            commit=chosen.commit,
            branch=chosen.branch,
            tag=chosen.tag,
            user=releases.who(),
            time=dt.datetime.now(dt.UTC),
            strategy=target.strategy,
            slot=slot,
            note=f"{note} (switched the public Services back to slot {slot})",
            rollback_of=chosen.revision,
        )
        objects = releases.manifests(kube, target.namespace, chosen.revision) or []
        releases.record(kube, release, objects, keep=settings.deployment.history_limit)
        return DeployResult(
            target.environment,
            target.namespace,
            release,
            applied,
            results + after,
            switched=f"{active or '(none)'} -> {slot}",
            took_over_lock=lock.took_over,
            seconds=round(time.monotonic() - started, 2),
            scaled_up=scaled_up,
        )
