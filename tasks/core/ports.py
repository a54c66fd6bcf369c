"""Host ports per branch: main keeps the plan's ports, other branches get a stable block."""

from __future__ import annotations

from tasks.core.branch import PORT_BLOCK, BranchIdentity
from tasks.core.config.schema import Settings
from tasks.core.errors import ConfigError


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
    base = ident.port_block
    if base is None:
        return {f"{owner}.{name}": port for owner, name, port in keys}
    if len(keys) > PORT_BLOCK:
        raise ConfigError(
            f"{len(keys)} published ports do not fit a branch's block of {PORT_BLOCK}",
            hint="publish fewer ports per service",
        )
    return {f"{owner}.{name}": base + offset for offset, (owner, name, _port) in enumerate(keys)}
