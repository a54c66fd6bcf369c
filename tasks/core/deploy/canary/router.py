"""The canary's traffic router: how a share of each service's traffic reaches the canary slot.

Two routers, picked by ``[deployment.production] router``:

- ``gateway``: per service an HTTPRoute ``<svc>`` (and a GRPCRoute ``<svc>`` when it has a port named
  ``grpc``) attached to the configured Gateway, whose one rule sends to the stable and the canary
  slot's preview Service (``<svc>-<slot>-preview``, rendered by the blue/green deploy) with weights
  ``(100 - w, w)``. Exact, per request. Needs the Gateway API CRDs and a Gateway implementation.
- ``replicas``: the public Service ``<svc>`` selects both slots (its slot key dropped) and the share is
  the replica ratio: the canary Deployment gets ``ceil(total * w / 100)`` replicas, the stable one the
  rest (at least 1 while w < 100). Coarse and per connection: kube-proxy picks a pod per connection, so
  the real share is the replica share (1 of 4 replicas = 25 % when 10 % was asked) and long-lived
  connections (gRPC, websockets) stay where they are.

``auto`` is ``gateway`` where the API server serves gateway.networking.k8s.io/v1 HTTPRoute, else
``replicas``. Every change is one write per object; :meth:`Router.set_stable` puts everything back on
the stable slot at once (an abort) and :meth:`Router.weights` reads the state back from the cluster.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass, field
from typing import ClassVar, Literal, Protocol

from tasks.core.deploy.kube import ApiError, Kube, Obj
from tasks.core.errors import ConfigError

RouterKind = Literal["gateway", "replicas"]
GROUP = "gateway.networking.k8s.io"
GROUP_VERSION = f"{GROUP}/v1"
ROLE = {"app.kubernetes.io/managed-by": "clikd", "dev.clikd/role": "canary-route"}
NAME_KEY = "app.kubernetes.io/name"
SLOT_KEY = "dev.clikd/slot"

_served: dict[str, bool] = {}  # API server URL -> serves HTTPRoute (discovery, once per process)


def serves_gateway_api(kube: Kube, *, refresh: bool = False) -> bool:
    """Whether the cluster serves gateway.networking.k8s.io/v1 HTTPRoute (discovery, cached)."""
    server = kube.ref.server
    if refresh or server not in _served:
        try:
            found = kube.request("GET", f"/apis/{GROUP_VERSION}")
        except ApiError as exc:
            if exc.status != 404:
                raise
            found = {}
        kinds = {r.get("kind") for r in (found or {}).get("resources", [])}
        _served[server] = "HTTPRoute" in kinds
    return _served[server]


def detect(kube: Kube, configured: str = "auto", *, refresh: bool = False) -> RouterKind:
    """The router to use: ``configured`` ("auto", "gateway", "replicas") checked against the cluster."""
    if configured == "replicas":
        return "replicas"
    if serves_gateway_api(kube, refresh=refresh):
        return "gateway"
    if configured == "gateway":
        raise ConfigError(
            f'router = "gateway", but the cluster at {kube.ref.server} does not serve '
            f"{GROUP_VERSION} HTTPRoute (the Gateway API CRDs are not installed)",
            hint="install the Gateway API CRDs (standard channel) and a Gateway implementation, or set "
            '[deployment.production] router = "replicas" (or "auto")',
        )
    return "replicas"


@dataclass(frozen=True)
class GatewayRef:
    """The Gateway the routes attach to; namespace None is the routes' own namespace."""

    name: str
    namespace: str | None = None

    @classmethod
    def parse(cls, text: str) -> GatewayRef:
        namespace, _, name = text.rpartition("/")
        return cls(name=name, namespace=namespace or None)

    def parent_ref(self) -> Obj:
        ref: Obj = {"group": GROUP, "kind": "Gateway", "name": self.name}
        if self.namespace:
            ref["namespace"] = self.namespace
        return ref


@dataclass(frozen=True)
class Weights:
    """A share of one route's (or Service's) traffic: stable + canary = 100."""

    stable: int
    canary: int


class Router(Protocol):
    kind: RouterKind

    def set_weight(self, weight: int) -> dict[str, Weights]: ...
    def set_stable(self) -> dict[str, Weights]: ...
    def weights(self) -> dict[str, Weights]: ...
    def describe(self, steps: list[int]) -> list[str]: ...


def _http_port(ports: Mapping[str, int]) -> int:
    others = [port for name, port in ports.items() if name != "grpc"]
    if not others:
        raise ConfigError(f"a service with only a grpc port has no HTTP port to route: {dict(ports)}")
    return others[0]


@dataclass
class _Slots:
    """What both routers act on: a namespace's services (name -> named ports) and the two slots."""

    kube: Kube
    namespace: str
    services: Mapping[str, Mapping[str, int]]
    _: KW_ONLY
    stable: str
    canary: str


@dataclass
class GatewayRouter(_Slots):
    """HTTPRoute/GRPCRoute backendRef weights between the two slots' preview Services."""

    kind: ClassVar[RouterKind] = "gateway"
    gateway: GatewayRef = field(kw_only=True)

    def _routes(self) -> list[tuple[str, str, int]]:
        """(kind, service, port) of every route."""
        routes = []
        for name, ports in self.services.items():
            routes.append(("HTTPRoute", name, _http_port(ports)))
            if "grpc" in ports:
                routes.append(("GRPCRoute", name, ports["grpc"]))
        return routes

    def _route(self, kind: str, name: str, port: int, weight: int) -> Obj:
        def ref(slot: str, share: int) -> Obj:
            return {"kind": "Service", "name": f"{name}-{slot}-preview", "port": port, "weight": share}

        return {
            "apiVersion": GROUP_VERSION,
            "kind": kind,
            "metadata": {
                "name": name,
                "namespace": self.namespace,
                "labels": {**ROLE, NAME_KEY: name},
                "annotations": {"dev.clikd/stable-slot": self.stable, "dev.clikd/canary-slot": self.canary},
            },
            "spec": {
                "parentRefs": [self.gateway.parent_ref()],
                "rules": [{"backendRefs": [ref(self.stable, 100 - weight), ref(self.canary, weight)]}],
            },
        }

    def set_weight(self, weight: int) -> dict[str, Weights]:
        """One server-side apply per route; the weights the API server stored."""
        if not 0 <= weight <= 100:
            raise ValueError(f"weight {weight} is not within 0..100")
        return {
            f"{kind}/{name}": self._read(self.kube.apply(self._route(kind, name, port, weight)))
            for kind, name, port in self._routes()
        }

    def set_stable(self) -> dict[str, Weights]:
        return self.set_weight(0)

    def _read(self, route: Obj | None) -> Weights:
        if route is None:
            return Weights(100, 0)  # no route yet: the public Service (stable) has all traffic
        shares = {self.stable: 0, self.canary: 0}
        for rule in route.get("spec", {}).get("rules", []):
            for ref in rule.get("backendRefs", []):
                for slot in shares:
                    if ref.get("name", "").endswith(f"-{slot}-preview"):
                        shares[slot] += int(ref.get("weight", 1))
        total = sum(shares.values()) or 1
        canary = round(100 * shares[self.canary] / total)
        return Weights(100 - canary, canary)

    def weights(self) -> dict[str, Weights]:
        return {
            f"{kind}/{name}": self._read(self.kube.get(kind, name, self.namespace))
            for kind, name, _ in self._routes()
        }

    def describe(self, steps: list[int]) -> list[str]:
        where = f"{self.gateway.namespace or self.namespace}/{self.gateway.name}"
        return [
            f"router: Gateway API (HTTPRoute per service, GRPCRoute for grpc ports) on Gateway {where}; "
            "backendRef weights, exact and per request",
            "weights: " + ", ".join(f"{w} %" for w in steps),
        ]


def replica_split(total: int, weight: int) -> tuple[int, int]:
    """(stable, canary) replicas for ``weight`` % of ``total``: the canary ceil(total * w / 100),
    the stable the rest but at least 1 while w < 100; w = 100 moves all of them."""
    if weight >= 100:
        return 0, total
    if weight <= 0:
        return total, 0
    canary = math.ceil(total * weight / 100)
    return max(1, total - canary), canary


@dataclass
class ReplicaRouter(_Slots):
    """A replica ratio between the slots behind one public Service (coarse, per connection)."""

    kind: ClassVar[RouterKind] = "replicas"
    total: int = field(kw_only=True)

    def __post_init__(self) -> None:
        self.total = max(1, self.total)

    def _scale(self, name: str, slot: str, replicas: int) -> None:
        self.kube.patch("Deployment", f"{name}-{slot}", self.namespace, {"spec": {"replicas": replicas}})

    def _select(self, name: str, slot: str | None) -> None:
        annotations = {"dev.clikd/active-slot": slot or self.stable}
        self.kube.patch(
            "Service",
            name,
            self.namespace,
            {
                "metadata": {"annotations": annotations},
                "spec": {"selector": {NAME_KEY: name, SLOT_KEY: slot}},
            },
        )

    def set_weight(self, weight: int) -> dict[str, Weights]:
        """Scale both slots to the split, then point the Service: both slots, or the canary at 100."""
        stable, canary = replica_split(self.total, weight)
        for name in self.services:
            # Grow before shrinking, so the Service never has fewer ready pods than needed.
            if weight >= 100:
                self._scale(name, self.canary, canary)
                self._select(name, self.canary)
                self._scale(name, self.stable, stable)
            elif weight <= 0:
                self._scale(name, self.stable, stable)
                self._select(name, self.stable)
                self._scale(name, self.canary, canary)
            else:
                self._scale(name, self.canary, canary)
                self._scale(name, self.stable, stable)
                self._select(name, None)
        return self.weights()

    def set_stable(self) -> dict[str, Weights]:
        """An abort: the Service on the stable slot first (traffic off the canary at once), the stable
        Deployment at full replicas, the canary at 0."""
        for name in self.services:
            self._select(name, self.stable)
            self._scale(name, self.stable, self.total)
            self._scale(name, self.canary, 0)
        return self.weights()

    def weights(self) -> dict[str, Weights]:
        result = {}
        for name in self.services:
            svc = self.kube.get("Service", name, self.namespace) or {}
            slot = svc.get("spec", {}).get("selector", {}).get(SLOT_KEY)
            if slot == self.stable or not svc:
                result[f"Service/{name}"] = Weights(100, 0)
                continue
            if slot == self.canary:
                result[f"Service/{name}"] = Weights(0, 100)
                continue
            counts = []
            for s in (self.stable, self.canary):
                dep = self.kube.get("Deployment", f"{name}-{s}", self.namespace) or {}
                counts.append(int(dep.get("spec", {}).get("replicas", 0)))
            canary = round(100 * counts[1] / (sum(counts) or 1))
            result[f"Service/{name}"] = Weights(100 - canary, canary)
        return result

    def describe(self, steps: list[int]) -> list[str]:
        reached = []
        for w in steps:
            stable, canary = replica_split(self.total, w)
            real = round(100 * canary / (stable + canary))
            reached.append(f"{w} % -> {canary} of {stable + canary} replicas = {real} %")
        return [
            "router: replica ratio between the two slots behind one Service (no Gateway API in the "
            "cluster); coarse and per connection: the share is the canary's share of the replicas, "
            "and long-lived connections stay on the pod they opened on",
            "weights: " + "; ".join(reached),
        ]


def make_router(
    kube: Kube,
    configured: str,
    namespace: str,
    services: Mapping[str, Mapping[str, int]],
    *,
    stable: str,
    canary: str,
    total: int,
    gateway: str,
) -> GatewayRouter | ReplicaRouter:
    """The router ``configured`` resolves to on this cluster (see :func:`detect`)."""
    if detect(kube, configured) == "gateway":
        return GatewayRouter(
            kube, namespace, services, stable=stable, canary=canary, gateway=GatewayRef.parse(gateway)
        )
    return ReplicaRouter(kube, namespace, services, stable=stable, canary=canary, total=total)
