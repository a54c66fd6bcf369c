"""db.connect: how to reach one of the branch's stores, and the shell that opens it.

The info (host, port, user, what the branch's data is called there, a URL with the password hidden)
is always available; the shell (psql, cqlsh, redis-cli; for the bucket the AWS CLI's listing) only
when it is installed. For redis-cli the prefix matters: the branch's keys are only those under it.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field

from tasks.core.db.target import Target

SHELLS = {"auth": "psql", "main": "psql", "scylla": "cqlsh", "keydb": "redis-cli", "s3": "aws"}


@dataclass
class ConnectInfo:
    store: str
    kind: str
    host: str
    port: int
    user: str
    name: str  # database, keyspace or key prefix
    url: str  # password hidden
    shell: str  # the program that opens it
    installed: bool
    argv: list[str] = field(default_factory=list)  # the shell's command line (password in env)


def info(t: Target, store: str) -> tuple[ConnectInfo, dict[str, str]]:
    """The store's connection facts, and the environment the shell needs (its password)."""
    program = SHELLS[store]
    env: dict[str, str] = {}
    if store in ("auth", "main"):
        ep, name = t.postgres, t.database(store)
        url = ep.display(name) if ep.password else ep.postgres_dsn(name)
        if ep.password:
            env["PGPASSWORD"] = ep.password
        argv = [program, "-h", ep.host, "-p", str(ep.port), "-U", ep.user, "-d", name]
    elif store == "scylla":
        ep, name = t.scylla, t.keyspace
        url = f"cql://{ep.user + '@' if ep.user else ''}{ep.host}:{ep.port}/{name}"
        argv = [program, ep.host, str(ep.port), "-k", name]
        if ep.user:
            argv += ["-u", ep.user, "-p", ep.password]
    elif store == "s3":
        ep, name = t.object_store(), t.bucket
        url = f"{ep.s3_url}/{name}"
        env = {"AWS_ACCESS_KEY_ID": ep.user, "AWS_SECRET_ACCESS_KEY": ep.password}
        argv = [program, "--endpoint-url", ep.s3_url, "s3", "ls", "--recursive", f"s3://{name}"]
    else:
        ep, name = t.keydb, t.prefix
        url = f"{ep.display()} (keys under {name})"
        argv = [program, "-h", ep.host, "-p", str(ep.port)]
        if ep.password:
            env["REDISCLI_AUTH"] = ep.password
    installed = shutil.which(program, path=os.environ.get("PATH")) is not None
    return ConnectInfo(store, ep.kind, ep.host, ep.port, ep.user, name, url, program, installed, argv), env
