"""gRPC health probes: the standard grpc.health.v1 ``Check`` against a service's ``grpc`` port.

A service that publishes a port named ``grpc`` is healthy only when its own probe passes (HTTP
``/health`` as a rule) and this Check answers SERVING; ``[services.NAME.health] grpc = false``
leaves the port unprobed, for a gRPC server without the health service.

A Check goes over grpc_wire.py first: one plain HTTP/2 exchange that reads the answer's message.
grpcio (60-80 ms of CPU to import, its Cython core brings asyncio, and its first channel another
50-70 ms) is imported only when that exchange cannot give the answer exactly (an error status in
trailers, a reset stream, a peer that is not HTTP/2): then grpcio asks again and its error is the
one described. A serving stack, the everyday case, never loads it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from tasks.core.stack import grpc_wire

SERVING = "SERVING"
HEALTH_SERVICE = "grpc.health.v1.Health"


@dataclass(frozen=True)
class GrpcHealth:
    """The answer to one Check: SERVING or not, the status it named, else why there was none."""

    port: int
    serving: bool
    status: str  # SERVING, NOT_SERVING, SERVICE_UNKNOWN, UNKNOWN; "" when the call itself failed
    error: str = ""  # for a person: why it is not serving
    ms: float = 0.0


def _modules() -> tuple[ModuleType, ModuleType, ModuleType]:
    """grpc, health_pb2 and health_pb2_grpc (a thread that finds one half-imported waits for it)."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    return grpc, health_pb2, health_pb2_grpc


def probe(host: str, port: int, timeout: float = 2.0, *, service: str = "") -> GrpcHealth:
    """One Check of ``service`` ("" = the server as a whole); never raises for a failed one."""
    began = time.perf_counter()
    try:
        status = grpc_wire.check(host, port, timeout, service)
    except grpc_wire.Refused:
        return GrpcHealth(port, False, "", "connection refused (UNAVAILABLE)", _since(began))
    except grpc_wire.TimedOut:
        why = f"no answer within {timeout:g}s (DEADLINE_EXCEEDED)"
        return GrpcHealth(port, False, "", why, _since(began))
    if status is not None:
        serving = status == SERVING
        return GrpcHealth(port, serving, status, "" if serving else f"answered {status}", _since(began))
    return _probe_with_grpcio(host, port, timeout, service)


def _probe_with_grpcio(host: str, port: int, timeout: float, service: str) -> GrpcHealth:
    """The same Check through grpcio, for the answers only it can put in words."""
    try:
        grpc, pb2, pb2_grpc = _modules()
    except ImportError as exc:
        why = f"cannot probe gRPC health: {exc} (install grpcio-health-checking)"
        return GrpcHealth(port, False, "", why)
    began = time.perf_counter()  # the Check's latency, not the import's
    # No retries and no waiting for the channel: a refused connection is an answer, at once.
    channel = grpc.insecure_channel(f"{host}:{port}", options=[("grpc.enable_retries", 0)])
    try:
        reply = pb2_grpc.HealthStub(channel).Check(pb2.HealthCheckRequest(service=service), timeout=timeout)
    except grpc.RpcError as exc:
        error = describe(exc, service=service, timeout=timeout)
        return GrpcHealth(port, False, "", error, _since(began))
    finally:
        channel.close()
    code = int(reply.status)
    try:
        status = str(pb2.HealthCheckResponse.ServingStatus.Name(code))
    except ValueError:  # a status newer than these stubs
        status = f"status {code}"
    serving = status == SERVING
    return GrpcHealth(port, serving, status, "" if serving else f"answered {status}", _since(began))


def _since(began: float) -> float:
    return round((time.perf_counter() - began) * 1000, 1)


def describe(exc: Any, *, service: str = "", timeout: float = 2.0) -> str:
    """A grpc.RpcError in a few words, its status code's name last."""
    code = exc.code() if callable(getattr(exc, "code", None)) else None
    name = getattr(code, "name", "") or "ERROR"
    details = str(exc.details() if callable(getattr(exc, "details", None)) else exc) or ""
    # "failed to connect to all addresses; last error: UNAVAILABLE: ipv4:127.0.0.1:9002: Socket closed"
    tail = details.rpartition("last error: ")[2].removeprefix(f"{name}: ")
    if name == "UNIMPLEMENTED":
        return f"the server does not implement {HEALTH_SERVICE} (UNIMPLEMENTED)"
    if name == "DEADLINE_EXCEEDED":
        return f"no answer within {timeout:g}s (DEADLINE_EXCEEDED)"
    if name == "NOT_FOUND":
        return f"the server does not know the service {service!r} (NOT_FOUND)"
    if "Connection refused" in tail:
        return "connection refused (UNAVAILABLE)"
    if "Socket closed" in tail or "Connection reset" in tail:
        return "the connection was closed without an HTTP/2 answer: no gRPC server there? (UNAVAILABLE)"
    return f"{tail or details or 'no details'} ({name})"


def summary(checks: Iterable[tuple[str, GrpcHealth | None]]) -> str:
    """The status line: "all serving", the services that are not, or "" with no gRPC port at all."""
    probed = [(name, health) for name, health in checks if health is not None]
    if not probed:
        return ""
    failing = [f"{name} ({health.error})" for name, health in probed if not health.serving]
    return "not serving: " + ", ".join(failing) if failing else "all serving"
