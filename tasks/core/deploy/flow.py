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
from typing import TYPE_CHECKING

from tasks.core.config.schema import Settings
from tasks.core.deploy import bluegreen, releases, rollout
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
from tasks.core.deploy.slots import active_slot
from tasks.core.deploy.steps import ContractFailed, apply_all, smoke, smoke_or_fail, validate
from tasks.core.errors import ClikdError, ConfigError, Interrupted, UsageError
from tasks.core.session import Session

if TYPE_CHECKING:
    from tasks.core.deploy.canary.run import CanaryPlan
    from tasks.core.deploy.canary.shift import Watcher
    from tasks.core.deploy.canary.state import Shift

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
    canary: CanaryPlan | None = None  # production with strategy = "canary": the steps, router, analysis


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
    canary = None
    if environment == "production" and settings.deployment.production.strategy == "canary":
        from tasks.core.deploy.canary import run as canary_run

        if target.strategy != "blue-green":
            raise ConfigError(
                f'strategy = "canary" shifts traffic between production\'s two slots, but '
                f'k8s/environments.toml gives production strategy = "{target.strategy}"',
                hint='set [production] strategy = "blue-green" in k8s/environments.toml, or remove '
                "[deployment.production] strategy from clikd.toml",
            )

        canary_run.refuse_new_deploy(kube, target.namespace)
        canary = canary_run.plan(kube, settings, target, stable=active, canary=next_slot or SLOTS[0])
    return Plan(
        target=target,
        release=release,
        cluster=kube.ref.server,
        active_slot=active,
        next_slot=next_slot,
        current_revision=current.revision if current else None,
        current_images=current.images if current else {},
        canary=canary,
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
    watcher: Watcher | None = None,
    ask: Callable[[Shift], str] | None = None,
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
            if plan.canary is not None:
                from tasks.core.deploy.canary import run as canary_run
                from tasks.core.deploy.canary.shift import Watcher as Quiet

                result = canary_run.deploy(
                    session,
                    kube,
                    target=target,
                    renderer=renderer,
                    namespace_obj=namespace_obj,
                    release=release,
                    slot=plan.next_slot,
                    old=plan.active_slot,
                    lock=lock,
                    limit=limit,
                    progress=progress,
                    watcher=watcher or Quiet(),
                    ask=ask,
                )
            elif target.strategy == "blue-green":
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
            if release.status in ("aborted", "held", "shifting") or isinstance(exc, Interrupted):
                # A shift records its own end; one cut short keeps "shifting" for --resume/rollback.
                raise
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
    prepared = bluegreen.prepare(
        kube,
        settings=settings,
        target=plan.target,
        renderer=renderer,
        namespace_obj=namespace_obj,
        release=release,
        slot=plan.next_slot,
        old=plan.active_slot,
        limit=limit,
        progress=progress,
    )
    return bluegreen.go_live(
        kube, settings=settings, prepared=prepared, release=release, limit=limit, progress=progress
    )
