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
from typing import Any

from tasks.core.config.schema import Settings
from tasks.core.deploy import releases, rollout
from tasks.core.deploy.kube import ApiError, Kube, Obj, connect
from tasks.core.deploy.lock import DeployLock
from tasks.core.deploy.model import (
    SLOTS,
    ChecksReport,
    DeployResult,
    Release,
    ReleaseInput,
    SmokeResult,
    Target,
)
from tasks.core.deploy.render import Layout, Renderer, release_input, services, target_for
from tasks.core.errors import CheckFailed, ClikdError, Unhealthy, UsageError
from tasks.core.session import Session

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
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


# ---------------------------------------------------------------------------- steps
def validate(kube: Kube, objects: list[Obj]) -> None:
    """Every object through the API server's dry run (schema, defaults, admission); all errors at once."""
    problems: list[str] = []
    for obj in objects:
        try:
            kube.apply(obj, dry_run=True)
        except ApiError as exc:
            problems.append(exc.message)
    if problems:
        raise CheckFailed(
            f"{len(problems)} rendered manifest(s) were rejected by the API server's dry run",
            hint="fix k8s/templates or k8s/environments.toml; nothing was applied",
            details=problems,
        )


def apply_all(kube: Kube, objects: list[Obj], progress: Progress) -> tuple[list[str], dict[str, int]]:
    applied: list[str] = []
    generations: dict[str, int] = {}
    for obj in objects:
        result = kube.apply(obj)
        ref = f"{obj['kind']}/{obj['metadata']['name']}"
        applied.append(ref)
        if obj["kind"] == "Deployment":
            generations[obj["metadata"]["name"]] = int(result["metadata"].get("generation", 0))
    progress(f"applied {len(applied)} objects (server-side apply, field manager clikd)")
    return applied, generations


def smoke(
    kube: Kube,
    settings: Settings,
    target: Target,
    renderer: Renderer,
    *,
    via: Callable[[str], str],
    timeout: float,
) -> list[SmokeResult]:
    """Each service's health path through the API server's service proxy; retried until ``timeout``."""
    results: list[SmokeResult] = []
    for name in services(settings):
        ctx = renderer.service_context(name)
        path = ctx["health_path"] or "/"
        service = via(name)
        deadline = time.monotonic() + timeout
        while True:
            try:
                kube.service_proxy(target.namespace, service, ctx["health_port"], path, timeout=timeout)
                results.append(SmokeResult(name, service, True, 200, f"GET {path} ok"))
                break
            except ApiError as exc:
                if time.monotonic() >= deadline:
                    results.append(
                        SmokeResult(name, service, False, exc.status, f"GET {path}: {exc.message}")
                    )
                    break
                time.sleep(0.5)
    return results


def _smoke_or_fail(results: list[SmokeResult], where: str) -> None:
    failed = [r for r in results if not r.ok]
    if failed:
        raise Unhealthy(
            f"smoke tests failed {where}: {', '.join(r.service for r in failed)}",
            hint="the services rolled out but do not answer their health path; see the details",
            details=[f"{r.service} via service/{r.via}: {r.status} {r.detail}" for r in failed],
        )


class ContractFailed(ClikdError):
    """The new slot went live, then the contract migrations Job failed (nothing is switched back).

    Carries the deploy's result; ``--json`` prints it under ``result`` with the error.
    """

    title = "contract migrations failed"

    def __init__(self, result: DeployResult, message: str, hint: str, details: list[str]) -> None:
        super().__init__(message, hint, details=details)
        self.result = result

    def to_dict(self) -> dict[str, object]:
        import json

        from tasks.core.console import dumps

        return {**super().to_dict(), "result": json.loads(dumps(self.result))}


LOG_LINES = 10  # a failed Job's pod log lines shown with its error


def job_diagnosis(kube: Kube, namespace: str, name: str) -> tuple[str, list[str]]:
    """Why Job ``name`` failed: (its Failed condition, its pods' reasons, log tails and events)."""
    job = kube.get("Job", name, namespace) or {}
    failed: dict[str, Any] = next(
        (c for c in job.get("status", {}).get("conditions", []) if c.get("type") == "Failed"),
        {},
    )
    why = ": ".join(p for p in (failed.get("reason"), failed.get("message")) if p) or "no reason given"
    details: list[str] = []
    pods = kube.list("Pod", namespace, labels=f"job-name={name}")
    pods.sort(key=lambda p: str(p["metadata"].get("creationTimestamp", "")))
    for pod in pods[-2:]:
        problem = rollout.pod_problem(pod)
        details.append(
            f"pod {problem.pod} ({problem.phase}): {'; '.join(problem.reasons) or 'no reason reported'}"
        )
    if pods:  # the last attempt's log (earlier attempts ran the same command)
        details += _log_tail(kube, namespace, pods[-1]["metadata"]["name"])
    details += [
        f"event: {e}"
        for e in rollout.recent_events(kube, namespace, {name, *(p["metadata"]["name"] for p in pods)})
    ]
    return why, details


def _log_tail(kube: Kube, namespace: str, pod: str) -> list[str]:
    try:
        text = kube.request(
            "GET",
            f"/api/v1/namespaces/{namespace}/pods/{pod}/log",
            query=[("tailLines", LOG_LINES)],
            raw=True,
            timeout=5.0,
        )
    except ClikdError as exc:
        return [f"  (its log cannot be read: {exc.message})"]
    lines = [line for line in str(text).splitlines() if line.strip()][-LOG_LINES:]
    if not lines:
        return ["  (its log is empty)"]
    return [f"  log: {line}" for line in lines]


def _wait_job(
    kube: Kube,
    namespace: str,
    name: str,
    timeout: float,
    progress: Progress,
    *,
    hint: str = "nothing was switched; see the job's pods",
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        job = kube.get("Job", name, namespace) or {}
        conditions = {
            c["type"]: c for c in job.get("status", {}).get("conditions", []) if c.get("status") == "True"
        }
        if "Complete" in conditions:
            progress(f"migrations job {name} completed")
            return
        if "Failed" in conditions:
            why, details = job_diagnosis(kube, namespace, name)
            raise Unhealthy(f"migrations job {name} failed: {why}", hint=hint, details=details)
        if time.monotonic() >= deadline:
            _why, details = job_diagnosis(kube, namespace, name)
            raise Unhealthy(
                f"migrations job {name} did not finish in {timeout:.0f}s", hint=hint, details=details
            )
        time.sleep(0.5)


def _contract(
    kube: Kube, renderer: Renderer, release: Release, slot: str, *, limit: float, progress: Progress
) -> tuple[str | None, list[str]]:
    """Run the contract migrations Job after the switch: (its outcome or None without migrations, details).

    A failure does not switch back (the new slot already serves): it is reported and recorded.
    """
    job = renderer.migrations_job(release.revision, slot, phase="contract")
    if job is None:
        return None, []
    name = job["metadata"]["name"]
    progress(f"running migrations (contract) as job {name}")
    try:
        kube.apply(job)
        _wait_job(kube, release.namespace, name, limit, progress)
    except ClikdError as exc:
        progress(f"WARNING: {exc.message}; slot {slot} stays live (no switch back)")
        return f"failed: {exc.message}", exc.details
    return "completed", []


# ---------------------------------------------------------------------------- deploy
def deploy(
    session: Session,
    kube: Kube,
    plan: Plan,
    *,
    checks: ChecksReport,
    timeout: float | None = None,
    progress: Progress = _quiet,
    note: str = "",
    rollback_of: int | None = None,
    expires: dt.datetime | None = None,
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
    _smoke_or_fail(results, f"in {target.namespace}")
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
        _wait_job(kube, target.namespace, job["metadata"]["name"], limit, progress)
    rollout.wait(kube, target.namespace, generations, timeout=limit, progress=progress)
    results = smoke(
        kube,
        settings,
        target,
        renderer,
        via=lambda s: f"{s}-{slot}-preview",
        timeout=settings.deployment.smoke_timeout,
    )
    _smoke_or_fail(results, f"on slot {slot} (its preview Services); the public Services were not switched")
    progress(f"slot {slot} healthy; switching the public Services {old or '(none)'} -> {slot}")
    switched = switch(kube, renderer, slot)
    applied += switched
    after = smoke(
        kube, settings, target, renderer, via=lambda s: s, timeout=settings.deployment.smoke_timeout
    )
    if any(not r.ok for r in after) and old:
        switch(kube, renderer, old)
        _smoke_or_fail(after, f"through the public Services after the switch; switched back to {old}")
    _smoke_or_fail(after, "through the public Services after the switch")
    mark_idle(kube, settings, target.namespace, slot, old)
    release.status = "deployed"
    release.slot = slot
    release.contract, contract_details = _contract(
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


IDLE_SINCE = "dev.clikd/idle-since"


def _slot_deployments(kube: Kube, settings: Settings, namespace: str, slot: str) -> list[Obj]:
    found = []
    for name in services(settings):
        dep = kube.get("Deployment", f"{name}-{slot}", namespace)
        if dep is not None:
            found.append(dep)
    return found


def mark_idle(kube: Kube, settings: Settings, namespace: str, live: str, idle: str | None) -> None:
    """Record the switch: ``idle``'s Deployments idle since now, ``live``'s not idle."""
    now = dt.datetime.now(dt.UTC).isoformat()
    for dep in _slot_deployments(kube, settings, namespace, live):
        kube.patch(
            "Deployment",
            dep["metadata"]["name"],
            namespace,
            {"metadata": {"annotations": {IDLE_SINCE: None}}},
        )
    if idle:
        for dep in _slot_deployments(kube, settings, namespace, idle):
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
        for dep in _slot_deployments(kube, settings, target.namespace, slot):
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


# ---------------------------------------------------------------------------- rollback
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
    progress: Progress = _quiet,
) -> DeployResult:
    settings = session.config.settings
    layout = Layout(session.root)
    target = target_for(settings, layout, environment)
    chosen, _current = rollback_target(kube, target.namespace, to)
    release_in = ReleaseInput(chosen.branch, chosen.commit, chosen.tag, dict(chosen.images))
    note = f"rollback to revision {chosen.revision}"
    checks = ChecksReport([], forced=False)
    if target.strategy == "blue-green":
        active = active_slot(kube, settings, target)
        if chosen.slot and chosen.slot != active and _slot_serves(kube, target, chosen):
            return _switch_back(
                session,
                kube=kube,
                target=target,
                chosen=chosen,
                active=active,
                release_in=release_in,
                note=note,
                timeout=float(timeout or settings.deployment.rollout_timeout),
                progress=progress,
            )
        progress(
            f"slot {chosen.slot} no longer runs revision {chosen.revision}; deploying it to the idle slot"
        )
    plan = make_plan(session, kube, environment, release=release_in)
    if target.strategy == "rolling":
        plan = replace(plan, manifests=releases.manifests(kube, target.namespace, chosen.revision))
    return deploy(
        session,
        kube,
        plan,
        checks=checks,
        timeout=timeout,
        progress=progress,
        note=note,
        rollback_of=chosen.revision,
    )


def _slot_serves(kube: Kube, target: Target, release: Release) -> bool:
    """True when ``release``'s slot still runs exactly its images, fully rolled out or scaled to 0."""
    for service, image in release.images.items():
        dep = kube.get("Deployment", f"{service}-{release.slot}", target.namespace)
        if dep is None:
            return False
        containers = dep["spec"]["template"]["spec"]["containers"]
        if containers[0].get("image") != image:
            return False
        if int(dep["spec"].get("replicas", 0)) == 0:
            continue  # scaled down after the rollback window: the rollback scales it back up
        if (
            not rollout.deployment_state(dep).done
            or int(dep.get("status", {}).get("availableReplicas", 0)) < 1
        ):
            return False
    return True


def _scale_up(
    kube: Kube, settings: Settings, target: Target, slot: str, *, timeout: float, progress: Progress
) -> list[str]:
    """Bring a scaled-down slot back to the environment's replicas and wait for it; the names."""
    generations: dict[str, int] = {}
    for dep in _slot_deployments(kube, settings, target.namespace, slot):
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
        scaled_up = _scale_up(kube, settings, target, slot, timeout=timeout, progress=progress)
        progress(f"slot {slot} still runs revision {chosen.revision}; smoke-testing it before the switch")
        results = smoke(
            kube,
            settings,
            target,
            renderer,
            via=lambda s: f"{s}-{slot}-preview",
            timeout=settings.deployment.smoke_timeout,
        )
        _smoke_or_fail(results, f"on slot {slot}; nothing was switched")
        applied = switch(kube, renderer, slot)
        after = smoke(
            kube, settings, target, renderer, via=lambda s: s, timeout=settings.deployment.smoke_timeout
        )
        _smoke_or_fail(after, "through the public Services after switching back")
        mark_idle(kube, settings, target.namespace, slot, active)
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
