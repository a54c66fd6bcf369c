"""Who holds a host port: a container (by its published ports) or a process (via /proc).

Linux only for processes: listening sockets come from ``/proc/net/tcp{,6}`` and their owners from
the ``socket:[inode]`` links under ``/proc/<pid>/fd``, which are visible for processes we may inspect
(all of them as root, our own otherwise). Elsewhere, or when the owner is hidden, the port is still
reported as held, with the owner unknown.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LISTEN = "0A"
PROC = Path("/proc")


@dataclass(frozen=True)
class PortHolder:
    port: int
    holder: str  # "container clikd-main-auth", "process python3 (pid 123): python3 -m http.server"
    kind: str  # container | process | unknown
    container: str = ""
    pid: int | None = None

    def describe(self) -> str:
        return f"port {self.port} is held by {self.holder}"


def listening_inodes(ports: Iterable[int], proc: Path = PROC) -> dict[int, set[str]]:
    """Ports among ``ports`` that have a TCP listener in this network namespace -> socket inodes."""
    wanted = set(ports)
    found: dict[int, set[str]] = {}
    for table in ("tcp", "tcp6"):
        try:
            lines = (proc / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if len(cols) < 10 or cols[3] != LISTEN:
                continue
            port = int(cols[1].rsplit(":", 1)[1], 16)
            if port in wanted:
                found.setdefault(port, set()).add(cols[9])
    return found


def socket_owners(inodes: set[str], proc: Path = PROC) -> dict[str, int]:
    """socket inode -> pid, for the processes whose file descriptors we can read."""
    targets = {f"socket:[{i}]" for i in inodes}
    owners: dict[str, int] = {}
    # os.scandir/listdir/readlink over thousands of fds: cheaper than pathlib objects for each.
    for entry in os.scandir(proc):
        if not entry.name.isdigit():
            continue
        fd_dir = f"{entry.path}/fd"
        try:
            fds = os.listdir(fd_dir)  # noqa: PTH208
        except OSError:
            continue
        for fd in fds:
            try:
                link = os.readlink(f"{fd_dir}/{fd}")  # noqa: PTH115
            except OSError:
                continue
            if link in targets:
                owners[link[8:-1]] = int(entry.name)
                if len(owners) == len(targets):
                    return owners
    return owners


def describe_process(pid: int, proc: Path = PROC) -> str:
    try:
        comm = (proc / str(pid) / "comm").read_text().strip()
    except OSError:
        comm = "?"
    try:
        raw = (proc / str(pid) / "cmdline").read_bytes()
        cmd = " ".join(p.decode(errors="replace") for p in raw.split(b"\0") if p)
    except OSError:
        cmd = ""
    if len(cmd) > 120:
        cmd = cmd[:117] + "..."
    return f"process {comm} (pid {pid})" + (f": {cmd}" if cmd and cmd != comm else "")


def published_by_containers(summaries: list[dict[str, Any]]) -> dict[int, str]:
    """host port -> container name, from the engine's list of running containers."""
    held: dict[int, str] = {}
    for summary in summaries:
        name = str((summary.get("Names") or ["?"])[0]).lstrip("/")
        for port in summary.get("Ports") or []:
            public = port.get("PublicPort")
            if public and port.get("Type", "tcp") == "tcp":
                held[int(public)] = name
    return held


def find_holders(
    ports: Iterable[int], containers: dict[int, str], *, proc: Path = PROC
) -> dict[int, PortHolder]:
    """Every port among ``ports`` that is in use, with who uses it.

    ``containers`` maps host ports published by running containers to their names (they win over
    the docker-proxy process that holds the socket for them).
    """
    wanted = set(ports)
    holders: dict[int, PortHolder] = {}
    for port in sorted(wanted & set(containers)):
        holders[port] = PortHolder(port, f"container {containers[port]}", "container", containers[port])
    rest = wanted - set(holders)
    listening = listening_inodes(rest, proc)
    if not listening:
        return holders
    owners = socket_owners(set().union(*listening.values()), proc)
    for port, inodes in sorted(listening.items()):
        pid = next((owners[i] for i in sorted(inodes) if i in owners), None)
        if pid is None:
            holders[port] = PortHolder(port, "a process this user cannot see", "unknown")
        else:
            holders[port] = PortHolder(port, describe_process(pid, proc), "process", pid=pid)
    return holders
