"""The plain HTTP/2 Check (grpc_wire.py) against real grpc servers: it answers what grpcio answers,
leaves to grpcio what it cannot read exactly, and a serving check never imports grpcio."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from tasks.core.stack import grpc_health, grpc_wire
from tests.env.conftest import ROOT

ServingStatus = health_pb2.HealthCheckResponse.ServingStatus


@pytest.fixture
def server() -> Iterator[tuple[int, health.HealthServicer]]:
    made = grpc.server(ThreadPoolExecutor(max_workers=4))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, made)
    port = made.add_insecure_port("127.0.0.1:0")
    made.start()
    yield port, servicer
    made.stop(grace=None)


def _grpcio(port: int, service: str) -> str:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
    return str(ServingStatus.Name(reply.status))


@pytest.mark.parametrize("status", ["SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"])
@pytest.mark.parametrize("service", ["", "clikd.Api", "a." + "x" * 200])  # 200: a multi-byte length
def test_the_wire_answer_is_grpcios(
    server: tuple[int, health.HealthServicer], status: str, service: str
) -> None:
    port, servicer = server
    servicer.set(service, ServingStatus.Value(status))
    assert grpc_wire.check("127.0.0.1", port, 5.0, service) == _grpcio(port, service) == status


def test_what_it_cannot_read_goes_to_grpcio(server: tuple[int, health.HealthServicer]) -> None:
    port, servicer = server
    # an unknown service: an empty message (status 0) beside NOT_FOUND in the trailers, which only
    # grpcio reads; a real UNKNOWN is the same empty message and goes the same way
    assert grpc_wire.check("127.0.0.1", port, 5.0, "clikd.Nope") is None
    servicer.set("clikd.Unknown", ServingStatus.UNKNOWN)
    assert grpc_wire.check("127.0.0.1", port, 5.0, "clikd.Unknown") is None
    unknown = grpc_health.probe("127.0.0.1", port, service="clikd.Unknown")
    assert unknown.status == "UNKNOWN" and unknown.error == "answered UNKNOWN"
    found = grpc_health.probe("127.0.0.1", port, service="clikd.Nope")
    assert found.error == "the server does not know the service 'clikd.Nope' (NOT_FOUND)"


def test_refused_and_silent_ports_are_named_without_grpcio() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(grpc_wire.Refused):
        grpc_wire.check("127.0.0.1", port, 1.0)
    # a listener accepts (into its backlog) and never answers
    with socket.create_server(("127.0.0.1", 0)) as listener, pytest.raises(grpc_wire.TimedOut):
        grpc_wire.check("127.0.0.1", listener.getsockname()[1], 0.2)


def test_hpack_integers_cross_their_prefix() -> None:
    # RFC 7541 C.1.2: 1337 with a 5-bit prefix is 31, 154, 10
    assert grpc_wire.hpack_int(1337, 5) == bytes((31, 154, 10))
    assert grpc_wire.hpack_int(126, 7) == bytes((126,)) and grpc_wire.hpack_int(127, 7) == bytes((127, 0))


def test_a_serving_check_does_not_import_grpcio(server: tuple[int, health.HealthServicer]) -> None:
    port, servicer = server
    servicer.set("", ServingStatus.SERVING)
    code = (
        "import sys; from tasks.core.stack import grpc_health as g;"
        f"h = g.probe('127.0.0.1', {port}); print(h.status, 'grpc' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["SERVING", "False"]
