"""SSH local port forwards through an environment's bastion host, with Fabric.

Remote databases only answer inside their network; the bastion does. One SSH connection carries a
forward per database: a local port on 127.0.0.1 that reaches ``host:port`` as the bastion sees it.

Host keys are checked strictly: the bastion's key must already be in ``known_hosts`` (Fabric's
default would add an unknown key silently, which defeats the point of a bastion for production).
"""

from __future__ import annotations

import getpass
import re
import socket
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tasks.core.errors import ClikdError, ConfigError, Unavailable

BASTION = re.compile(r"^(?:(?P<user>[^@:\s]+)@)?(?P<host>[^@:\s]+)(?::(?P<port>\d{1,5}))?$")


class BastionUnreachable(Unavailable):
    title = "bastion unreachable"


class BastionRefused(ClikdError):
    title = "bastion refused the key"


class HostKeyProblem(ClikdError):
    title = "bastion host key"


class TunnelBroken(Unavailable):
    title = "ssh tunnel dropped"


@dataclass(frozen=True)
class Bastion:
    user: str
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"

    @property
    def known_hosts_name(self) -> str:
        """How OpenSSH writes this host in known_hosts."""
        return self.host if self.port == 22 else f"[{self.host}]:{self.port}"


def parse_bastion(raw: str, environment: str) -> Bastion:
    where = f"[environments.{environment}] bastion"
    if not raw:
        raise ConfigError(
            f"{where} is not set, so clikd cannot reach {environment}'s databases",
            hint=f'add bastion = "user@bastion.example.com:22" to [environments.{environment}] in clikd.toml',
        )
    match = BASTION.match(raw.strip())
    port = int(match["port"] or 22) if match else 0
    if not match or not 1 <= port <= 65535:
        raise ConfigError(f"{where} = {raw!r} is not user@host:port", hint='e.g. "deploy@10.0.0.5:22"')
    return Bastion(match["user"] or getpass.getuser(), match["host"], port)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Tunnels:
    """An open SSH connection to the bastion and the local ports of its forwards."""

    def __init__(self, environment: str, bastion: Bastion, connection: Any) -> None:
        self.environment = environment
        self.bastion = bastion
        self.connection = connection
        self.ports: dict[str, int] = {}

    @property
    def alive(self) -> bool:
        transport = self.connection.transport
        return bool(transport is not None and transport.is_active())

    def broken(self, what: str, seen: BaseException | None = None) -> TunnelBroken:
        transport = self.connection.transport
        why = transport.get_exception() if transport is not None else None
        details = [f"the SSH transport: {type(why).__name__}: {why}"] if why else []
        if seen is not None:
            details.append(f"the database client: {type(seen).__name__}: {seen}".strip())
        return TunnelBroken(
            f"the SSH connection to {self.bastion} ({self.environment}) dropped during {what}",
            hint="run it again; if it keeps dropping, check the bastion (ssh -v "
            f"-p {self.bastion.port} {self.bastion.user}@{self.bastion.host})",
            details=details,
        )


CHUNK = 64 * 1024  # bytes per read in a forward (Fabric's Tunnel reads 1 KiB at a time)


def _widen_fabric_tunnels() -> None:
    """Make Fabric's forwards move 64 KiB per read instead of 1 KiB.

    Fabric's ``Tunnel`` copies between the local socket and the SSH channel in 1 KiB reads, each
    behind a ``select``; on the test bed that caps a forward at about 8 MB/s (a pg_dump of a
    production database would crawl). Fabric offers no setting for it, so clikd gives the module a
    subclass whose only difference is the read size (bench/remote/tunnel.py measures both).
    """
    import fabric.tunnels

    if getattr(fabric.tunnels.Tunnel, "clikd_wide", False):
        return

    class WideTunnel(fabric.tunnels.Tunnel):  # type: ignore[misc]  # Fabric ships no type hints
        clikd_wide = True

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.socket_chunk_size = CHUNK
            self.channel_chunk_size = CHUNK

    # TunnelManager looks the class up by module name each time a connection arrives.
    fabric.tunnels.Tunnel = WideTunnel


def connect(
    environment: str,
    bastion: Bastion,
    *,
    identity_file: str | None,
    known_hosts: str,
    timeout: float,
) -> Any:
    """An open Fabric connection to the bastion, host key verified; ClikdErrors for every way it fails."""
    import paramiko
    from fabric import Connection

    keys: dict[str, Any] = {}
    if identity_file:
        key = Path(identity_file).expanduser()
        if not key.is_file():
            raise ConfigError(
                f"[environments.{environment}] identity_file {identity_file} does not exist",
                hint="point it at the private key the bastion accepts, or remove it to use the SSH agent",
            )
        # Exactly this key: an agent full of other keys could exhaust the server's MaxAuthTries first.
        keys = {"key_filename": [str(key)], "allow_agent": False, "look_for_keys": False}
    conn = Connection(
        bastion.host,
        user=bastion.user,
        port=bastion.port,
        connect_timeout=max(1, round(timeout)),
        connect_kwargs=keys,
    )
    conn.client.set_missing_host_key_policy(paramiko.RejectPolicy())
    hosts = Path(known_hosts).expanduser()
    if hosts.is_file():
        conn.client.load_host_keys(str(hosts))
    scan = f"ssh-keyscan -p {bastion.port} {bastion.host} >> {hosts}"
    try:
        conn.open()
    except paramiko.BadHostKeyException as exc:
        raise HostKeyProblem(
            f"{bastion.known_hosts_name} offered a {exc.key.get_name()} key that does not match the one "
            f"in {hosts}: someone may be intercepting the connection, or the bastion was rebuilt",
            hint="check with whoever runs the bastion; if it was rebuilt: "
            f"ssh-keygen -R '{bastion.known_hosts_name}' -f {hosts}, then {scan}",
        ) from None
    except paramiko.AuthenticationException as exc:
        which = f"the key {identity_file}" if identity_file else "the keys of the SSH agent and ~/.ssh"
        raise BastionRefused(
            f"{bastion} did not accept {which} ({exc})",
            hint=f"ask for your public key to be added to {bastion.user}'s authorized_keys on the bastion, "
            f"or set identity_file under [environments.{environment}]",
        ) from None
    except TimeoutError as exc:
        raise BastionUnreachable(
            f"{bastion.host}:{bastion.port} did not answer within {timeout:g}s ({exc or 'timed out'})",
            hint="are you on the VPN? check [environments." + environment + "] bastion",
        ) from None
    except (OSError, paramiko.ssh_exception.NoValidConnectionsError) as exc:
        raise BastionUnreachable(
            f"cannot connect to the bastion {bastion.host}:{bastion.port}: {exc.strerror or exc}",
            hint="are you on the VPN? check [environments." + environment + "] bastion",
        ) from None
    except paramiko.SSHException as exc:
        if "known_hosts" in str(exc) or "not found" in str(exc):
            raise HostKeyProblem(
                f"the bastion {bastion.known_hosts_name} is not in {hosts}: its identity cannot be checked",
                hint=f"verify its fingerprint with whoever runs it, then: {scan}",
            ) from None
        raise BastionUnreachable(f"SSH to {bastion} failed: {exc}") from None
    conn.transport.set_keepalive(15)
    return conn


def _reachable(tunnels: Tunnels, name: str, host: str, port: int, timeout: float) -> None:
    """Open (and close) one channel first, so an unreachable database is named, not a hang later."""
    import paramiko

    try:
        channel = tunnels.connection.transport.open_channel(
            "direct-tcpip", (host, port), ("127.0.0.1", 0), timeout=timeout
        )
    except (paramiko.ChannelException, paramiko.SSHException, EOFError) as exc:
        reason = getattr(exc, "text", None) or str(exc) or type(exc).__name__
        raise Unavailable(
            f"the bastion {tunnels.bastion} cannot reach {name} at {host}:{port} ({reason})",
            hint=f"check [environments.{tunnels.environment}.databases.{name}] host and port in clikd.toml",
        ) from None
    channel.close()


def _listening(port: int) -> bool:
    """Whether something listens on 127.0.0.1:``port``, without touching it (Linux: /proc/net/tcp)."""
    table = Path("/proc/net/tcp")
    if not table.is_file():
        try:  # elsewhere, a connection: the forward opens (and at once closes) one channel for it
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            return False
    wanted = f"0100007F:{port:04X}"
    for line in table.read_text().splitlines()[1:]:
        fields = line.split()
        if len(fields) > 3 and fields[1] == wanted and fields[3] == "0A":  # 0A: LISTEN
            return True
    return False


def _wait_bound(port: int, limit: float = 5.0) -> None:
    """Wait until the forward's listener holds ``port``: Fabric binds it in a thread after returning."""
    import time

    deadline = time.monotonic() + limit
    while not _listening(port):
        if time.monotonic() >= deadline:
            raise Unavailable(
                f"the local end of the SSH forward (127.0.0.1:{port}) did not open within {limit:g}s"
            )
        time.sleep(0.01)


def _went_down(tunnels: Tunnels, settle: float = 1.0) -> bool:
    """Whether the SSH connection is gone (giving its reader thread a moment to notice EOF)."""
    import time

    deadline = time.monotonic() + settle
    while tunnels.alive:
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


@contextmanager
def forwards(
    environment: str,
    bastion: Bastion,
    remotes: dict[str, tuple[str, int]],
    *,
    identity_file: str | None = None,
    known_hosts: str = "~/.ssh/known_hosts",
    timeout: float = 10.0,
    what: str = "the operation",
) -> Iterator[Tunnels]:
    """Forward a local port to each ``remotes[name] = (host, port)`` for the length of the block."""
    _widen_fabric_tunnels()
    conn = connect(
        environment, bastion, identity_file=identity_file, known_hosts=known_hosts, timeout=timeout
    )
    tunnels = Tunnels(environment, bastion, conn)
    stack = ExitStack()
    try:
        for name, (host, port) in remotes.items():
            _reachable(tunnels, name, host, port, timeout)
            local = _free_port()
            stack.enter_context(
                conn.forward_local(
                    local_port=local, remote_port=port, remote_host=host, local_host="127.0.0.1"
                )
            )
            _wait_bound(local)
            tunnels.ports[name] = local
        yield tunnels
    except Exception as exc:
        # A database client reports a dropped tunnel as its own connection error; name the real cause.
        if not isinstance(exc, TunnelBroken) and _went_down(tunnels):
            raise tunnels.broken(what, exc) from exc
        raise
    finally:
        # A forward's thread failing because the connection went is not news after the real error.
        with suppress(Exception):
            stack.close()
        conn.close()
