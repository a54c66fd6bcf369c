"""env.start / env.stop / env.status on the test bed's real engine, registry and databases."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from tests.env.conftest import Branches, base_env, clikd, host_port, write_config

pytestmark = pytest.mark.testbed


def _containers(branch: str) -> list[Any]:
    import docker

    return docker.from_env().containers.list(all=True, filters={"label": f"dev.clikd.branch={branch}"})


def test_full_start_to_healthy_then_a_second_start_changes_nothing(branches: Branches) -> None:
    branch = branches.new()
    first = clikd("env.start", "--branch", branch, "--json")
    assert first.code == 0, first.text
    result = first.data
    assert result["changed"] is True
    names = {c["name"] for c in result["components"]}
    assert names == {"postgres", "keydb", "scylla", "s3", "auth", "api", "realtime", "media", "studio"}
    assert all(c["healthy"] for c in result["components"])
    # dependency order: nothing became healthy before what it depends on
    ready = {c["name"]: c["seconds"] for c in result["components"]}
    assert ready["auth"] >= ready["postgres"] and ready["api"] >= max(
        ready["auth"], ready["keydb"], ready["scylla"]
    )
    assert ready["studio"] >= ready["api"] and ready["media"] >= ready["s3"]

    containers = _containers(branch)
    assert len(containers) == 7  # scylla and s3 are the test bed's shared servers
    for c in containers:
        labels = c.labels
        assert labels["dev.clikd.project"] == "clikd" and labels["dev.clikd.branch"] == branch
        assert labels["dev.clikd.service"] and len(labels["dev.clikd.config-hash"]) == 64
        assert c.status == "running"

    second = clikd("env.start", "--branch", branch)
    assert second.code == 0, second.text
    assert "nothing changed" in second.text
    again = clikd("env.start", "--branch", branch, "--json")
    assert again.code == 0 and again.data["changed"] is False
    assert {a["kind"] for a in again.data["actions"]} <= {"keep", "check"}
    assert {c.id for c in _containers(branch)} == {c.id for c in containers}, (
        "a no-op start recreated something"
    )

    # The everyday commands ask the engine over its socket themselves: docker-py (with requests and
    # urllib3) is not even imported by a no-op start or a status.
    for command in ("env.start", "env.status"):
        traced = clikd(command, "--branch", branch, env=base_env(PYTHONPROFILEIMPORTTIME="1"))
        assert traced.code == 0, traced.text
        loaded = {
            line.rsplit("|", 1)[-1].strip() for line in traced.err.splitlines() if "import time:" in line
        }
        assert len(loaded) > 100, traced.err[-2000:]  # the trace is there
        assert not loaded & {"docker", "requests", "urllib3"}, command

    status = clikd("env.status", "--branch", branch, "--json")
    assert status.code == 0, status.text
    snap = status.data
    assert snap["engine"]["reachable"]
    assert {s["name"]: s["health"] for s in snap["services"]} == dict.fromkeys(
        ["auth", "api", "realtime", "media", "studio"], "healthy"
    )
    assert all(s["host_port"] and s["uptime_s"] is not None and s["memory_bytes"] for s in snap["services"])
    pg = next(d for d in snap["databases"] if d["kind"] == "postgres")
    assert pg["health"] == "healthy" and "****" in pg["connection"] and "clikd_dev" not in pg["connection"]
    assert "2 databases" in pg["size"]
    assert set(snap["clients"]) == {"swift", "kotlin", "typescript", "python"}
    human = clikd("env.status", "--branch", branch)
    assert human.code == 0 and "healthy" in human.out and "connection" in human.out


def test_config_change_recreates_only_the_service_and_its_dependents(
    branches: Branches, tmp_path: Path
) -> None:
    branch = branches.new()
    assert clikd("env.start", "--branch", branch, "--only", "api", "--json").code == 0
    before = {c.labels["dev.clikd.service"]: c.id for c in _containers(branch)}

    def louder(tree: dict[str, Any]) -> None:
        tree["services"]["auth"]["environment"]["CLIKD_REF_LOG_RATE"] = "2"

    env = base_env(write_config(tmp_path / "clikd.toml", louder))
    run = clikd("env.start", "--branch", branch, "--only", "api", "--json", env=env)
    assert run.code == 0, run.text
    kinds = {a["name"]: a["kind"] for a in run.data["actions"]}
    assert kinds["auth"] == "recreate" and kinds["api"] == "recreate"
    assert kinds["postgres"] == "keep" and kinds["keydb"] == "keep"
    after = {c.labels["dev.clikd.service"]: c.id for c in _containers(branch)}
    assert after["postgres"] == before["postgres"] and after["keydb"] == before["keydb"]
    assert after["auth"] != before["auth"] and after["api"] != before["api"]


def test_two_branches_side_by_side_and_stopping_one_leaves_the_other(branches: Branches) -> None:
    a, b = branches.new(), branches.new()
    ra = clikd("env.start", "--branch", a, "--only", "auth", "--json")
    rb = clikd("env.start", "--branch", b, "--only", "auth", "--json")
    assert ra.code == 0, ra.text
    assert rb.code == 0, rb.text
    ports_a = {p for c in ra.data["components"] for p in c["host_ports"].values()}
    ports_b = {p for c in rb.data["components"] for p in c["host_ports"].values()}
    assert ports_a and ports_b and not ports_a & ports_b
    names_a = {c.name for c in _containers(a)}
    names_b = {c.name for c in _containers(b)}
    assert len(names_a) == len(names_b) == 2 and not names_a & names_b

    stop = clikd("env.stop", "--branch", a, "--json")
    assert stop.code == 0, stop.text
    assert stop.data["removed_containers"] and stop.data["kept_volumes"]
    assert _containers(a) == []
    status_b = clikd("env.status", "--branch", b, "--json")
    auth_b = next(s for s in status_b.data["services"] if s["name"] == "auth")
    assert auth_b["health"] == "healthy"
    assert all(c.status == "running" for c in _containers(b))


def test_a_port_held_by_a_foreign_process_is_named_before_starting(branches: Branches) -> None:
    branch = branches.new()
    port = host_port(branch, "auth.http")
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", port))
        holder.listen()
        run = clikd("env.start", "--branch", branch, "--only", "auth")
    assert run.code == 8, run.text
    assert f"port {port} is held by process" in run.text
    import os

    assert f"pid {os.getpid()}" in run.text
    assert _containers(branch) == [], "nothing may start when a port is taken"


def test_stop_keeps_data_and_purge_removes_it(branches: Branches) -> None:
    import psycopg

    from tasks.core.branch import identity

    branch = branches.new()
    assert clikd("env.start", "--branch", branch, "--only", "postgres").code == 0
    port = host_port(branch, "postgres.main")
    dsn = f"postgresql://clikd:clikd_dev@127.0.0.1:{port}/{identity(branch).postgres_db('main')}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (v text)")
        conn.execute("INSERT INTO kept VALUES ('still here')")

    assert clikd("env.stop", "--branch", branch).code == 0
    assert clikd("env.start", "--branch", branch, "--only", "postgres").code == 0
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT v FROM kept").fetchall() == [("still here",)]

    refused = clikd("env.stop", "--branch", branch, "--purge")
    assert refused.code == 4 and "--yes" in refused.text  # no terminal: the flag is required
    purge = clikd("env.stop", "--branch", branch, "--purge", "--yes", "--json")
    assert purge.code == 0, purge.text
    assert purge.data["removed_volumes"] and any("keyspace" in d for d in purge.data["dropped"])
    assert clikd("env.start", "--branch", branch, "--only", "postgres").code == 0
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT to_regclass('kept')").fetchone() == (None,)


def test_docker_down_is_one_clear_message(tmp_path: Path, testbed: dict[str, Any]) -> None:
    run = clikd("env.start", "--branch", "t/nodocker", env=base_env(DOCKER_HOST=f"unix://{tmp_path}/no.sock"))
    assert run.code == 5, run.text
    assert "Docker is not running" in run.text and "Traceback" not in run.text


def test_excluding_a_dependency_asks_and_names_the_dependents(testbed: dict[str, Any]) -> None:
    run = clikd("env.start", "--branch", "t/exclude-asks", "--exclude", "postgres,studio")
    assert run.code == 4, run.text
    assert "postgres (needed by auth, media, api)" in run.text and "--yes" in run.text
    assert _containers("t/exclude-asks") == []


def test_status_watch_re_renders_until_ctrl_c(branches: Branches) -> None:
    import pexpect

    from tests.env.conftest import CLIKD, ROOT

    branch = branches.new()
    child = pexpect.spawn(
        str(CLIKD),
        ["env.status", "--watch", "--branch", branch],
        cwd=str(ROOT),
        env=base_env(COLUMNS="160"),
        encoding="utf-8",
        timeout=60,
        dimensions=(60, 160),
    )
    child.expect("services")
    child.expect("taken")
    child.expect("taken")  # a second rendering
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
