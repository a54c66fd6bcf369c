"""The deploys themselves: work out the state, validate, apply, wait, smoke-test, record.

- rolling (staging, previews): one Deployment per service, applied in place;
- blue/green (production): two slots per service (``<svc>-blue``, ``<svc>-green``), a preview Service
  per slot, and the public Service ``<svc>`` whose selector is switched only after the new slot rolled
  out and passed its smoke tests through its preview Service. The old slot stays up for rollbacks.

Everything runs under the environment's deploy lock (lock.py) and ends in the release history
(releases.py), failed runs included.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from tasks.core.config.schema import Settings
from tasks.core.deploy import releases, rollout
from tasks.core.deploy.kube import Kube, Obj, connect
from tasks.core.deploy.lock import DeployLock
from tasks.core.deploy.model import (
    SLOTS,
    ChecksReport,
    DeployResult,
    Release,
    ReleaseInput,
    Target,
)
from tasks.core.deploy.render import Layout, Renderer, release_input, target_for
from tasks.core.deploy.slots import active_slot, mark_idle, scale_down_idle, switch
from tasks.core.deploy.steps import (
    ContractFailed,
    apply_all,
    contract,
    smoke,
    smoke_or_fail,
    validate,
    wait_job,
)
from tasks.core.errors import ClikdError, UsageError
from tasks.core.session import Session

Progress = Callable[[str], None]


def quiet(_: str) -> None:
    return None


@dataclass(frozen=True)
class Plan:
    """What a deploy will do, worked out before anything changes."""

    target: Target
    release: ReleaseInput
    cluster: str
    active_slot: str | None  # blue/green: the slot the public Services select now
    next_slot: str | None  # blue/green: the slot this deploy fills
    current_revision: int | None
    current_images: dict[str, str]
    manifests: list[Obj] | None = (
        None  # rolling rollback: a recorded release's objects, re-applied as they were
    )


def open_cluster(session: Session, environment: str | None = None) -> Kube:
    """The cluster of ``environment``: its [environments.NAME] kubeconfig/context, else [deployment]'s."""
    from tasks.core.remote.environments import kube_access

    settings = session.config.settings
    if environment:
        return connect(*kube_access(settings, environment))
    return connect(settings.deployment.kubeconfig, settings.deployment.kube_context)


def git_head(session: Session) -> tuple[str, str]:
    """(branch, commit) of the project; commit is '' without a repository."""
    import git

    branch = session.branch.name
    try:
        repo = git.Repo(session.root, search_parent_directories=True)
        commit = repo.head.commit.hexsha if repo.head.is_valid() else ""
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        commit = ""
    return branch, commit


def make_plan(
    session: Session,
    kube: Kube,
    environment: str,
    *,
    tag: str | None = None,
    namespace: str | None = None,
    release: ReleaseInput | None = None,
) -> Plan:
    settings = session.config.settings
    if environment == "production" and settings.deployment.production.strategy == "canary":
        # The analysis and the router exist (deploy/canary/), the shift that drives them does not
        # yet: refused rather than deployed blue/green behind the user's back.
        raise UsageError(
            'strategy = "canary" in [deployment.production]: the gradual shift is not built yet',
            hint='remove strategy (or set strategy = "bluegreen") to deploy blue/green',
        )
    layout = Layout(session.root)
    target = target_for(settings, layout, environment, namespace=namespace)
    if release is None:
        branch, commit = git_head(session)
        if not commit and not tag:
            raise UsageError("no git commit to tag the images with", hint="pass --tag TAG")
        release = release_input(settings, branch=branch, commit=commit or "unknown", tag=tag)
    active = active_slot(kube, settings, target) if target.strategy == "blue-green" else None
    next_slot = None
    if target.strategy == "blue-green":
        next_slot = SLOTS[1] if active == SLOTS[0] else SLOTS[0]
    past = releases.history(kube, target.namespace)
    current = next((r for r in past if r.status == "deployed"), None)
    return Plan(
        target=target,
        release=release,
        cluster=kube.ref.server,
        active_slot=active,
        next_slot=next_slot,
        current_revision=current.revision if current else None,
        current_images=current.images if current else {},
    )


# ---------------------------------------------------------------------------- deploy
def deploy(
    session: Session,
    kube: Kube,
    plan: Plan,
    *,
    checks: ChecksReport,
    timeout: float | None = None,
    progress: Progress = quiet,
    note: str = "",
    rollback_of: int | None = None,
    expires: dt.datetime | None = None,
    tests: str = "",
) -> DeployResult:
    """Deploy ``plan`` (rolling or blue/green by its target's strategy) and record the release."""
    settings = session.config.settings
    target = plan.target
    limit = float(timeout or settings.deployment.rollout_timeout)
    if limit > target.progress_deadline:
        progress(
            f"note: --timeout {limit:.0f}s is longer than the progress deadline "
            f"({target.progress_deadline}s); a stalled rollout fails at the deadline"
        )
    started = time.monotonic()
    renderer = Renderer(settings, Layout(session.root), target, plan.release)
    namespace_obj = renderer.namespace(expires=expires)
    kube.apply(namespace_obj)
    with DeployLock(kube, target.namespace, settings.deployment.lock_ttl) as lock:
        if lock.took_over:
            progress(f"took over the expired deploy lock of {lock.took_over}")
        revision = releases.next_revision(kube, target.namespace)
        release = Release(
            revision=revision,
            environment=target.environment,
            namespace=target.namespace,
            status="pending",
            images=dict(plan.release.images),
            commit=plan.release.commit,
            branch=plan.release.branch,
            tag=plan.release.tag,
            user=releases.who(),
            time=dt.datetime.now(dt.UTC),
            strategy=target.strategy,
            slot=plan.next_slot,
            checks=list(checks.checks),
            forced=checks.forced,
            note=note,
            rollback_of=rollback_of,
            built=dict(plan.release.built),
            tests=tests,
        )
        try:
            if target.strategy == "blue-green":
                result = _blue_green(
                    kube,
                    settings=settings,
                    plan=plan,
                    renderer=renderer,
                    namespace_obj=namespace_obj,
                    release=release,
                    limit=limit,
                    progress=progress,
                )
            else:
                result = _rolling(
                    kube,
                    settings=settings,
                    plan=plan,
                    renderer=renderer,
                    namespace_obj=namespace_obj,
                    release=release,
                    limit=limit,
                    progress=progress,
                )
        except ClikdError as exc:
            release.status = "failed"
            release.note = (note + "; " if note else "") + exc.message
            releases.record(kube, release, [], keep=settings.deployment.history_limit)
            raise
        result = replace(result, took_over_lock=lock.took_over, seconds=round(time.monotonic() - started, 2))
    if release.contract and release.contract.startswith("failed"):
        job = f"migrate-r{release.revision}-contract"
        raise ContractFailed(
            result,
            f"revision {release.revision} is live on slot {release.slot}, but the contract migrations "
            f"failed ({release.contract.removeprefix('failed: ')})",
            hint=(
                f"slot {release.slot} serves and stays live (the contract phase runs after the switch, "
                f"so nothing is switched back, and the old slot can still take traffic with "
                f"deploy.rollback); fix the contract migration, then deploy again or run it by hand "
                f"with --phase contract. The failed job is {target.namespace}/{job}."
            ),
            details=result.contract_details,
        )
    return result


def _rolling(
    kube: Kube,
    *,
    settings: Settings,
    plan: Plan,
    renderer: Renderer,
    namespace_obj: Obj,
    release: Release,
    limit: float,
    progress: Progress,
) -> DeployResult:
    target = plan.target
    if plan.manifests:
        objects = [namespace_obj, *(o for o in plan.manifests if o.get("kind") != "Namespace")]
    else:
        objects = [
            namespace_obj,
            *renderer.workload(),
            *renderer.service_objects(slot=None, preview=False),
            renderer.ingress(),
        ]
    validate(kube, objects)
    progress(f"{len(objects)} manifests valid (server-side dry run)")
    applied, generations = apply_all(kube, objects, progress)
    rollout.wait(kube, target.namespace, generations, timeout=limit, progress=progress)
    results = smoke(
        kube, settings, target, renderer, via=lambda s: s, timeout=settings.deployment.smoke_timeout
    )
    smoke_or_fail(results, f"in {target.namespace}")
    release.status = "deployed"
    releases.record(kube, release, objects, keep=settings.deployment.history_limit)
    return DeployResult(target.environment, target.namespace, release, applied, results)


def _blue_green(
    kube: Kube,
    *,
    settings: Settings,
    plan: Plan,
    renderer: Renderer,
    namespace_obj: Obj,
    release: Release,
    limit: float,
    progress: Progress,
) -> DeployResult:
    target = plan.target
    slot = plan.next_slot or SLOTS[0]
    old = plan.active_slot
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
    results = smoke(
        kube,
        settings,
        target,
        renderer,
        via=lambda s: f"{s}-{slot}-preview",
        timeout=settings.deployment.smoke_timeout,
    )
    smoke_or_fail(results, f"on slot {slot} (its preview Services); the public Services were not switched")
    progress(f"slot {slot} healthy; switching the public Services {old or '(none)'} -> {slot}")
    switched = switch(kube, renderer, slot)
    applied += switched
    after = smoke(
        kube, settings, target, renderer, via=lambda s: s, timeout=settings.deployment.smoke_timeout
    )
    if any(not r.ok for r in after) and old:
        switch(kube, renderer, old)
        smoke_or_fail(after, f"through the public Services after the switch; switched back to {old}")
    smoke_or_fail(after, "through the public Services after the switch")
    mark_idle(kube, settings, target.namespace, slot, old)
    release.status = "deployed"
    release.slot = slot
    release.contract, contract_details = contract(
        kube, renderer, release, slot, limit=limit, progress=progress
    )
    if contract_job is not None:
        applied.append(f"Job/{contract_job['metadata']['name']}")
        outcome = f"contract migrations {release.contract}"
        release.note = (release.note + "; " if release.note else "") + outcome
    if old:
        window = settings.deployment.rollback_window
        release.note = (release.note + "; " if release.note else "") + (
            f"slot {old} kept up for rollback ({window:.0f}s window)"
        )
    releases.record(kube, release, slot_objects + public, keep=settings.deployment.history_limit)
    return DeployResult(
        target.environment,
        target.namespace,
        release,
        applied,
        results + after,
        switched=f"{old or '(none)'} -> {slot}",
        scaled_down=scaled_down,
        contract_details=contract_details,
    )
