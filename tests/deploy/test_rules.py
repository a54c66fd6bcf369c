"""kubectl's rollout rule and the manifest rendering, without a cluster.

The rule cases follow kubectl's own table (kubernetes/kubectl pkg/polymorphichelpers/rollout_status_test.go).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tasks.core.deploy.render import Layout, Renderer, release_input, repository, target_for
from tasks.core.deploy.rollout import deployment_state, pod_problem
from tasks.core.session import Session

REPO = Path(__file__).resolve().parents[2]


def dep(  # noqa: PLR0917  (one column per field of kubectl's table)
    generation: int, observed: int, replicas: int, updated: int, total: int, available: int, **kw: Any
) -> Any:
    return {
        "metadata": {"name": "api", "generation": generation},
        "spec": {"replicas": replicas},
        "status": {
            "observedGeneration": observed,
            "updatedReplicas": updated,
            "replicas": total,
            "availableReplicas": available,
            "conditions": kw.get("conditions", []),
        },
    }


@pytest.mark.parametrize(
    ("d", "done", "message"),
    [
        (dep(1, 0, 1, 0, 0, 0), False, "waiting for deployment 'api' spec update to be observed"),
        (dep(2, 2, 3, 1, 1, 0), False, "1 out of 3 new replicas have been updated"),
        (dep(2, 2, 2, 2, 3, 2), False, "1 old replicas are pending termination"),
        (dep(2, 2, 2, 2, 2, 1), False, "1 of 2 updated replicas are available"),
        (dep(2, 2, 2, 2, 2, 2), True, "deployment 'api' successfully rolled out"),
        (dep(3, 3, 0, 0, 0, 0), True, "deployment 'api' successfully rolled out"),
    ],
)
def test_kubectl_rollout_rule(d: Any, done: bool, message: str) -> None:
    state = deployment_state(d)
    assert (state.done, state.message, state.failed) == (done, message, False)


def test_progress_deadline_exceeded_fails_at_once() -> None:
    cond = {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}
    state = deployment_state(dep(2, 2, 2, 1, 3, 2, conditions=[cond]))
    assert state.failed
    assert not state.done
    assert "exceeded its progress deadline" in state.message


def test_a_generation_from_the_apply_response_is_waited_for() -> None:
    assert not deployment_state(dep(2, 2, 2, 2, 2, 2), min_generation=3).done


def test_pod_reasons() -> None:
    pod = {
        "metadata": {"name": "api-1"},
        "status": {
            "phase": "Pending",
            "containerStatuses": [
                {
                    "name": "api",
                    "ready": False,
                    "state": {"waiting": {"reason": "ImagePullBackOff", "message": "m"}},
                }
            ],
            "conditions": [
                {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/1"}
            ],
        },
    }
    problem = pod_problem(pod)
    assert problem.reasons == ["api: ImagePullBackOff (m)", "Unschedulable: 0/1"]


def test_repository_keeps_a_registry_port() -> None:
    assert repository("ghcr.io/clikd-org/api:latest") == "ghcr.io/clikd-org/api"
    assert repository("127.0.0.1:5000/clikd/api:1@sha256:abc") == "127.0.0.1:5000/clikd/api"
    assert repository("api") == "api"


def test_rendering_for_each_environment() -> None:
    session = Session(cwd=REPO, branch="feature/x", overrides={"deployment": {"namespace_prefix": "clikd"}})
    settings = session.config.settings
    layout = Layout(REPO)
    release = release_input(settings, branch="feature/x", commit="0123456789abcdef", tag=None)
    assert release.tag == "0123456789ab"
    staging = Renderer(settings, layout, target_for(settings, layout, "staging"), release)
    objects = staging.workload()
    names = [o["metadata"]["name"] for o in objects if o["kind"] == "Deployment"]
    assert names == ["auth", "api", "realtime", "media", "studio"]
    api = next(o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "api")
    assert api["metadata"]["namespace"] == "clikd-staging"
    assert (
        api["spec"]["template"]["spec"]["containers"][0]["image"]
        == "ghcr.io/clikd-org/api-service:0123456789ab"
    )
    config = next(o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "api-config")
    assert config["data"]["CLIKD_BRANCH"] == "feature/x"
    assert "${" not in "".join(config["data"].values())

    production = Renderer(settings, layout, target_for(settings, layout, "production"), release)
    green = [o["metadata"]["name"] for o in production.workload("green") if o["kind"] == "Deployment"]
    assert green == ["auth-green", "api-green", "realtime-green", "media-green", "studio-green"]
    public = production.service_objects(slot="green", preview=False)
    assert {s["metadata"]["name"] for s in public} == {"auth", "api", "realtime", "media", "studio"}
    assert all(s["spec"]["selector"]["dev.clikd/slot"] == "green" for s in public)
    preview = production.service_objects(slot="blue", preview=True)
    assert {s["metadata"]["name"] for s in preview} >= {"api-blue-preview"}
    job = production.migrations_job(7, "green")
    assert job is not None
    assert job["metadata"]["name"] == "migrate-r7"
