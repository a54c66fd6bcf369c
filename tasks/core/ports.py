"""Host ports per branch: main keeps the plan's ports, other branches get a stable block.

A branch's block is first the one its name hashes to. env.start records the block it uses under
``$XDG_STATE_HOME/clikd/ports`` (a claim other branches see) and moves to the next free block when
another branch already has it (see :mod:`tasks.core.stack.portclaim`); every task then reads the
record, so the branch keeps its ports until ``env.stop --purge`` or ``env.prune`` forgets them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tasks.core.branch import PORT_BLOCK, BranchIdentity
from tasks.core.config.schema import Settings
from tasks.core.errors import ConfigError
from tasks.core.locking import state_dir


def records_dir() -> Path:
    return state_dir() / "ports"


def record_path(ident: BranchIdentity) -> Path:
    return records_dir() / f"{ident.project}-{ident.slug}.json"


# path -> (mtime_ns, size, block): a record is read again only when its file changed; a status
# frame asks for the block a dozen times (once per endpoint).
_read: dict[Path, tuple[int, int, int | None]] = {}


def recorded_block(ident: BranchIdentity) -> int | None:
    """The block env.start recorded for this branch, if any."""
    path = record_path(ident)
    try:
        st = path.stat()
        seen = _read.get(path)
        if seen is not None and seen[:2] == (st.st_mtime_ns, st.st_size):
            return seen[2]
        data = json.loads(path.read_text())
        block = int(data["block"]) if data.get("branch") == ident.branch else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    _read[path] = (st.st_mtime_ns, st.st_size, block)
    return block


def block_of(ident: BranchIdentity) -> int | None:
    """The first host port of the branch's block (recorded, else hashed); None for main."""
    if ident.port_block is None:
        return None
    recorded = recorded_block(ident)
    return ident.port_block if recorded is None else recorded


def record_block(ident: BranchIdentity, block: int) -> None:
    path = record_path(ident)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_suffix(f".{os.getpid()}.tmp")
    temp.write_text(json.dumps({"project": ident.project, "branch": ident.branch, "block": block}))
    temp.replace(path)


def forget_block(ident: BranchIdentity) -> None:
    record_path(ident).unlink(missing_ok=True)


def recorded_claims(ident: BranchIdentity) -> dict[int, str]:
    """Blocks recorded by every other branch (of any project) of this user: block -> who."""
    claims: dict[int, str] = {}
    mine = record_path(ident).name
    try:
        paths = sorted(records_dir().glob("*.json"))
    except OSError:
        return claims
    for path in paths:
        if path.name == mine:
            continue
        try:
            data = json.loads(path.read_text())
            who = f"branch {data['branch']!r} of clikd project {data['project']!r}"
            claims.setdefault(int(data["block"]), who)
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue  # a record being replaced or written by hand: not a claim
    return claims


def port_keys(settings: Settings) -> list[tuple[str, str, int]]:
    """Every published port as (owner, port name, container port), in a stable order."""
    keys: list[tuple[str, str, int]] = []
    for name in sorted(settings.databases):
        db = settings.databases[name]
        if db.mode == "container":
            keys.append((name, "main", db.port))
    for name in sorted(settings.services):
        for port_name, port in sorted(settings.services[name].ports.items()):
            keys.append((name, port_name, port))
    return keys


def host_ports(settings: Settings, ident: BranchIdentity) -> dict[str, int]:
    """``{"auth.http": 3001, ...}``: where each published port lands on this machine."""
    keys = port_keys(settings)
    base = block_of(ident)
    if base is None:
        return {f"{owner}.{name}": port for owner, name, port in keys}
    if len(keys) > PORT_BLOCK:
        raise ConfigError(
            f"{len(keys)} published ports do not fit a branch's block of {PORT_BLOCK}",
            hint="publish fewer ports per service",
        )
    return {f"{owner}.{name}": base + offset for offset, (owner, name, _port) in enumerate(keys)}
