"""The remote environments of clikd.toml ([environments.staging], [environments.production]) made concrete."""

from __future__ import annotations

import os
from dataclasses import dataclass

from tasks.core.config.schema import Environment, RemoteDatabase, Settings
from tasks.core.errors import ConfigError

KINDS = ("postgres", "scylla", "keydb")  # every environment has these
OPTIONAL_KINDS = ("s3",)  # reached when [environments.NAME.databases] names it


def environment(settings: Settings, name: str) -> Environment:
    """The configured environment ``name``; a ConfigError with an example when it is missing."""
    found = settings.environments.get(name)
    if found is None:
        raise ConfigError(
            f"there is no [environments.{name}] in clikd.toml, so clikd does not know how to reach {name}",
            hint=f'add it, e.g.\n[environments.{name}]\nbastion = "deploy@bastion.{name}.example.com:22"\n'
            f'databases.postgres = {{ host = "10.0.0.10", port = 5432, user = "clikd" }}',
        )
    env: Environment = found
    return env


def namespace(settings: Settings, name: str) -> str:
    env = settings.environments.get(name)
    if env is not None and env.namespace:
        ns: str = env.namespace
        return ns
    prefix = settings.deployment.namespace_prefix
    return f"{prefix}-{name}" if prefix else name


def kube_access(settings: Settings, name: str) -> tuple[str | None, str | None]:
    """(kubeconfig, context) for ``name``: its own, else [deployment]'s."""
    env = settings.environments.get(name)
    kubeconfig = (env.kubeconfig if env else None) or settings.deployment.kubeconfig
    context = (env.kube_context if env else None) or settings.deployment.kube_context
    return kubeconfig, context


@dataclass(frozen=True)
class RemoteNames:
    """Database, keyspace and key-prefix names on a remote environment's servers."""

    template: str
    keyspace: str
    key_prefix: str
    bucket: str = ""  # empty: the environment's object store is not configured

    def database(self, role: str) -> str:
        return self.template.replace("{role}", role)


def names(settings: Settings, name: str) -> RemoteNames:
    env = environment(settings, name)
    fill = {"project": settings.project.name, "environment": name}

    def render(text: str, key: str) -> str:
        out = text
        for k, v in fill.items():
            out = out.replace("{" + k + "}", v)
        leftover = out.replace("{role}", "")
        if "{" in leftover or "}" in leftover:
            raise ConfigError(
                f"[environments.{name}] {key} = {text!r} has an unknown placeholder",
                hint="the placeholders are {project}, {environment} and (database_name only) {role}",
            )
        return out

    return RemoteNames(
        render(env.database_name, "database_name"),
        render(env.keyspace, "keyspace"),
        render(env.key_prefix, "key_prefix"),
        render(env.bucket, "bucket") if "s3" in env.databases else "",
    )


def database(settings: Settings, name: str, kind: str) -> RemoteDatabase:
    env = environment(settings, name)
    found = env.databases.get(kind)
    if found is None:
        raise ConfigError(
            f"[environments.{name}.databases.{kind}] is not configured",
            hint=f"add {kind} = {{ host = ..., port = ..., user = ... }} to [environments.{name}.databases]",
        )
    db: RemoteDatabase = found
    return db


def password(db: RemoteDatabase, name: str, kind: str) -> str:
    """The password from the variable the config names (default CLIKD_<ENV>_<KIND>_PASSWORD); may be empty."""
    var = db.password_env or f"CLIKD_{name.upper()}_{kind.upper()}_PASSWORD"
    return os.environ.get(var, "")
