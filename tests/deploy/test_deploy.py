"""deploy against the real test control plane (tests/infra/k8s/up): no mocks.

kwok runs the pods: they turn Ready unless their image tag starts with ``bad`` (kwok keeps those
Pending with ImagePullBackOff, see tests/infra/k8s/kwok/stages.yaml). Smoke tests go through the API
server's service proxy to podnet.py, which answers for Ready pods and fails for images tagged
``unhealthy*``.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import time
from collections.abc import Callable
from typing import Any

import pexpect
import pytest

from tasks.core.deploy import flow, lock, releases, rollback, slots
from tasks.core.deploy.kube import Kube
from tasks.core.deploy.model import ChecksReport
from tasks.core.deploy.status import environment_status
from tasks.core.errors import Conflict, ExitCode, Unhealthy

from .conftest import KUBECONFIG, REPO, SHIPPED_IMAGE, Project, run_inv

# One xdist worker runs the tests of the test bed's single Kubernetes control plane: its
# controllers and KWOK act on every namespace at once, and production slot switches are timed by them.
pytestmark = [pytest.mark.testbed, pytest.mark.xdist_group("k8s")]
SERVICES = ["auth", "api", "realtime", "media", "studio"]
NO_CHECKS = ChecksReport([])


def deploy(project: Project, kube: Kube, environment: str, tag: str, **settings: Any) -> Any:
    session = project.session(**settings)
    plan = flow.make_plan(session, kube, environment, tag=tag)
    timeout = settings.get("rollout_timeout")
    return flow.deploy(session, kube, plan, checks=NO_CHECKS, timeout=timeout)


def selectors(kube: Kube, namespace: str) -> dict[str, str | None]:
    out = {}
    for name in SERVICES:
        svc = kube.get("Service", name, namespace)
        out[name] = None if svc is None else svc["spec"]["selector"].get("dev.clikd/slot")
    return out


def test_first_deploy_then_redeploy_with_a_new_tag(
    project: Project, kube: Kube, deployments: Callable[[str], dict[str, Any]]
) -> None:
    ns = project.namespace("staging")
    first = deploy(project, kube, "staging", "v1")
    assert first.release.revision == 1
    assert first.release.status == "deployed"
    assert [s.service for s in first.smoke if s.ok] == SERVICES
    deps = deployments(ns)
    assert sorted(deps) == sorted(SERVICES)
    for name, dep in deps.items():
        assert (
            dep["spec"]["template"]["spec"]["containers"][0]["image"]
            == f"ghcr.io/clikd-org/{SHIPPED_IMAGE[name]}:v1"
        )
        assert dep["status"]["availableReplicas"] == 2
        managers = {m["manager"] for m in dep["metadata"]["managedFields"] if m["operation"] == "Apply"}
        assert managers == {"clikd"}
    assert kube.get("Ingress", "clikd", ns) is not None
    assert kube.get("ConfigMap", "api-config", ns)["data"]["CLIKD_COMMIT"] == project.git("rev-parse", "HEAD")

    second = deploy(project, kube, "staging", "v2")
    assert second.release.revision == 2
    deps = deployments(ns)
    for name, dep in deps.items():
        assert (
            dep["spec"]["template"]["spec"]["containers"][0]["image"]
            == f"ghcr.io/clikd-org/{SHIPPED_IMAGE[name]}:v2"
        )
        assert dep["metadata"]["generation"] == 2
        assert dep["status"]["updatedReplicas"] == dep["status"]["availableReplicas"] == 2
    history = releases.history(kube, ns)
    assert [(r.revision, r.status, r.tag) for r in history] == [
        (2, "deployed", "v2"),
        (1, "superseded", "v1"),
    ]
    status = environment_status(project.session(), kube, "staging")
    assert status.revision == 2
    assert {s.image for s in status.services} == {
        f"ghcr.io/clikd-org/{SHIPPED_IMAGE[n]}:v2" for n in SERVICES
    }
    assert all(s.ready == 2 for s in status.services)


def test_a_rollout_stuck_on_a_bad_image_fails_at_the_progress_deadline_with_the_pod_reason(
    project: Project, kube: Kube
) -> None:
    ns = project.namespace("staging")
    deploy(project, kube, "staging", "v1")
    with pytest.raises(Unhealthy) as caught:
        deploy(project, kube, "staging", "bad-1", progress_deadline=5, rollout_timeout=90)
    error = caught.value
    blocked = error.blocked  # type: ignore[attr-defined]
    assert blocked.fired == "progress-deadline"
    assert "exceeded its progress deadline" in error.message
    assert "ImagePullBackOff" in error.message
    assert blocked.pods and blocked.pods[0].phase == "Pending"
    assert any("ImagePullBackOff" in r and ":bad-1" in r for r in blocked.pods[0].reasons)
    text = "\n".join(error.details)
    assert "progress deadline (progressDeadlineSeconds) fired" in text
    assert any("ScalingReplicaSet" in e or "ProgressDeadlineExceeded" in e for e in blocked.events)
    latest = releases.history(kube, ns)[0]
    assert (latest.revision, latest.status, latest.tag) == (2, "failed", "bad-1")
    # the old pods still serve: maxUnavailable 0
    assert environment_status(project.session(), kube, "staging").revision == 1


def test_our_timeout_firing_first_is_reported_as_such(project: Project, kube: Kube) -> None:
    with pytest.raises(Unhealthy) as caught:
        deploy(project, kube, "staging", "bad-2", progress_deadline=600, rollout_timeout=4)
    blocked = caught.value.blocked  # type: ignore[attr-defined]
    assert blocked.fired == "timeout"
    assert "timed out after 4s" in caught.value.message
    assert any("ImagePullBackOff" in r for p in blocked.pods for r in p.reasons)
    assert "our timeout (--timeout) fired" in caught.value.details[0]


def test_production_switches_slots_only_when_healthy_and_rolls_back(
    project: Project, kube: Kube, deployments: Callable[[str], dict[str, Any]]
) -> None:
    ns = project.namespace("production")
    first = deploy(project, kube, "production", "v1")
    assert first.release.slot == "blue"
    assert first.switched == "(none) -> blue"
    assert selectors(kube, ns) == dict.fromkeys(SERVICES, "blue")
    job = kube.get("Job", "migrate-r1", ns)
    assert job is not None
    assert any(c["type"] == "Complete" for c in job["status"]["conditions"])

    second = deploy(project, kube, "production", "v2")
    assert (second.release.slot, second.switched) == ("green", "blue -> green")
    assert selectors(kube, ns) == dict.fromkeys(SERVICES, "green")
    deps = deployments(ns)
    assert deps["api-blue"]["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":v1")
    assert deps["api-blue"]["status"]["availableReplicas"] == 2  # the old slot stays up for rollbacks
    assert any(s.via == "api-green-preview" and s.ok for s in second.smoke)

    # The old slot still runs v1: a rollback is a switch back, after a smoke test of that slot.
    said: list[str] = []
    back = rollback.rollback(project.session(), kube, "production", progress=said.append)
    assert back.release.rollback_of == 1
    assert back.switched == "green -> blue", said
    assert "switched the public Services back to slot blue" in back.release.note, said
    assert selectors(kube, ns) == dict.fromkeys(SERVICES, "blue")
    assert back.release.images["api"] == "ghcr.io/clikd-org/api-service:v1"
    status = environment_status(project.session(), kube, "production")
    assert (status.active_slot, status.revision) == ("blue", back.release.revision)

    # Ready but failing its smoke test: the new slot (green) never goes live.
    with pytest.raises(Unhealthy) as caught:
        deploy(project, kube, "production", "unhealthy-1", smoke_timeout=2.0)
    assert "public Services were not switched" in caught.value.message
    assert selectors(kube, ns) == dict.fromkeys(SERVICES, "blue")
    assert releases.history(kube, ns)[0].status == "failed"


def _ts(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_production_migrations_expand_then_switch_then_contract(project: Project, kube: Kube) -> None:
    ns = project.namespace("production")
    result = deploy(project, kube, "production", "v1")
    expand = kube.get("Job", "migrate-r1", ns)
    contract = kube.get("Job", "migrate-r1-contract", ns)
    assert expand is not None and contract is not None
    assert expand["spec"]["template"]["spec"]["containers"][0]["command"][-2:] == ["--phase", "expand"]
    assert contract["spec"]["template"]["spec"]["containers"][0]["command"][-2:] == ["--phase", "contract"]
    assert any(c["type"] == "Complete" for c in contract["status"]["conditions"])
    # Order: expand finished, then the public Services were switched, then the contract Job was created.
    svc = kube.get("Service", "api", ns)
    assert svc is not None
    switched = max(_ts(m["time"]) for m in svc["metadata"]["managedFields"] if m.get("manager") == "clikd")
    expand_done = _ts(expand["status"]["completionTime"])
    contract_created = _ts(contract["metadata"]["creationTimestamp"])
    assert expand_done <= switched <= contract_created
    assert result.applied.index("Job/migrate-r1") < result.applied.index("Service/api -> blue")
    assert result.applied.index("Service/api -> blue") < result.applied.index("Job/migrate-r1-contract")
    recorded = releases.history(kube, ns)[0]
    assert (recorded.status, recorded.contract) == ("deployed", "completed")
    assert "contract migrations completed" in recorded.note


def test_an_idle_slot_past_the_rollback_window_is_scaled_down_and_a_rollback_brings_it_back(
    project: Project, kube: Kube, deployments: Callable[[str], dict[str, Any]]
) -> None:
    ns = project.namespace("production")
    deploy(project, kube, "production", "v1")
    second = deploy(project, kube, "production", "v2")
    assert second.switched == "blue -> green"
    deps = deployments(ns)
    assert slots.IDLE_SINCE in deps["api-blue"]["metadata"]["annotations"]
    assert slots.IDLE_SINCE not in deps["api-green"]["metadata"].get("annotations", {})

    # Inside the window (the default, an hour) status leaves the idle slot up.
    assert environment_status(project.session(), kube, "production").scaled_down == []
    assert deployments(ns)["api-blue"]["spec"]["replicas"] == 2

    time.sleep(1.5)
    status = environment_status(project.session(rollback_window=1.0), kube, "production")
    assert sorted(status.scaled_down) == sorted(f"{s}-blue" for s in SERVICES)
    deps = deployments(ns)
    assert deps["api-blue"]["spec"]["replicas"] == 0
    assert deps["api-green"]["spec"]["replicas"] == 2

    # A rollback to the scaled-down slot scales it back up, waits for it, then switches.
    back = rollback.rollback(project.session(rollback_window=1.0), kube, "production")
    assert back.switched == "green -> blue"
    assert sorted(back.scaled_up) == sorted(f"{s}-blue" for s in SERVICES)
    assert selectors(kube, ns) == dict.fromkeys(SERVICES, "blue")
    deps = deployments(ns)
    assert deps["api-blue"]["status"]["availableReplicas"] == 2
    assert slots.IDLE_SINCE not in deps["api-blue"]["metadata"].get("annotations", {})
    assert slots.IDLE_SINCE in deps["api-green"]["metadata"]["annotations"]

    # The next deploy.production starts by scaling down the slot idle past the window (green).
    time.sleep(1.5)
    third = deploy(project, kube, "production", "v3", rollback_window=1.0)
    assert sorted(third.scaled_down) == sorted(f"{s}-green" for s in SERVICES)
    assert third.switched == "blue -> green"
    deps = deployments(ns)
    assert deps["api-green"]["spec"]["replicas"] == 2  # the deploy filled the slot again
    assert deps["api-green"]["status"]["availableReplicas"] == 2


def test_staging_rollback_reapplies_the_recorded_release(
    project: Project, kube: Kube, deployments: Callable[[str], dict[str, Any]]
) -> None:
    ns = project.namespace("staging")
    deploy(project, kube, "staging", "v1")
    deploy(project, kube, "staging", "v2")
    back = rollback.rollback(project.session(), kube, "staging", to=1)
    assert back.release.rollback_of == 1
    assert back.release.revision == 3
    for name, dep in deployments(ns).items():
        assert (
            dep["spec"]["template"]["spec"]["containers"][0]["image"]
            == f"ghcr.io/clikd-org/{SHIPPED_IMAGE[name]}:v1"
        )


def _lease(kube: Kube, ns: str, holder: str, renewed: dt.datetime, ttl: int) -> None:
    stamp = renewed.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    kube.apply(
        {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": lock.LEASE, "namespace": ns},
            "spec": {"holderIdentity": holder, "leaseDurationSeconds": ttl, "renewTime": stamp},
        }
    )


def test_the_lock_of_a_dead_run_is_taken_over_and_a_live_one_refused(project: Project, kube: Kube) -> None:
    ns = project.namespace("staging")
    now = dt.datetime.now(dt.UTC)
    _lease(kube, ns, "ci@runner-7 pid 4242 deploy (killed)", now - dt.timedelta(minutes=10), 30)
    result = deploy(project, kube, "staging", "v1")
    assert result.took_over_lock is not None
    assert "ci@runner-7 pid 4242" in result.took_over_lock
    held = lock.read(kube, ns)
    assert held is not None and held.holder is None  # released at the end

    _lease(kube, ns, "alice@laptop pid 1 deploy", now, 300)
    with pytest.raises(Conflict) as caught:
        deploy(project, kube, "staging", "v2")
    assert caught.value.exit_code == ExitCode.CONFLICT
    assert "alice@laptop" in caught.value.message
    assert releases.history(kube, ns)[0].tag == "v1"  # nothing was deployed


def _inv(project: Project, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "CLIKD_DEPLOYMENT__NAMESPACE_PREFIX": project.prefix,
        "CLIKD_DEPLOYMENT__KUBECONFIG": str(KUBECONFIG),
        "CLIKD_DEPLOYMENT__KUBE_CONTEXT": "clikd-test",
        "CLIKD_BRANCH": "main",
    }
    env.pop("CLIKD_NO_PROMPT", None)
    return run_inv(project, env, *args, timeout=120)


def test_production_without_a_terminal_needs_yes_and_the_typed_name(project: Project, kube: Kube) -> None:
    bare = _inv(project, "deploy.production", "--tag", "v1")
    assert bare.returncode == ExitCode.CONFIRMATION, bare.stderr
    assert "--yes --confirm=production" in bare.stderr
    only_yes = _inv(project, "deploy.production", "--tag", "v1", "--yes")
    assert only_yes.returncode == ExitCode.CONFIRMATION
    wrong = _inv(project, "deploy.production", "--tag", "v1", "--yes", "--confirm=staging", "--force")
    assert wrong.returncode == ExitCode.CONFIRMATION, wrong.stderr
    assert "does not match 'production'" in wrong.stderr
    assert kube.get("Namespace", project.namespace("production")) is None or not releases.history(
        kube, project.namespace("production")
    )

    done = _inv(
        project, "deploy.production", "--tag", "v1", "--yes", "--confirm=production", "--force", "--json"
    )
    assert done.returncode == 0, done.stderr
    assert '"revision": 1' in done.stdout
    assert selectors(kube, project.namespace("production")) == dict.fromkeys(SERVICES, "blue")


def _wizard(project: Project, *args: str) -> pexpect.spawn:
    env = {
        **os.environ,
        "CLIKD_DEPLOYMENT__NAMESPACE_PREFIX": project.prefix,
        "CLIKD_DEPLOYMENT__KUBECONFIG": str(KUBECONFIG),
        "CLIKD_DEPLOYMENT__KUBE_CONTEXT": "clikd-test",
        "CLIKD_BRANCH": "main",
        "TERM": "xterm",
    }
    for name in ("CLIKD_NO_PROMPT", "CI"):
        env.pop(name, None)
    return pexpect.spawn(
        str(REPO / ".venv" / "bin" / "clikd"),
        ["deploy.production", *args],
        cwd=str(project.root),
        env=env,
        encoding="utf-8",
        timeout=90,
        dimensions=(50, 200),
    )


def _through_the_checks(child: pexpect.spawn, project: Project) -> None:
    """The wizard shows the target and the checks, then asks; answer yes and reach the typed name."""
    child.expect(f"namespace {project.namespace('production')}")
    child.expect("deploying to blue")
    child.expect("pre-deployment checks")
    child.expect("git tree clean")
    child.expect("Deploy v1 to production")
    child.send("y")
    child.expect("Type 'production' to confirm")


def test_the_production_wizard_in_a_terminal_wants_the_environment_typed(
    project: Project, kube: Kube
) -> None:
    ns = project.namespace("production")
    wrong = _wizard(project, "--tag", "v1")
    _through_the_checks(wrong, project)
    wrong.sendline("staging")
    wrong.expect("'staging' is not 'production'; nothing was changed")
    wrong.expect(pexpect.EOF)
    wrong.close()
    assert wrong.exitstatus == ExitCode.CONFIRMATION
    assert kube.get("Namespace", ns) is None  # nothing was applied

    right = _wizard(project, "--tag", "v1")
    _through_the_checks(right, project)
    right.sendline("production")
    right.expect("production revision 1")
    right.expect("public Services switched")
    right.expect(pexpect.EOF)
    right.close()
    assert right.exitstatus == 0, right.before
    assert selectors(kube, ns) == dict.fromkeys(SERVICES, "blue")
    assert releases.history(kube, ns)[0].status == "deployed"


def test_a_preview_gets_the_branch_namespace_with_an_expiry_and_is_swept(
    project: Project, kube: Kube
) -> None:
    from tasks.core.deploy import status as previews

    session = project.session(branch="feature/Login Page")
    plan = previews.preview_plan(session, kube, tag="v1")
    ns = plan.target.namespace
    assert ns == session.ident.namespace(project.prefix)
    result = previews.preview_deploy(session, kube, plan, timeout=60)
    assert result.deploy is not None and result.deploy.release.status == "deployed"
    labels = kube.get("Namespace", ns)["metadata"]["labels"]  # type: ignore[index]
    assert labels["dev.clikd/preview"] == "true"
    assert result.expires is not None
    assert int(labels["dev.clikd/expires-at"]) == int(result.expires.timestamp())

    assert ns not in previews.preview_sweep(kube).deleted  # not expired yet
    later = result.expires + dt.timedelta(seconds=1)
    assert ns in previews.preview_sweep(kube, now=later).deleted
    gone = kube.get("Namespace", ns)
    assert gone is None or gone["metadata"].get("deletionTimestamp")
