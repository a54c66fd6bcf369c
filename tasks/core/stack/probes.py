"""Readiness probes run from this machine: an answer to a real request, never just an open port.

HTTP services must answer 2xx on their health path; Postgres must run ``SELECT 1``; KeyDB must
answer ``PING``; the CQL store must answer ``SELECT release_version FROM system.local``. A service
with a ``grpc`` port must also answer the grpc.health.v1 Check with SERVING (grpc_health.py).
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, replace

from tasks.core.stack import grpc_health, http1, tcp
from tasks.core.stack.grpc_health import GrpcHealth
from tasks.core.stack.spec import Probe

PROBE_TIMEOUT = 2.0  # seconds for one attempt


@dataclass(frozen=True)
class ProbeResult:
    ok: bool  # the probe of its kind passed and, with a gRPC port, its gRPC health is SERVING
    ms: float  # the probe of its kind (the gRPC check has its own)
    error: str = ""
    grpc: GrpcHealth | None = None  # the gRPC health check, when one ran
    on_grpc: bool = False  # failed on the gRPC check alone: the probe of its kind passed


def _http(p: Probe, timeout: float) -> str:
    with tcp.connect(p.host, p.port, timeout) as sock:
        host = f"{p.host}:{p.port}"
        answer = http1.exchange(
            sock, "GET", p.path, host=host, headers={"User-Agent": "clikd-probe"}, limit=600
        )
    if 200 <= answer.status < 300:
        return ""
    body = answer.body.decode(errors="replace").strip()
    return f"GET {p.path} answered {answer.status} {answer.reason}" + (f": {body}" if body else "")


def _tcp(p: Probe, timeout: float) -> str:
    with tcp.connect(p.host, p.port, timeout):
        return ""


def _postgres(p: Probe, timeout: float) -> str:
    from tasks.core.stack.pgwire import Connection

    with Connection(p.host, p.port, user=p.user or "postgres", password=p.password, timeout=timeout) as conn:
        rows = conn.query("SELECT 1")
        return "" if rows == [("1",)] else f"SELECT 1 returned {rows!r}"


def _resp(*parts: str) -> bytes:
    out = f"*{len(parts)}\r\n"
    for part in parts:
        out += f"${len(part.encode())}\r\n{part}\r\n"
    return out.encode()


def _redis(p: Probe, timeout: float) -> str:
    """AUTH (when configured) and PING in the Redis protocol (redis-py costs more to import than this)."""
    with tcp.connect(p.host, p.port, timeout) as sock:
        request = (
            (_resp("AUTH", p.user, p.password) if p.user else _resp("AUTH", p.password))
            if p.password
            else b""
        )
        sock.sendall(request + _resp("PING"))
        answer = b""
        want = 2 if p.password else 1
        while answer.count(b"\r\n") < want:
            chunk = sock.recv(4096)
            if not chunk:
                return "the server closed the connection"
            answer += chunk
        lines = answer.split(b"\r\n")
        for line in lines[:want]:
            if line.startswith(b"-"):
                return line[1:].decode(errors="replace")
        return "" if lines[want - 1] == b"+PONG" else f"PING answered {lines[want - 1]!r}"


def _cql(p: Probe, timeout: float) -> str:
    from tasks.core.stack.cql import Connection

    with Connection(p.host, p.port, user=p.user, password=p.password, timeout=timeout) as conn:
        rows = conn.query("SELECT release_version FROM system.local")
        return "" if rows and rows.rows else "system.local returned no row"


_KINDS = {"http": _http, "tcp": _tcp, "postgres": _postgres, "redis": _redis, "cql": _cql}


def run_probe(p: Probe, timeout: float = PROBE_TIMEOUT, *, grpc: bool = True) -> ProbeResult:
    """One attempt, then the gRPC check; never raises for a failed probe (its error says why).

    The gRPC check runs once the probe of its kind passed, unless ``grpc`` is off (env.status runs
    it beside the probe instead, to show both).
    """
    if p.kind == "none":
        result = ProbeResult(True, 0.0)
    else:
        began = time.perf_counter()
        try:
            error = _KINDS[p.kind](p, timeout)
        except Exception as exc:  # any failure of the peer is a failed probe, described
            error = _describe(exc)
        result = ProbeResult(not error, (time.perf_counter() - began) * 1000, error)
    if not grpc or not p.grpc_port or not result.ok:  # a service not up yet: no gRPC call to wait on
        return result
    return with_grpc(result, p, run_grpc(p, timeout))


def run_grpc(p: Probe, timeout: float = PROBE_TIMEOUT) -> GrpcHealth:
    """The grpc.health.v1 Check of the probe's gRPC port."""
    return grpc_health.probe(p.host, p.grpc_port, timeout)


def with_grpc(result: ProbeResult, p: Probe, health: GrpcHealth | None) -> ProbeResult:
    """``result`` with the gRPC check: a passing probe fails when gRPC health is not SERVING."""
    if health is None:
        return result
    if health.serving or not result.ok:  # a failing probe keeps its own error; the check is shown
        return replace(result, grpc=health)
    error = f"gRPC health ({p.host}:{p.grpc_port}): {health.error}"
    return ProbeResult(False, result.ms, error, health, on_grpc=True)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__
