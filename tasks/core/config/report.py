"""Results of the config tasks: the resolved settings and the names derived from a branch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from tasks.core.branch import BranchIdentity, BranchSource
from tasks.core.config.loader import LoadedConfig
from tasks.core.config.schema import dependency_order


@dataclass(frozen=True)
class ConfigReport:
    config_file: str | None
    project_root: str
    layers: list[str]
    start_order: list[list[str]]
    settings: dict[str, Any]


@dataclass(frozen=True)
class NamesReport:
    branch: str
    origin: str
    note: str | None
    is_main: bool
    names: dict[str, str]
    host_ports: dict[str, int]


def config_report(loaded: LoadedConfig, *, reveal: bool = False) -> ConfigReport:
    settings: dict[str, Any] = msgspec.to_builtins(loaded.settings)
    if not reveal:
        for db in settings.get("databases", {}).values():
            if db.get("password"):
                db["password"] = "********"
    return ConfigReport(
        config_file=str(loaded.path) if loaded.path else None,
        project_root=str(loaded.root),
        layers=[layer.source for layer in loaded.layers if layer.data],
        start_order=dependency_order(loaded.settings),
        settings=settings,
    )


def names_report(source: BranchSource, ident: BranchIdentity, loaded: LoadedConfig) -> NamesReport:
    from tasks.core.ports import host_ports

    settings = loaded.settings
    names: dict[str, str] = {
        "network": ident.network,
        "postgres_auth": ident.postgres_db("auth"),
        "postgres_main": ident.postgres_db("main"),
        "keyspace": ident.keyspace,
        "key_prefix": ident.key_prefix,
        "key_scan_pattern": ident.key_pattern,
        "k8s_namespace": ident.namespace(settings.deployment.namespace_prefix),
    }
    if any(db.kind == "s3" for db in settings.databases.values()):
        names["bucket"] = ident.bucket
    for name in [*settings.databases, *settings.services]:
        names[f"container.{name}"] = ident.container(name)
    return NamesReport(
        branch=source.name,
        origin=source.origin,
        note=source.note,
        is_main=ident.is_main,
        names=names,
        host_ports=host_ports(settings, ident),
    )
