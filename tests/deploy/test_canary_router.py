"""The canary router on the real test control plane (tests/infra/k8s/up, which installs the Gateway API
CRDs through tests/infra/k8s/gateway-api).

"Without the CRDs" is a real cluster state: the test deletes the CRDs and applies them again. It runs in
the same xdist group as every other test here (and the deploy control-plane tests), so no test that
needs the CRDs runs at the same time on another worker.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator

import pytest

from tasks.core.deploy.canary.router import (
    GatewayRef,
    GatewayRouter,
    ReplicaRouter,
    Weights,
    detect,
)
from tasks.core.deploy.kube import Kube
from tasks.core.errors import ConfigError
from tests.deploy.conftest import REPO

pytestmark = [pytest.mark.testbed, pytest.mark.xdist_group("k8s")]
SCRIPT = REPO / "tests" / "infra" / "k8s" / "gateway-api"
SERVICES = {"api": {"http": 8080, "grpc": 9090}, "studio": {"http": 3000}}


def crds(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, check=False, env=os.environ)


@pytest.fixture
def namespace(kube: Kube) -> Iterator[str]:
    """A namespace with each service's two slot Deployments, preview Services and public Service."""
    ns = f"t{uuid.uuid4().hex[:8]}-production"
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    for name, ports in SERVICES.items():
        spec_ports = [{"name": p, "port": n, "targetPort": p} for p, n in ports.items()]
        for slot in ("blue", "green"):
            labels = {"app.kubernetes.io/name": name, "dev.clikd/slot": slot}
            kube.apply(
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "metadata": {"name": f"{name}-{slot}", "namespace": ns},
                    "spec": {
                        "replicas": 4 if slot == "blue" else 0,
                        "selector": {"matchLabels": labels},
                        "template": {
                            "metadata": {"labels": labels},
                            "spec": {"containers": [{"name": name, "image": "example.invalid/x:1"}]},
                        },
                    },
                }
            )
            kube.apply(
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": {"name": f"{name}-{slot}-preview", "namespace": ns},
                    "spec": {"selector": labels, "ports": spec_ports},
                }
            )
        kube.apply(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": name, "namespace": ns},
                "spec": {
                    "selector": {"app.kubernetes.io/name": name, "dev.clikd/slot": "blue"},
                    "ports": spec_ports,
                },
            }
        )
    yield ns
    kube.delete("Namespace", ns)


def test_crd_install_is_idempotent_and_detected(kube: Kube) -> None:
    for _ in range(2):
        done = crds()
        assert done.returncode == 0, done.stderr
    assert "already Established" in done.stderr
    assert detect(kube, "auto", refresh=True) == "gateway"
    assert detect(kube, "gateway") == "gateway"
    assert detect(kube, "replicas") == "replicas"


def test_gateway_weights(kube: Kube, namespace: str) -> None:
    router = GatewayRouter(
        kube, namespace, SERVICES, stable="blue", canary="green", gateway=GatewayRef.parse("infra/edge")
    )
    keys = {"HTTPRoute/api", "GRPCRoute/api", "HTTPRoute/studio"}
    for w in (10, 25, 50, 100):
        applied = router.set_weight(w)
        assert applied == dict.fromkeys(keys, Weights(100 - w, w))
        assert router.weights() == applied
    route = kube.get("GRPCRoute", "api", namespace)
    assert route is not None
    assert route["spec"]["parentRefs"][0]["name"] == "edge"
    assert [r["port"] for r in route["spec"]["rules"][0]["backendRefs"]] == [9090, 9090]
    assert router.set_stable() == dict.fromkeys(keys, Weights(100, 0))
    assert router.weights() == dict.fromkeys(keys, Weights(100, 0))


def test_replica_router(kube: Kube, namespace: str) -> None:
    router = ReplicaRouter(kube, namespace, SERVICES, stable="blue", canary="green", total=4)
    expect = {10: (3, 1, None, 25), 25: (3, 1, None, 25), 50: (2, 2, None, 50), 100: (0, 4, "green", 100)}
    for w, (stable, canary, slot, real) in expect.items():
        got = router.set_weight(w)
        for name in SERVICES:
            assert got[f"Service/{name}"] == Weights(100 - real, real)
            blue = kube.get("Deployment", f"{name}-blue", namespace)
            green = kube.get("Deployment", f"{name}-green", namespace)
            assert blue and green
            assert (blue["spec"]["replicas"], green["spec"]["replicas"]) == (stable, canary)
            svc = kube.get("Service", name, namespace)
            assert svc and svc["spec"]["selector"].get("dev.clikd/slot") == slot
    assert "coarse and per connection" in router.describe([10])[0]
    assert "1 of 4 replicas = 25 %" in router.describe([10])[1]
    router.set_weight(25)
    assert router.set_stable() == {f"Service/{n}": Weights(100, 0) for n in SERVICES}
    for name in SERVICES:
        blue = kube.get("Deployment", f"{name}-blue", namespace)
        green = kube.get("Deployment", f"{name}-green", namespace)
        svc = kube.get("Service", name, namespace)
        assert blue and green and svc
        assert (blue["spec"]["replicas"], green["spec"]["replicas"]) == (4, 0)
        assert svc["spec"]["selector"]["dev.clikd/slot"] == "blue"


def test_without_the_crds(kube: Kube) -> None:
    gone = crds("--delete")
    assert gone.returncode == 0, gone.stderr
    try:
        assert detect(kube, "auto", refresh=True) == "replicas"
        with pytest.raises(ConfigError) as err:
            detect(kube, "gateway")
        assert "Gateway API CRDs" in err.value.message
        assert err.value.hint and 'router = "replicas"' in err.value.hint
    finally:
        back = crds()
        assert back.returncode == 0, back.stderr
    assert detect(kube, "auto", refresh=True) == "gateway"
