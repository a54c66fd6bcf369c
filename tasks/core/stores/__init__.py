"""Where a branch's databases answer, from this machine and from inside the branch's network.

The object store's own operations (buckets and objects) live in :mod:`tasks.core.stores.s3`.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from tasks.core.branch import BranchIdentity
from tasks.core.config.schema import Database, Settings
from tasks.core.errors import ConfigError
from tasks.core.ports import host_ports

LOOPBACK = ("127.0.0.1", "localhost", "::1")
# The name containers use for the host; env.start maps it to Docker's host gateway.
HOST_ALIAS = "host.docker.internal"


@dataclass(frozen=True)
class Endpoint:
    """One database server of one branch, as reached from this machine."""

    name: str
    kind: str  # postgres | scylla | keydb | s3
    host: str
    port: int
    user: str
    password: str
    mode: str  # container | external

    def postgres_dsn(self, dbname: str) -> str:
        auth = quote(self.user, safe="")
        if self.password:
            auth += ":" + quote(self.password, safe="")
        return f"postgresql://{auth}@{self.host}:{self.port}/{quote(dbname, safe='')}"

    def redis_url(self, db: int = 0) -> str:
        auth = f":{quote(self.password, safe='')}@" if self.password else ""
        return f"redis://{auth}{self.host}:{self.port}/{db}"

    @property
    def s3_url(self) -> str:
        """The S3 endpoint URL (plain HTTP: a branch's store on this machine or through a tunnel)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def display(self, dbname: str = "postgres") -> str:
        """The connection string with the password hidden (Postgres: to ``dbname``)."""
        if self.kind == "postgres":
            return self.postgres_dsn(dbname).replace(quote(self.password, safe=""), "****", 1)
        if self.kind == "keydb":
            return (
                self.redis_url().replace(quote(self.password, safe=""), "****", 1)
                if self.password
                else (self.redis_url())
            )
        if self.kind == "s3":
            return f"{self.s3_url} (access key {self.user or '-'}, secret ****)"
        return f"{self.host}:{self.port}"


def has_kind(settings: Settings, kind: str) -> bool:
    """Whether clikd.toml configures a database of ``kind`` (the object store is optional)."""
    return any(db.kind == kind for db in settings.databases.values())


def database_of_kind(settings: Settings, kind: str) -> tuple[str, Database]:
    """The configured database playing ``kind`` (postgres, scylla, keydb or s3)."""
    for name, db in settings.databases.items():
        if db.kind == kind:
            return name, db
    raise ConfigError(
        f"no database of kind {kind!r} is configured",
        hint=f"add [databases.<name>] with kind = {kind!r} to clikd.toml",
    )


def endpoint(settings: Settings, ident: BranchIdentity, kind: str) -> Endpoint:
    """How this machine reaches the branch's ``kind`` database."""
    name, db = database_of_kind(settings, kind)
    if db.mode == "external":
        host, port = db.host, db.port
    else:
        host, port = "127.0.0.1", host_ports(settings, ident)[f"{name}.main"]
    return Endpoint(name, db.kind, host, port, db.user, db.password, db.mode)


def inner_endpoint(settings: Settings, kind: str) -> Endpoint:
    """How a container on the branch's network reaches the ``kind`` database."""
    name, db = database_of_kind(settings, kind)
    if db.mode == "external":
        host = HOST_ALIAS if db.host in LOOPBACK else db.host
        return Endpoint(name, db.kind, host, db.port, db.user, db.password, db.mode)
    return Endpoint(name, db.kind, name, db.port, db.user, db.password, db.mode)
