"""gRPC health: the probe against real grpc servers, the reference service's own Health service,
and env.start / env.status on the test bed with one service answering NOT_SERVING.

The probe tests start real servers in the test process (grpcio-health-checking's own HealthServicer,
a grpc server without it, a plain TCP listener) and need no test bed; the rest is marked ``testbed``.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from tasks.core.stack import grpc_health
from tasks.core.stack.grpc_health import GrpcHealth
from tasks.core.stack.probes import run_probe
from tasks.core.stack.spec import Probe
from tests.env.conftest import ROOT, Branches, base_env, clikd, write_config

REFSERVICE = ROOT / "tests" / "infra" / "refservice" / "refservice.py"
ServingStatus = health_pb2.HealthCheckResponse.ServingStatus


# --------------------------------------------------------------------------- real servers in the test


class Server:
    """A grpc server on a free loopback port, stopped by the fixture."""

    def __init__(self, *, with_health: bool = True) -> None:
        self.server = grpc.server(ThreadPoolExecutor(max_workers=4))
        self.health = health.HealthServicer()
        if with_health:
            health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    def set(self, service: str, status: int) -> None:
        self.health.set(service, status)


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    made: list[Server] = []
    yield made
    for server in made:
        server.server.stop(grace=None)


def _server(servers: list[Server], **kw: Any) -> Server:
    server = Server(**kw)
    servers.append(server)
    return server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_serving_server_is_serving(servers: list[Server]) -> None:
    server = _server(servers)
    server.set("", ServingStatus.SERVING)
    found = grpc_health.probe("127.0.0.1", server.port)
    assert found.serving and found.status == "SERVING" and found.error == "" and found.port == server.port
    assert found.ms > 0


def test_not_serving_and_an_unknown_service_are_not_serving_and_say_why(servers: list[Server]) -> None:
    server = _server(servers)
    server.set("", ServingStatus.NOT_SERVING)
    server.set("clikd.Api", ServingStatus.SERVING)
    found = grpc_health.probe("127.0.0.1", server.port)
    assert not found.serving and found.status == "NOT_SERVING" and found.error == "answered NOT_SERVING"
    assert grpc_health.probe("127.0.0.1", server.port, service="clikd.Api").serving
    unknown = grpc_health.probe("127.0.0.1", server.port, service="clikd.Nope")
    assert not unknown.serving and unknown.status == ""
    assert unknown.error == "the server does not know the service 'clikd.Nope' (NOT_FOUND)"


def test_nothing_listening_is_connection_refused() -> None:
    found = grpc_health.probe("127.0.0.1", _free_port())
    assert not found.serving and found.status == "" and found.error == "connection refused (UNAVAILABLE)"


def test_a_grpc_server_without_the_health_service_is_unimplemented(servers: list[Server]) -> None:
    server = _server(servers, with_health=False)
    found = grpc_health.probe("127.0.0.1", server.port)
    assert not found.serving
    assert found.error == "the server does not implement grpc.health.v1.Health (UNIMPLEMENTED)"


def test_a_listener_that_does_not_speak_http2_is_named() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        stop = threading.Event()

        def accept_and_close() -> None:
            while not stop.is_set():
                try:
                    conn, _ = listener.accept()
                except OSError:  # the listener closed under it: the test is over
                    return
                conn.close()

        threading.Thread(target=accept_and_close, daemon=True).start()
        found = grpc_health.probe("127.0.0.1", listener.getsockname()[1])
        stop.set()
    assert not found.serving and "no gRPC server there?" in found.error and "UNAVAILABLE" in found.error


def test_a_server_that_never_answers_runs_into_the_deadline() -> None:
    release = threading.Event()

    def stuck(_request: bytes, _context: Any) -> bytes:
        release.wait(30)
        return b""

    handler = grpc.method_handlers_generic_handler(
        grpc_health.HEALTH_SERVICE, {"Check": grpc.unary_unary_rpc_method_handler(stuck)}
    )
    server = grpc.server(ThreadPoolExecutor(max_workers=2), handlers=(handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        found = grpc_health.probe("127.0.0.1", port, timeout=0.3)
    finally:
        release.set()
        server.stop(grace=None)
    assert not found.serving and found.error == "no answer within 0.3s (DEADLINE_EXCEEDED)"


def test_a_passing_probe_fails_on_grpc_health_alone(servers: list[Server]) -> None:
    server = _server(servers)
    server.set("", ServingStatus.NOT_SERVING)
    # the service's own probe (a TCP connect to the same port) passes; its gRPC health does not
    probe = Probe("tcp", "127.0.0.1", server.port, grpc_port=server.port)
    result = run_probe(probe)
    assert not result.ok and result.on_grpc and result.grpc is not None
    assert result.error == f"gRPC health (127.0.0.1:{server.port}): answered NOT_SERVING"
    server.set("", ServingStatus.SERVING)
    serving = run_probe(probe)
    assert (
        serving.ok and not serving.on_grpc and serving.grpc is not None and serving.grpc.status == "SERVING"
    )
    # a probe that fails on its own keeps its own error, and no gRPC call waits on a service not up
    down = run_probe(Probe("tcp", "127.0.0.1", _free_port(), grpc_port=server.port))
    assert not down.ok and not down.on_grpc and down.grpc is None and down.error == "connection refused"


def test_the_summary_line() -> None:
    ok, bad = GrpcHealth(1, True, "SERVING"), GrpcHealth(2, False, "NOT_SERVING", "answered NOT_SERVING")
    assert grpc_health.summary([("studio", None)]) == ""
    assert grpc_health.summary([("auth", ok), ("studio", None)]) == "all serving"
    assert grpc_health.summary([("auth", ok), ("media", bad)]) == "not serving: media (answered NOT_SERVING)"


# --------------------------------------------------------------------------- the reference service


class RefService:
    """tests/infra/refservice/refservice.py on this machine, ready once it logged "listening"."""

    def __init__(self, grpc_mode: str, *, without_grpcio: bool = False) -> None:
        self.grpc_port = http_port = _free_port()
        while http_port == self.grpc_port:  # two free ports, not the same one twice
            http_port = _free_port()
        env = {
            "PATH": "/usr/bin:/bin",
            "PORT": str(http_port),
            "GRPC_PORT": str(self.grpc_port),
            "CLIKD_SERVICE": "api",
            "CLIKD_REF_LOG_RATE": "0",
            "CLIKD_REF_GRPC": grpc_mode,
        }
        # "import grpc" fails when sys.modules holds None for it: the image without python3-grpcio
        hide = "import sys; sys.modules['grpc'] = None; " if without_grpcio else ""
        code = f"{hide}import runpy, sys; sys.path.insert(0, {str(REFSERVICE.parent)!r}); "
        code += f"runpy.run_path({str(REFSERVICE)!r}, run_name='__main__')"
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.log: list[str] = []
        assert self.proc.stdout is not None
        for line in self.proc.stdout:  # the gRPC side starts before this line is written
            self.log.append(line)
            if "listening on" in line:
                return
        raise AssertionError(f"refservice ended before listening: {''.join(self.log)}")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


@pytest.fixture
def refservices() -> Iterator[list[RefService]]:
    made: list[RefService] = []
    yield made
    for ref in made:
        ref.stop()


def test_the_reference_service_serves_the_standard_protocol(refservices: list[RefService]) -> None:
    ref = RefService("serving")
    refservices.append(ref)
    assert grpc_health.probe("127.0.0.1", ref.grpc_port).serving
    assert grpc_health.probe("127.0.0.1", ref.grpc_port, service="api").serving
    unknown = grpc_health.probe("127.0.0.1", ref.grpc_port, service="media")
    assert "(NOT_FOUND)" in unknown.error
    with grpc.insecure_channel(f"127.0.0.1:{ref.grpc_port}") as channel:  # Watch, with the real stubs
        stub = health_pb2_grpc.HealthStub(channel)
        watch = stub.Watch(health_pb2.HealthCheckRequest(service=""), timeout=10)
        assert next(watch).status == ServingStatus.SERVING
        watch.cancel()
        other = stub.Watch(health_pb2.HealthCheckRequest(service="media"), timeout=10)
        assert next(other).status == ServingStatus.SERVICE_UNKNOWN
        other.cancel()


def test_the_reference_service_variants(refservices: list[RefService]) -> None:
    sick = RefService("not_serving")
    off = RefService("off")
    bare = RefService("serving", without_grpcio=True)
    refservices.extend([sick, off, bare])
    found = grpc_health.probe("127.0.0.1", sick.grpc_port)
    assert not found.serving and found.status == "NOT_SERVING"
    for plain in (off, bare):  # the accept-and-close listener of an image without grpcio
        found = grpc_health.probe("127.0.0.1", plain.grpc_port)
        assert not found.serving and "no gRPC server there?" in found.error, plain.log
    assert '"grpc":"tcp listener"' in "".join(bare.log) and "not importable" in "".join(bare.log)


# --------------------------------------------------------------------------- env.start / env.status


def _media_not_serving(tmp_path: Path, *, probe: str) -> dict[str, str]:
    """The test config with media answering NOT_SERVING; ``probe``: whose gRPC health is probed
    ("all", "not media" or "none"). The health settings do not shape the containers: a stack
    started with one config is kept as it runs under another."""

    def change(tree: dict[str, Any]) -> None:
        media = tree["services"]["media"]
        media["environment"]["CLIKD_REF_GRPC"] = "not_serving"
        for name, service in tree["services"].items():
            service["health"]["grpc"] = probe == "all" or (probe == "not media" and name != "media")
        if probe == "all":
            media["health"]["timeout"] = 6  # spent on a media that runs already, its HTTP healthy

    return base_env(write_config(tmp_path / f"{probe.replace(' ', '-')}.toml", change))


@pytest.mark.testbed
def test_a_service_whose_grpc_health_is_not_serving_is_unhealthy(branches: Branches, tmp_path: Path) -> None:
    up, env = _media_not_serving(tmp_path, probe="not media"), _media_not_serving(tmp_path, probe="all")
    branch = branches.new(env)
    first = clikd("env.start", "--branch", branch, "--json", env=up)
    assert first.code == 0, first.text
    grpc_of = {c["name"]: c["grpc"] for c in first.data["components"]}
    for name in ("auth", "api", "realtime"):
        assert grpc_of[name]["serving"] is True and grpc_of[name]["status"] == "SERVING", grpc_of
    assert grpc_of["media"] is None  # not probed under this config
    assert grpc_of["studio"] is None and grpc_of["postgres"] is None  # no grpc port

    run = clikd("env.start", "--branch", branch, "--only", "media", env=env)
    assert run.code == 6, run.text
    text = " ".join(run.text.split())
    assert (
        "media: not healthy after 6s (its timeout): http health passes, gRPC health does not "
        "(answered NOT_SERVING)" in text
    ), text
    assert "grpc.health.v1 Check of 127.0.0.1:" in text and "answered NOT_SERVING" in text
    assert "[services.media.health] grpc = false" in text  # the hint
    assert "Traceback" not in text

    status = clikd("env.status", "--branch", branch, "--json", env=env)
    assert status.code == 0, status.text
    snap = status.data
    services = {s["name"]: s for s in snap["services"]}
    media = services["media"]
    assert media["state"] == "running" and media["health"] == "unhealthy"
    assert media["grpc"]["serving"] is False and media["grpc"]["status"] == "NOT_SERVING"
    assert "gRPC health" in media["detail"] and "NOT_SERVING" in media["detail"]
    for name in ("auth", "api", "realtime"):
        assert services[name]["health"] == "healthy" and services[name]["grpc"]["serving"] is True
    assert services["studio"]["grpc"] is None
    assert snap["grpc"] == "not serving: media (answered NOT_SERVING)"
    assert any(h.startswith("media answers http, but its gRPC health") for h in snap["hints"]), snap["hints"]
    human = clikd("env.status", "--branch", branch, env=env)
    assert "gRPC  not serving: media (answered NOT_SERVING)" in human.out, human.out

    # the healthy rest, kept as it runs: the early probes check gRPC too
    again = clikd("env.start", "--branch", branch, "--exclude", "media", "--json", env=env)
    assert again.code == 0, again.text
    assert {a["kind"] for a in again.data["actions"]} <= {"keep", "check"}, again.data["actions"]
    assert {c["name"] for c in again.data["components"] if c["grpc"] and c["grpc"]["serving"]} == {
        "auth",
        "api",
        "realtime",
    }
    assert "gRPC  all serving" in clikd("env.start", "--branch", branch, "--exclude", "media", env=env).out


@pytest.mark.testbed
def test_grpc_false_leaves_the_port_unprobed_and_grpc_unimported(branches: Branches, tmp_path: Path) -> None:
    env = _media_not_serving(tmp_path, probe="none")
    branch = branches.new(env)
    run = clikd("env.start", "--branch", branch, "--only", "media", "--json", env=env)
    assert run.code == 0, run.text
    assert next(c for c in run.data["components"] if c["name"] == "media")["grpc"] is None
    for command in ("env.start", "env.status"):
        traced = clikd(command, "--branch", branch, env={**env, "PYTHONPROFILEIMPORTTIME": "1"})
        assert traced.code == 0, traced.text
        loaded = {
            line.rsplit("|", 1)[-1].strip() for line in traced.err.splitlines() if "import time:" in line
        }
        assert len(loaded) > 100, traced.err[-2000:]  # the trace is there
        assert "grpc" not in loaded and "grpc_health.v1.health_pb2" not in loaded, command
    status = clikd("env.status", "--branch", branch, "--json", env=env)
    media = next(s for s in status.data["services"] if s["name"] == "media")
    assert media["health"] == "healthy" and media["grpc"] is None and status.data["grpc"] == ""
