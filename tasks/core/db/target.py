"""What the db tasks act on: a branch's stores on this machine, or an environment's behind its bastion."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from tasks.core.branch import BranchIdentity, glob_escape, identity
from tasks.core.db.files import STORES, Migration, Source, load
from tasks.core.session import Session
from tasks.core.stores import Endpoint, endpoint, has_kind

if TYPE_CHECKING:
    from tasks.core.remote.environments import RemoteNames

T = TypeVar("T")


@dataclass(frozen=True)
class Target:
    ident: BranchIdentity
    root: Path
    postgres: Endpoint
    scylla: Endpoint
    keydb: Endpoint
    # Set for staging/production: the names on the remote servers (the endpoints are SSH forwards).
    remote: RemoteNames | None = None
    # The object store, when configured: [databases.NAME] kind = "s3" locally, databases.s3 of a
    # remote environment (through the bastion like the databases).
    s3: Endpoint | None = None

    @property
    def branch(self) -> str:
        """The branch, or for a remote target the environment's name."""
        return self.ident.branch

    def database(self, role: str) -> str:
        return self.remote.database(role) if self.remote else self.ident.postgres_db(role)

    @property
    def keyspace(self) -> str:
        return self.remote.keyspace if self.remote else self.ident.keyspace

    @property
    def prefix(self) -> str:
        return self.remote.key_prefix if self.remote else self.ident.key_prefix

    @property
    def bucket(self) -> str:
        return self.remote.bucket if self.remote else self.ident.bucket

    @property
    def pattern(self) -> str:
        return glob_escape(self.prefix) + "*"

    def name_of(self, store: str) -> str:
        if store in ("auth", "main"):
            return self.database(store)
        if store == "s3":
            return self.bucket
        return self.keyspace if store == "scylla" else self.prefix

    @property
    def stores(self) -> list[str]:
        """Every store of the target: the four with migrations, then the object store when configured."""
        return [*STORES, "s3"] if self.s3 else list(STORES)

    def object_store(self) -> Endpoint:
        """The object store's endpoint, or a usage error saying it is not configured."""
        if self.s3 is None:
            from tasks.core.errors import UsageError

            if self.remote:
                raise UsageError(
                    f"[environments.{self.branch}.databases] has no s3: clikd does not know its object store",
                    hint=f'add s3 = {{ host = ..., port = ..., user = "<access key>", password_env = ... }} '
                    f"to [environments.{self.branch}.databases]",
                )
            raise UsageError(
                "no object store is configured",
                hint='add [databases.<name>] with kind = "s3" to clikd.toml',
            )
        return self.s3

    def migrations(self, source: Source | None = None) -> dict[str, list[Migration]]:
        src = source or Source(self.root)
        return {store: load(src, store) for store in STORES}


def for_session(session: Session) -> Target:
    settings = session.config.settings
    ident = session.ident
    return Target(
        ident=ident,
        root=session.root,
        postgres=endpoint(settings, ident, "postgres"),
        scylla=endpoint(settings, ident, "scylla"),
        keydb=endpoint(settings, ident, "keydb"),
        s3=endpoint(settings, ident, "s3") if has_kind(settings, "s3") else None,
    )


def for_branch(session: Session, branch: str) -> Target:
    """The same stores as ``session`` but another branch's names."""
    settings = session.config.settings
    ident = identity(branch, project=settings.project.name, main_branch=settings.git.main_branch)
    base = for_session(session)
    return Target(ident, base.root, base.postgres, base.scylla, base.keydb, s3=base.s3)


@contextmanager
def opened(session: Session, what: str) -> Iterator[Target]:
    """The stores ``what`` acts on: the session's target, local or through the bastion's tunnels."""
    choice = session.target
    if not choice.remote:
        yield for_session(session)
        return
    from tasks.core import console
    from tasks.core.remote import environments as envs
    from tasks.core.remote.tunnel import forwards, parse_bastion

    settings = session.config.settings
    name = choice.name
    env = envs.environment(settings, name)
    bastion = parse_bastion(env.bastion, name)
    remotes = {kind: envs.database(settings, name, kind) for kind in envs.KINDS}
    remotes.update({kind: env.databases[kind] for kind in envs.OPTIONAL_KINDS if kind in env.databases})
    console.note(f"tunnelling to {name}'s databases through {bastion}")
    with forwards(
        name,
        bastion,
        {kind: (db.host, db.port) for kind, db in remotes.items()},
        identity_file=env.identity_file,
        known_hosts=env.known_hosts,
        timeout=env.connect_timeout,
        what=what,
    ) as tunnels:
        # Each store as this machine now reaches it: the local end of its forward.
        ep = {
            kind: Endpoint(
                f"{name}-{kind}",
                kind,
                "127.0.0.1",
                tunnels.ports[kind],
                db.user,
                envs.password(db, name, kind),
                "remote",
            )
            for kind, db in remotes.items()
        }
        yield Target(
            ident=identity(name, project=settings.project.name, main_branch=settings.git.main_branch),
            root=session.root,
            postgres=ep["postgres"],
            scylla=ep["scylla"],
            keydb=ep["keydb"],
            remote=envs.names(settings, name),
            s3=ep.get("s3"),
        )


def parallel(jobs: dict[str, Callable[[], T]]) -> dict[str, T]:
    """Run the jobs in threads; re-raise the first failure (in the order given) after all finished."""
    return unwrap(settle(jobs), list(jobs))


def unwrap(outcomes: dict[str, tuple[bool, Any]], order: list[str]) -> dict[str, Any]:
    """The results, or the first failure in ``order`` raised."""
    for name in order:
        ok, value = outcomes[name]
        if not ok:
            raise value
    return {name: outcomes[name][1] for name in order}


# The libraries each store's jobs import on first use, keyed as the jobs are.
DRIVERS: dict[str, tuple[str, ...]] = {
    "postgres": ("psycopg",),
    "auth": ("psycopg",),
    "main": ("psycopg",),
    "scylla": ("cassandra.cluster", "cassandra.query", "cassandra.concurrent"),
    "keydb": ("redis",),
    "s3": ("minio", "minio.commonconfig", "minio.deleteobjects", "minio.error"),
}


def load_drivers(jobs: dict[str, Any]) -> None:
    """Import the drivers of the jobs' stores here, before any thread starts.

    Two threads importing one package tree for the first time can meet in CPython's per-module
    import locks and one gets ``_DeadlockError`` (seen in CI: minio's certifi importing
    importlib.resources while a sibling job imported part of it).
    """
    import importlib

    for name in dict.fromkeys(m for store in jobs for m in DRIVERS.get(store, ())):
        importlib.import_module(name)


def settle(jobs: dict[str, Callable[[], T]]) -> dict[str, tuple[bool, T | BaseException]]:
    """Run the jobs in threads and wait for all: each one's (True, result) or (False, exception)."""
    if len(jobs) == 1:
        ((name, job),) = jobs.items()
        try:
            return {name: (True, job())}
        except Exception as exc:  # handed to the caller, who re-raises it
            return {name: (False, exc)}
    # here, not at the top: env.status imports this module for the targets alone
    from concurrent.futures import ThreadPoolExecutor

    load_drivers(jobs)

    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = {name: pool.submit(job) for name, job in jobs.items()}
        out: dict[str, tuple[bool, T | BaseException]] = {}
        for name, future in futures.items():
            error = future.exception()
            out[name] = (True, future.result()) if error is None else (False, error)
        return out
