"""Give a branch a host-port block of its own, before env.start plans anything.

Branch names hash to one of 1138 blocks, so two branches can meet on one, and a block can hold a
port some other program listens on (a test bed's etcd, a developer's own server). A branch's first
env.start (no block recorded yet) therefore takes, under a lock every clikd of this user shares, the
first block from its hashed one on that no other branch claims (their records and the published
ports of every running clikd container) and in which nothing listens, and records it. From then on
the branch keeps that block: every task reads the record until a purge forgets it. A recorded
branch whose block another program has taken since does not move (its ports are what its users
know): env.start names the holder and exits 8. Only another branch's claim moves a recorded branch.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

from tasks.core.branch import PORT_BASE, PORT_BLOCK, PORT_BLOCKS, BranchIdentity
from tasks.core.errors import Conflict
from tasks.core.locking import state_dir
from tasks.core.ports import record_block, recorded_block, recorded_claims
from tasks.core.stack.engine import branch_containers, container_name, own_bindings
from tasks.core.stack.holders import find_holders, listening_inodes
from tasks.core.stack.model import LABEL_BRANCH, LABEL_PROJECT

if TYPE_CHECKING:
    import docker


@contextlib.contextmanager
def _allocation_lock() -> Iterator[None]:
    path = state_dir() / "locks" / "port-blocks.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # held for a few milliseconds: a list call and a file write
        yield
    finally:
        os.close(fd)


def block_containing(port: int) -> int | None:
    if not PORT_BASE <= port < PORT_BASE + PORT_BLOCKS * PORT_BLOCK:
        return None
    return PORT_BASE + (port - PORT_BASE) // PORT_BLOCK * PORT_BLOCK


def _ports(block: int) -> range:
    return range(block, block + PORT_BLOCK)


def _span(block: int) -> str:
    return f"{block}-{block + PORT_BLOCK - 1}"


def claims(client: docker.DockerClient, ident: BranchIdentity) -> dict[int, str]:
    """Blocks other branches have: block -> who (records first, then running containers)."""
    taken = recorded_claims(ident)
    for summary in client.api.containers(filters={"label": LABEL_PROJECT, "status": "running"}):
        labels = summary.get("Labels") or {}
        if labels.get(LABEL_PROJECT) == ident.project and labels.get(LABEL_BRANCH) == ident.branch:
            continue
        owner = f"branch {labels.get(LABEL_BRANCH, '?')!r} of clikd project {labels.get(LABEL_PROJECT)!r}"
        for port in summary.get("Ports") or []:
            block = block_containing(int(port.get("PublicPort") or 0))
            if block is not None:
                taken.setdefault(block, owner)
    return taken


def _own_block(client: docker.DockerClient, ident: BranchIdentity) -> int | None:
    """The block the branch's own containers (any state) were created on, for a branch without a
    record (made before records existed, or its record deleted by hand): its own docker-proxy
    listeners must not push it off its own ports."""
    names = [container_name(s) for s in branch_containers(client, ident.project, ident.branch)]
    for port in sorted(own_bindings(client, names)) if names else []:
        block = block_containing(port)
        if block is not None:
            return block
    return None


def _why_not(block: int, taken: dict[int, str], listening: dict[int, set[str]]) -> str:
    if block in taken:
        return f"host ports {_span(block)} are {taken[block]}'s"
    holders = find_holders(listening, {})
    first = holders[min(holders)] if holders else None
    held = first.describe() if first else f"port {min(listening)} is in use"
    return f"host ports {_span(block)}: {held}"


def claim_block(client: docker.DockerClient, ident: BranchIdentity) -> str | None:
    """Record the branch's block (choosing one on its first start); returns a note when it moved."""
    hashed = ident.port_block
    if hashed is None:
        return None  # main keeps the plan's ports
    with _allocation_lock():
        recorded = recorded_block(ident)
        taken = claims(client, ident)
        if recorded is not None and recorded not in taken:
            return None  # kept; a program holding one of its ports is named by the port check
        if recorded is None:
            own = _own_block(client, ident)
            if own is not None and own not in taken:
                record_block(ident, own)
                return None
        start = hashed if recorded is None else recorded
        first = (start - PORT_BASE) // PORT_BLOCK
        why = ""
        for step in range(PORT_BLOCKS):
            block = PORT_BASE + (first + step) % PORT_BLOCKS * PORT_BLOCK
            listening = {} if block in taken else listening_inodes(_ports(block))
            if block in taken or listening:
                why = why or _why_not(block, taken, listening)
                continue
            record_block(ident, block)
            if block == start:
                return None
            return f"{why}: branch {ident.branch!r} now uses {_span(block)} (kept until env.stop --purge)"
    raise Conflict(
        f"every host-port block between {PORT_BASE} and {PORT_BASE + PORT_BLOCKS * PORT_BLOCK - 1} is taken",
        hint="free some: inv env.prune, or inv env.stop --purge --branch NAME for branches you are done with",
    )
