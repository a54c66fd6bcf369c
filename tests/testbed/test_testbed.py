"""Each part of the test bed from tests/infra/up answers for real: images, registry, reference service.

Run tests/infra/up first; it writes tests/infra/testbed.json, which these tests read.
"""

from __future__ import annotations

import base64
import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import docker
import docker.errors
import psycopg
import pytest
import redis
import yaml
from docker.models.containers import Container

pytestmark = pytest.mark.testbed

REPO = Path(__file__).resolve().parents[2]
OPENAPI_SPEC = REPO / "codegen" / "spec" / "clikd.openapi.yaml"
PG_PASSWORD = "pg-Secret-1"
KEYDB_PASSWORD = "kd-Secret-1"

T = TypeVar("T")


def host_port(container: Container, port: str) -> int:
    """The 127.0.0.1 port Docker published for `port` (e.g. "5432/tcp")."""
    container.reload()
    bindings = container.attrs["NetworkSettings"]["Ports"].get(port) or []
    if not bindings:
        raise AssertionError(
            f"{container.name} publishes no {port}: {container.attrs['NetworkSettings']['Ports']}"
        )
    return int(bindings[0]["HostPort"])


def published(port: str) -> dict[str, tuple[str, None]]:
    """`ports=` argument publishing `port` on a free 127.0.0.1 port."""
    return {port: ("127.0.0.1", None)}


def logs(container: Container) -> str:
    try:
        return container.logs(stdout=True, stderr=True).decode(errors="replace")
    except docker.errors.APIError as exc:
        return f"<no logs: {exc}>"


def wait_for(
    probe: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    container: Container | None = None,
    interval: float = 0.2,
) -> T:
    """Call `probe` until it returns a truthy value; fail with the last error and container logs."""
    deadline = time.monotonic() + timeout
    last: str = "no attempt"
    while time.monotonic() < deadline:
        try:
            result = probe()
            if result:
                return result
            last = f"probe returned {result!r}"
        except Exception as exc:  # any failure means: not yet
            last = f"{type(exc).__name__}: {exc}"
        if container is not None:
            container.reload()
            if container.status in ("exited", "dead"):
                break
        time.sleep(interval)
    detail = f"\n--- logs of {container.name} ---\n{logs(container)[-4000:]}" if container is not None else ""
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last}{detail}")


def http_get(
    url: str, *, headers: dict[str, str] | None = None, method: str = "GET", timeout: float = 5
) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of a request; HTTP errors are returned, not raised."""
    request = urllib.request.Request(url, headers=headers or {}, method=method)  # noqa: S310 (http only)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, dict(response.headers.items()), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers.items()), exc.read()


def processes(container: Container) -> list[tuple[str, str]]:
    """(user, command name) of each process, as the container itself names them (its own /etc/passwd)."""
    code, output = container.exec_run(["ps", "-eo", "user=,comm="])
    assert code == 0, output
    return [tuple(line.split(None, 1)) for line in output.decode().splitlines() if line.strip()]


def service_url(container: Container, path: str) -> str:
    return f"http://127.0.0.1:{host_port(container, '8080/tcp')}{path}"


def health(container: Container) -> tuple[int, dict[str, Any]]:
    status, _, body = http_get(service_url(container, "/health"))
    return status, json.loads(body)


def start_postgres(resources: Any, image: str, role: str = "pg", **kwargs: Any) -> Container:
    kwargs.setdefault(
        "environment",
        {"POSTGRES_USER": "clikd", "POSTGRES_PASSWORD": PG_PASSWORD, "POSTGRES_DB": "clikd_main"},
    )
    return resources.run(image, role, **kwargs)


def pg_connect(port: int, password: str = PG_PASSWORD, dbname: str = "clikd_main") -> psycopg.Connection:
    return psycopg.connect(
        host="127.0.0.1", port=port, user="clikd", password=password, dbname=dbname, connect_timeout=3
    )


def wait_for_pg(container: Container, timeout: float = 60) -> int:
    port = host_port(container, "5432/tcp")

    def ready() -> bool:
        with pg_connect(port) as conn:
            return conn.execute("select 1").fetchone() == (1,)

    wait_for(ready, timeout=timeout, what="postgres to accept a password login", container=container)
    return port


def basic_auth(testbed: dict[str, Any], password: str | None = None) -> dict[str, str]:
    reg = testbed["registry"]
    token = base64.b64encode(f"{reg['username']}:{password or reg['password']}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


# --------------------------------------------------------------------------- images


def test_base_image_has_postgres_redis_and_python(
    docker_client: docker.DockerClient, resources: Any, testbed: dict[str, Any]
) -> None:
    container = resources.run(
        testbed["images"]["base"],
        "base",
        command=[
            "sh",
            "-c",
            "postgres --version && psql --version && redis-server --version && python3 --version",
        ],
    )
    result = container.wait(timeout=60)
    output = logs(container)
    assert result["StatusCode"] == 0, output
    assert "postgres (PostgreSQL) 15" in output
    assert "psql (PostgreSQL) 15" in output
    assert "Redis server v=7" in output
    assert "Python 3.11" in output


def test_postgres_answers_with_its_password_and_refuses_a_wrong_one(
    resources: Any, testbed: dict[str, Any]
) -> None:
    started = time.monotonic()
    container = start_postgres(
        resources,
        testbed["images"]["postgres"],
        ports=published("5432/tcp"),
        volumes={resources.volume("pgdata").name: {"bind": "/var/lib/postgresql/data", "mode": "rw"}},
    )
    port = wait_for_pg(container)
    ready_after = time.monotonic() - started
    assert ready_after < 20, f"postgres took {ready_after:.1f}s to accept logins"

    with pg_connect(port) as conn:
        user, database, version = conn.execute(
            "select current_user, current_database(), version()"
        ).fetchone()
        stored = conn.execute("select rolpassword from pg_authid where rolname = 'clikd'").fetchone()[0]
        listen = conn.execute("show listen_addresses").fetchone()[0]
    assert (user, database) == ("clikd", "clikd_main")
    assert version.startswith("PostgreSQL 15")
    assert stored.startswith("SCRAM-SHA-256$")
    assert listen == "*"

    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        pg_connect(port, password="wrong-password")

    assert ("postgres", "postgres") in processes(container), processes(container)


def test_postgres_keeps_its_volume_and_stops_fast_on_sigterm(
    docker_client: docker.DockerClient, resources: Any, testbed: dict[str, Any]
) -> None:
    volume = resources.volume("pgdata")
    mount = {volume.name: {"bind": "/var/lib/postgresql/data", "mode": "rw"}}
    first = start_postgres(
        resources, testbed["images"]["postgres"], "pg1", ports=published("5432/tcp"), volumes=mount
    )
    port = wait_for_pg(first)
    idle = pg_connect(port)  # an open session: a smart shutdown would wait for it
    try:
        with pg_connect(port) as conn:
            conn.execute("create table kept (v text)")
            conn.execute("insert into kept values ('still here')")
        first.kill(signal="SIGTERM")
        # A smart shutdown would wait for the idle session forever: the wait would time out.
        result = first.wait(timeout=60)
    finally:
        idle.close()
    assert result["StatusCode"] == 0, logs(first)
    assert "fast shutdown request" in logs(first)

    # A second container on the same volume skips initdb: the old password and the data are still there.
    second = start_postgres(
        resources,
        testbed["images"]["postgres"],
        "pg2",
        ports=published("5432/tcp"),
        volumes=mount,
        environment={
            "POSTGRES_USER": "clikd",
            "POSTGRES_PASSWORD": "ignored-now",
            "POSTGRES_DB": "clikd_main",
        },
    )
    port = wait_for_pg(second)
    with pg_connect(port) as conn:
        assert conn.execute("select v from kept").fetchall() == [("still here",)]
    assert "entrypoint: initialis" not in logs(second)


def test_postgres_initdb_args_take_the_initdb_path(resources: Any, testbed: dict[str, Any]) -> None:
    container = start_postgres(
        resources,
        testbed["images"]["postgres"],
        ports=published("5432/tcp"),
        environment={
            "POSTGRES_USER": "clikd",
            "POSTGRES_PASSWORD": PG_PASSWORD,
            "POSTGRES_DB": "clikd_main",
            "POSTGRES_INITDB_ARGS": "--data-checksums",
            "POSTGRES_HOST_AUTH_METHOD": "md5",
        },
    )
    port = wait_for_pg(container)
    with pg_connect(port) as conn:
        assert conn.execute("show data_checksums").fetchone() == ("on",)
        assert conn.execute("select rolname from pg_roles where oid = 10").fetchone() == ("clikd",)
    assert "entrypoint: initdb in" in logs(container)


def test_postgres_refuses_to_initialise_without_a_password(resources: Any, testbed: dict[str, Any]) -> None:
    container = resources.run(testbed["images"]["postgres"], "nopw", environment={"POSTGRES_USER": "clikd"})
    result = container.wait(timeout=30)
    assert result["StatusCode"] != 0
    assert "superuser password is not specified" in logs(container)


def test_keydb_answers_ping_set_get_with_its_password(resources: Any, testbed: dict[str, Any]) -> None:
    container = resources.run(
        testbed["images"]["keydb"],
        "keydb",
        environment={"REDIS_PASSWORD": KEYDB_PASSWORD},
        ports=published("6379/tcp"),
        volumes={resources.volume("keydata").name: {"bind": "/data", "mode": "rw"}},
    )
    port = host_port(container, "6379/tcp")
    client = redis.Redis(host="127.0.0.1", port=port, password=KEYDB_PASSWORD, socket_timeout=3)
    try:
        wait_for(client.ping, timeout=30, what="keydb PING", container=container)
        assert client.set("clikd:testbed", "value")
        assert client.get("clikd:testbed") == b"value"
        assert client.info("server")["redis_version"].startswith("7.")
        config = client.config_get("*")
        assert config["dir"] == "/data"
        assert config["protected-mode"] == "no"
        assert config["bind"] == "0.0.0.0"  # noqa: S104 (the server inside the container)
    finally:
        client.close()

    with pytest.raises(redis.AuthenticationError):
        redis.Redis(host="127.0.0.1", port=port, password="wrong", socket_timeout=3).ping()
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(host="127.0.0.1", port=port, socket_timeout=3).get("clikd:testbed")


def test_keydb_without_password_is_open(resources: Any, testbed: dict[str, Any]) -> None:
    container = resources.run(testbed["images"]["keydb"], "keydb", ports=published("6379/tcp"))
    client = redis.Redis(host="127.0.0.1", port=host_port(container, "6379/tcp"), socket_timeout=3)
    try:
        wait_for(client.ping, timeout=30, what="keydb PING", container=container)
    finally:
        client.close()
    assert ("redis", "redis-server") in processes(container), processes(container)


# --------------------------------------------------------------------------- reference service


def test_service_health_follows_its_databases(resources: Any, testbed: dict[str, Any]) -> None:
    images = testbed["images"]
    net = resources.network()
    service = resources.run(
        images["service"],
        "api",
        network=net,
        alias="api",
        environment={
            "CLIKD_SERVICE": "api",
            "GRPC_PORT": "9090",
            "DATABASE_URL": f"postgres://clikd:{PG_PASSWORD}@pg:5432/clikd_main",
            "AUTH_DATABASE_URL": f"postgres://clikd:{PG_PASSWORD}@pg:5432/postgres",
            "REDIS_URL": f"redis://:{KEYDB_PASSWORD}@keydb:6379/1",
            "CLIKD_REF_LOG_RATE": "0",
        },
        ports={**published("8080/tcp"), **published("9090/tcp")},
    )
    wait_for(lambda: health(service), timeout=30, what="the service to answer /health", container=service)
    status, body = health(service)
    assert status == 503, body
    assert body["status"] == "unhealthy" and body["service"] == "api"
    assert set(body["checks"]) == {"database", "auth_database", "redis"}
    assert not any(check["ok"] for check in body["checks"].values()), body
    assert "pg" in body["checks"]["database"]["error"]

    postgres = start_postgres(resources, images["postgres"], network=net, alias="pg")
    keydb = resources.run(
        images["keydb"], "keydb", network=net, alias="keydb", environment={"REDIS_PASSWORD": KEYDB_PASSWORD}
    )

    def healthy() -> dict[str, Any] | None:
        status, body = health(service)
        return body if status == 200 else None

    body = wait_for(healthy, timeout=60, what="/health to turn 200", container=service)
    assert body["status"] == "ok"
    for name in ("database", "auth_database", "redis"):
        assert body["checks"][name]["ok"] is True
        assert isinstance(body["checks"][name]["latency_ms"], (int, float))

    # GRPC_PORT serves the standard health protocol (the image has Debian's python3-grpcio)
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(f"127.0.0.1:{host_port(service, '9090/tcp')}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for name in ("", "api"):
            reply = stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING

    keydb.stop(timeout=5)
    time.sleep(0.6)  # past the health cache
    status, body = health(service)
    assert status == 503 and body["checks"]["redis"]["ok"] is False, body
    assert body["checks"]["database"]["ok"] is True
    postgres.reload()
    assert postgres.status == "running"


def test_service_serves_openapi_banner_and_404(resources: Any, testbed: dict[str, Any]) -> None:
    service = resources.run(
        testbed["images"]["service"],
        "studio",
        environment={"CLIKD_SERVICE": "studio"},
        ports=published("8080/tcp"),
    )
    wait_for(
        lambda: health(service)[0] == 200, timeout=30, what="/health 200 (no databases)", container=service
    )

    status, headers, body = http_get(service_url(service, "/api/openapi.json"))
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    document = json.loads(body)
    assert str(document["openapi"]).startswith("3.")
    assert document["paths"]
    if OPENAPI_SPEC.is_file():
        expected = json.loads(json.dumps(yaml.safe_load(OPENAPI_SPEC.read_text()), default=str))
        assert document == expected, f"the image serves an older {OPENAPI_SPEC.name}: rerun tests/infra/up"

    status, _, body = http_get(service_url(service, "/"))
    assert status == 200 and json.loads(body)["service"] == "studio"
    status, _, _ = http_get(service_url(service, "/nope"))
    assert status == 404


def test_service_logs_every_level_and_exits_0_on_sigterm(resources: Any, testbed: dict[str, Any]) -> None:
    service = resources.run(
        testbed["images"]["service"],
        "realtime",
        environment={"CLIKD_SERVICE": "realtime", "CLIKD_REF_LOG_RATE": "20"},
        ports=published("8080/tcp"),
    )
    wait_for(lambda: health(service)[0] == 200, timeout=30, what="/health 200", container=service)

    def every_level() -> bool:  # 20 lines/s: a full cycle of the periodic lines has been written
        lines = [line for line in logs(service).splitlines() if line.startswith("{")]
        return {json.loads(line)["level"] for line in lines} >= {"debug", "info", "warn", "error"}

    wait_for(every_level, timeout=60, what="a line of every level", container=service)
    service.stop(timeout=30)
    service.reload()
    # Exit 0: it stopped on SIGTERM by itself; docker's SIGKILL after the timeout would give 137.
    assert service.attrs["State"]["ExitCode"] == 0

    lines = logs(service).splitlines()
    records = [json.loads(line) for line in lines if line.startswith("{")]
    plain = [line for line in lines if not line.startswith("{")]
    assert {r["level"] for r in records} >= {"debug", "info", "warn", "error"}
    assert all(set(r) >= {"ts", "level", "service", "msg"} and r["service"] == "realtime" for r in records)
    assert all(r["ts"].endswith("Z") and len(r["ts"]) == 24 for r in records)
    assert any(r["level"] == "debug" and r["msg"].startswith("GET /health 200") for r in records)
    assert any(" WARN " in line for line in plain)
    assert any(not any(level in line for level in ("WARN", "INFO", "ERROR", "DEBUG")) for line in plain)
    assert any("shutting down" in r["msg"] for r in records)


def test_service_fault_modes(resources: Any, testbed: dict[str, Any]) -> None:
    image = testbed["images"]["service"]
    quiet = {"CLIKD_REF_LOG_RATE": "0"}
    crash = resources.run(
        image, "crash", environment={**quiet, "CLIKD_REF_FAIL": "crash", "CLIKD_REF_FAIL_AFTER": "1"}
    )
    sick = resources.run(
        image, "sick", environment={**quiet, "CLIKD_REF_FAIL": "unhealthy"}, ports=published("8080/tcp")
    )
    slow = resources.run(
        image,
        "slow",
        environment={**quiet, "CLIKD_REF_FAIL": "slow", "CLIKD_REF_FAIL_AFTER": "4"},
        ports=published("8080/tcp"),
    )
    started = time.monotonic()

    status, body = wait_for(lambda: health(slow), timeout=30, what="slow /health", container=slow)
    if time.monotonic() - started < 3:
        assert status == 503 and body["status"] == "starting", body
    wait_for(lambda: health(slow)[0] == 200, timeout=30, what="slow /health to turn 200", container=slow)

    status, body = wait_for(lambda: health(sick), timeout=30, what="unhealthy /health", container=sick)
    assert status == 503 and "unhealthy" in body["reason"]

    assert crash.wait(timeout=30)["StatusCode"] == 3
    last = json.loads(logs(crash).splitlines()[-1])
    assert last["level"] == "error" and "exiting with status 3" in last["msg"]


def test_service_checks_cql_and_reports_a_dead_host(resources: Any, testbed: dict[str, Any]) -> None:
    service = resources.run(
        testbed["images"]["service"],
        "media",
        environment={
            "CLIKD_SERVICE": "media",
            "CLIKD_REF_LOG_RATE": "0",
            "SCYLLA_HOSTS": "nowhere:9042,127.0.0.1:9",
        },
        ports=published("8080/tcp"),
    )
    status, body = wait_for(lambda: health(service), timeout=30, what="/health", container=service)
    assert status == 503
    error = body["checks"]["scylla"]["error"]
    assert "nowhere:9042" in error and "127.0.0.1:9" in error


# --------------------------------------------------------------------------- registry


def test_registry_refuses_anonymous_access(testbed: dict[str, Any]) -> None:
    reg = testbed["registry"]
    status, headers, _ = http_get(f"http://{reg['host']}/v2/")
    assert status == 401
    assert headers.get("Www-Authenticate", "").startswith("Basic")
    status, _, _ = http_get(f"http://{reg['host']}/v2/", headers=basic_auth(testbed, "wrong-password"))
    assert status == 401
    status, _, _ = http_get(f"http://{reg['host']}/v2/{reg['namespace']}/api/manifests/latest")
    assert status == 401


def test_registry_serves_all_five_service_images_with_credentials(
    docker_client: docker.DockerClient, testbed: dict[str, Any]
) -> None:
    reg = testbed["registry"]
    accept = {"Accept": "application/vnd.docker.distribution.manifest.v2+json"}
    digests = set()
    for name in testbed["services"]:
        url = f"http://{reg['host']}/v2/{reg['namespace']}/{name}/manifests/latest"
        status, headers, body = http_get(url, headers={**basic_auth(testbed), **accept})
        assert status == 200, (name, body)
        digests.add(headers["Docker-Content-Digest"])
        config_digest = json.loads(body)["config"]["digest"]
        blob_url = f"http://{reg['host']}/v2/{reg['namespace']}/{name}/blobs/{config_digest}"
        status, _, blob = http_get(blob_url, headers=basic_auth(testbed))
        assert status == 200
        assert json.loads(blob)["config"]["Cmd"] == ["python3", "/srv/refservice.py"]
    assert len(digests) == 1, "the five names should carry the same service image"
    assert testbed["services"] == ["auth", "api", "realtime", "media", "studio"]

    local = docker_client.images.get(testbed["images"]["service"])
    repository = f"{reg['host']}/{reg['namespace']}/api"
    auth = {"username": reg["username"], "password": reg["password"]}
    stream = docker_client.api.pull(repository, tag="latest", auth_config=auth, stream=True, decode=True)
    events = list(stream)
    assert not [e for e in events if "error" in e], events
    assert any("Digest: sha256:" in e.get("status", "") for e in events), events
    assert docker_client.images.get(f"{repository}:latest").id == local.id


def test_registry_pull_without_credentials_is_refused(
    testbed: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A fresh client config with no stored login (docker-py falls back to ~/.docker when the file is missing).
    (tmp_path / "config.json").write_text("{}")
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    client = docker.from_env()
    assert not client.api._auth_configs.get("auths"), "the fresh client config still carries a login"
    reg = testbed["registry"]
    try:
        # The high-level images.pull() drops errors reported in the progress stream: read the stream.
        stream = client.api.pull(
            f"{reg['host']}/{reg['namespace']}/auth", tag="latest", stream=True, decode=True
        )
        errors = [event["error"] for event in stream if "error" in event]
    except docker.errors.APIError as exc:
        errors = [str(exc)]
    finally:
        client.close()
    assert errors, "an anonymous pull from the test-bed registry succeeded"
    assert re.search(r"no basic auth credentials|unauthorized", errors[0], re.IGNORECASE), errors
