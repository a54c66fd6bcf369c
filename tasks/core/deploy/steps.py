"""The steps of a deploy: dry-run validation, apply, smoke tests, the migration Job (contract).

flow.py strings them together; rollback.py reuses the smoke tests.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from tasks.core.config.schema import Settings
from tasks.core.deploy import rollout
from tasks.core.deploy.kube import ApiError, Kube, Obj
from tasks.core.deploy.model import DeployResult, Release, SmokeResult, Target
from tasks.core.deploy.render import Renderer, services
from tasks.core.errors import CheckFailed, ClikdError, Unhealthy

Progress = Callable[[str], None]


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


def smoke_slot(
    kube: Kube, settings: Settings, target: Target, renderer: Renderer, slot: str
) -> list[SmokeResult]:
    """Each service's health path through ``slot``'s preview Services (before any traffic moves to it)."""
    return smoke(
        kube,
        settings,
        target,
        renderer,
        via=lambda s: f"{s}-{slot}-preview",
        timeout=settings.deployment.smoke_timeout,
    )


def smoke_or_fail(results: list[SmokeResult], where: str) -> None:
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


def wait_job(
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


def contract(
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
        wait_job(kube, release.namespace, name, limit, progress)
    except ClikdError as exc:
        progress(f"WARNING: {exc.message}; slot {slot} stays live (no switch back)")
        return f"failed: {exc.message}", exc.details
    return "completed", []
