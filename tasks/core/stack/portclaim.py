"""Give a branch a host-port block no other branch has, before env.start plans anything.

Branch names hash to one of 1138 blocks, so two branches can meet on one. Without this, the second
env.start would stop with exit 8 at a port the first branch's container holds. Instead, under a
lock shared by every clikd of this user, env.start looks at what other branches claim (their
records, and the published ports of every running clikd container), keeps its block when nobody
else has it, and otherwise takes the next block that nobody claims and no process listens in. The
block is recorded, so the branch keeps it (and every task finds it) until a purge forgets it.

A port held by something that is not clikd does not move the branch: env.start names the holder.
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
from tasks.core.ports import block_of, record_block, recorded_block, recorded_claims
from tasks.core.stack.holders import listening_inodes
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


def _block_containing(port: int) -> int | None:
    if not PORT_BASE <= port < PORT_BASE + PORT_BLOCKS * PORT_BLOCK:
        return None
    return PORT_BASE + (port - PORT_BASE) // PORT_BLOCK * PORT_BLOCK


def claims(client: docker.DockerClient, ident: BranchIdentity) -> dict[int, str]:
    """Blocks other branches have: block -> who (records first, then running containers)."""
    taken = recorded_claims(ident)
    for summary in client.api.containers(filters={"label": LABEL_PROJECT, "status": "running"}):
        labels = summary.get("Labels") or {}
        if labels.get(LABEL_PROJECT) == ident.project and labels.get(LABEL_BRANCH) == ident.branch:
            continue
        owner = f"branch {labels.get(LABEL_BRANCH, '?')!r} of clikd project {labels.get(LABEL_PROJECT)!r}"
        for port in summary.get("Ports") or []:
            block = _block_containing(int(port.get("PublicPort") or 0))
            if block is not None:
                taken.setdefault(block, owner)
    return taken


def claim_block(client: docker.DockerClient, ident: BranchIdentity) -> str | None:
    """Record the branch's block, moving it when another branch has it; returns a note on a move."""
    current = block_of(ident)
    if current is None:
        return None  # main keeps the plan's ports
    with _allocation_lock():
        taken = claims(client, ident)
        if current not in taken:
            if recorded_block(ident) != current:
                record_block(ident, current)
            return None
        start = (current - PORT_BASE) // PORT_BLOCK
        for step in range(1, PORT_BLOCKS):
            block = PORT_BASE + (start + step) % PORT_BLOCKS * PORT_BLOCK
            if block in taken or listening_inodes(range(block, block + PORT_BLOCK)):
                continue
            record_block(ident, block)
            return (
                f"host ports {current}-{current + PORT_BLOCK - 1} are {taken[current]}'s: "
                f"branch {ident.branch!r} now uses {block}-{block + PORT_BLOCK - 1} "
                "(kept until env.stop --purge)"
            )
    raise Conflict(
        f"every host-port block between {PORT_BASE} and {PORT_BASE + PORT_BLOCKS * PORT_BLOCK - 1} is taken",
        hint="free some: inv env.prune, or inv env.stop --purge --branch NAME for branches you are done with",
    )
