"""The test bed's SSH bastion (tests/infra/sshd/up) answers for real: key logins, host-key checks, and
local port forwards to the test bed's Postgres.

Run tests/infra/up first (or tests/infra/sshd/up and tests/infra/databases/up); they write
tests/infra/sshd/facts.json and tests/infra/databases/facts.json, which these tests read.
"""

from __future__ import annotations

import json
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fabric
import paramiko
import psycopg
import pytest

# One xdist worker runs the tests of the test bed's single sshd bastion: parallel tunnels dropped.
pytestmark = [pytest.mark.testbed, pytest.mark.xdist_group("sshd")]

REPO = Path(__file__).resolve().parents[2]
SSHD_FACTS = REPO / "tests" / "infra" / "sshd" / "facts.json"
DB_FACTS = REPO / "tests" / "infra" / "databases" / "facts.json"
TIMEOUT = 10.0
# Postgres' SSLRequest: length 8, code 80877103. Any Postgres answers with one byte, b"S" or b"N".
PG_SSL_REQUEST = struct.pack("!II", 8, 80877103)


def read_facts(path: Path) -> dict[str, Any]:
    if not path.is_file():
        pytest.fail(f"{path} is missing: run tests/infra/up", pytrace=False)
    facts: dict[str, Any] = json.loads(path.read_text())
    return facts


@pytest.fixture(scope="module")
def sshd() -> dict[str, Any]:
    facts = read_facts(SSHD_FACTS)
    for name in ("key", "wrong_key", "known_hosts", "known_hosts_mismatch", "config"):
        if not Path(facts[name]).is_file():
            pytest.fail(f"{facts[name]} ({name}) is missing: run tests/infra/up", pytrace=False)
    return facts


@pytest.fixture(scope="module")
def postgres() -> dict[str, Any]:
    pg: dict[str, Any] = read_facts(DB_FACTS)["postgres"]
    return pg


def strict_client(known_hosts: str | Path) -> paramiko.SSHClient:
    """A client that trusts only `known_hosts` and refuses any host key not in it."""
    client = paramiko.SSHClient()
    client.load_host_keys(str(known_hosts))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    return client


def connect(client: paramiko.SSHClient, sshd: dict[str, Any], key: str) -> None:
    client.connect(
        sshd["host"],
        port=int(sshd["port"]),
        username=sshd["user"],
        key_filename=key,
        look_for_keys=False,
        allow_agent=False,
        timeout=TIMEOUT,
        banner_timeout=TIMEOUT,
        auth_timeout=TIMEOUT,
    )


@pytest.fixture
def bastion(sshd: dict[str, Any]) -> Iterator[paramiko.SSHClient]:
    """A logged-in client: the authorized key, the real host key, RejectPolicy."""
    client = strict_client(sshd["known_hosts"])
    try:
        connect(client, sshd, sshd["key"])
        yield client
    finally:
        client.close()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_listening(port: int) -> None:
    """Fabric's forward_local binds its port in a thread after it returns: wait for the listener."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_direct_tcpip_channel_reaches_postgres(bastion: paramiko.SSHClient, postgres: dict[str, Any]) -> None:
    transport = bastion.get_transport()
    assert transport is not None and transport.is_authenticated()
    channel = transport.open_channel(
        "direct-tcpip", (postgres["host"], int(postgres["port"])), ("127.0.0.1", 0), timeout=TIMEOUT
    )
    try:
        channel.settimeout(TIMEOUT)
        channel.sendall(PG_SSL_REQUEST)
        assert channel.recv(1) in (b"S", b"N"), "the forwarded stream did not answer like Postgres"
    finally:
        channel.close()


def test_local_forward_carries_a_postgres_session(sshd: dict[str, Any], postgres: dict[str, Any]) -> None:
    config = fabric.Config(ssh_config=paramiko.SSHConfig())  # no ~/.ssh/config in the way
    conn = fabric.Connection(
        sshd["host"],
        user=sshd["user"],
        port=int(sshd["port"]),
        config=config,
        connect_timeout=int(TIMEOUT),
        connect_kwargs={"key_filename": sshd["key"], "look_for_keys": False, "allow_agent": False},
    )
    # Fabric accepts unknown hosts by default; this tunnel must check the bastion's key like ssh does.
    conn.client.load_host_keys(sshd["known_hosts"])
    conn.client.set_missing_host_key_policy(paramiko.RejectPolicy())
    local_port = free_port()
    dsn = {
        "host": "127.0.0.1",
        "port": local_port,
        "user": postgres["user"],
        "password": postgres["password"],
        "dbname": "postgres",
        "connect_timeout": int(TIMEOUT),
    }
    with conn:
        conn.open()
        tunnel = conn.forward_local(
            local_port,
            remote_port=int(postgres["port"]),
            remote_host=postgres["host"],
            local_host="127.0.0.1",
        )
        with tunnel:
            wait_listening(local_port)
            with psycopg.connect(**dsn) as db:
                row = db.execute("select 1").fetchone()
        assert row == (1,)
    # The local port was the tunnel's: with the forward gone, nothing answers there.
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(**dsn)


def test_wrong_key_is_refused(sshd: dict[str, Any]) -> None:
    client = strict_client(sshd["known_hosts"])
    try:
        with pytest.raises(paramiko.AuthenticationException):
            connect(client, sshd, sshd["wrong_key"])
    finally:
        client.close()


def test_only_publickey_is_offered(sshd: dict[str, Any]) -> None:
    with socket.create_connection((sshd["host"], int(sshd["port"])), timeout=TIMEOUT) as sock:
        transport = paramiko.Transport(sock)
        try:
            transport.start_client(timeout=TIMEOUT)
            with pytest.raises(paramiko.BadAuthenticationType) as refused:
                transport.auth_none(sshd["user"])
            assert refused.value.allowed_types == ["publickey"]
        finally:
            transport.close()


def test_changed_host_key_is_refused(sshd: dict[str, Any]) -> None:
    client = strict_client(sshd["known_hosts_mismatch"])
    try:
        with pytest.raises(paramiko.BadHostKeyException) as refused:
            connect(client, sshd, sshd["key"])
        assert refused.value.key.get_name() == "ssh-ed25519"
        assert refused.value.key != refused.value.expected_key
    finally:
        client.close()


def test_unknown_host_key_is_refused(sshd: dict[str, Any], tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    client = strict_client(empty)
    try:
        with pytest.raises(paramiko.SSHException, match="not found in known_hosts") as refused:
            connect(client, sshd, sshd["key"])
        assert not isinstance(refused.value, paramiko.BadHostKeyException)
    finally:
        client.close()


def test_remote_forward_is_refused(bastion: paramiko.SSHClient) -> None:
    """AllowTcpForwarding local: the bastion never listens for a client (no ssh -R)."""
    transport = bastion.get_transport()
    assert transport is not None
    with pytest.raises(paramiko.SSHException):
        transport.request_port_forward("127.0.0.1", 0)


def test_no_shell_for_the_bastion_user(bastion: paramiko.SSHClient) -> None:
    """Forwarding works without a shell: a command gets nologin's refusal."""
    _, stdout, stderr = bastion.exec_command("id", timeout=TIMEOUT)
    status = stdout.channel.recv_exit_status()
    output = stdout.read() + stderr.read()
    assert status != 0
    assert b"uid=" not in output
