"""The test control plane itself: a real API server, with controllers and kwok behind it.

Needs tests/infra/k8s/up (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tasks.core.deploy import rollout
from tasks.core.deploy.kube import Kube

# One xdist worker runs the tests of the test bed's single Kubernetes control plane: its
# controllers and KWOK act on every namespace at once, and production slot switches are timed by them.
pytestmark = [pytest.mark.testbed, pytest.mark.xdist_group("k8s")]


@pytest.fixture
def namespace(kube: Kube) -> Iterator[str]:
    name = f"cp-{uuid.uuid4().hex[:8]}"
    kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    yield name
    kube.delete("Namespace", name)


def test_the_api_answers(kube: Kube) -> None:
    assert kube.request("GET", "/readyz", raw=True).strip() == "ok"
    version = kube.request("GET", "/version")
    assert version["gitVersion"].startswith("v1.")
    groups = {g["name"] for g in kube.request("GET", "/apis")["groups"]}
    assert {"apps", "batch", "coordination.k8s.io", "networking.k8s.io"} <= groups


def test_the_kwok_node_is_ready(kube: Kube) -> None:
    nodes = kube.list("Node")
    assert nodes, "no node: tests/infra/k8s/up creates kwok-node-0"
    ready = {}
    for n in nodes:
        conditions = {c["type"]: c["status"] for c in n["status"].get("conditions", [])}
        ready[n["metadata"]["name"]] = conditions.get("Ready")
    assert ready.get("kwok-node-0") == "True"


def test_a_deployment_rolls_out_to_available_replicas(kube: Kube, namespace: str) -> None:
    labels = {"app": "hello"}
    created = kube.create(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "hello", "namespace": namespace},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "hello", "image": "example.invalid/hello:1"}]},
                },
            },
        }
    )
    states = rollout.wait(kube, namespace, {"hello": created["metadata"]["generation"]}, timeout=60)
    assert states[0].done
    dep = kube.get("Deployment", "hello", namespace)
    assert dep is not None
    assert dep["status"]["availableReplicas"] == 3
    pods = kube.list("Pod", namespace, labels="app=hello")
    assert len(pods) == 3
    assert all(p["spec"].get("nodeName") == "kwok-node-0" for p in pods)  # the real scheduler placed them
    assert all(p["status"]["phase"] == "Running" and p["status"].get("podIP") for p in pods)
