"""What the db tasks act on: a branch's three stores, reached from this machine."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from tasks.core.branch import BranchIdentity
from tasks.core.db.errors import NotLocal
from tasks.core.db.files import STORES, Migration, Source, load
from tasks.core.session import Session
from tasks.core.stores import Endpoint, endpoint

T = TypeVar("T")


@dataclass(frozen=True)
class Target:
    ident: BranchIdentity
    root: Path
    postgres: Endpoint
    scylla: Endpoint
    keydb: Endpoint

    @property
    def branch(self) -> str:
        return self.ident.branch

    def database(self, role: str) -> str:
        return self.ident.postgres_db(role)

    @property
    def keyspace(self) -> str:
        return self.ident.keyspace

    @property
    def prefix(self) -> str:
        return self.ident.key_prefix

    @property
    def pattern(self) -> str:
        return self.ident.key_pattern

    def name_of(self, store: str) -> str:
        if store in ("auth", "main"):
            return self.database(store)
        return self.keyspace if store == "scylla" else self.prefix

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
    )


def for_branch(session: Session, branch: str) -> Target:
    """The same stores as ``session`` but another branch's names."""
    from tasks.core.branch import identity

    settings = session.config.settings
    ident = identity(branch, project=settings.project.name, main_branch=settings.git.main_branch)
    base = for_session(session)
    return Target(ident, base.root, base.postgres, base.scylla, base.keydb)


def require_local(what: str) -> None:
    """Refuse data-changing development work unless the target is local development.

    The target comes from CLIKD_TARGET (``env.switch`` sets it; local when unset).
    """
    chosen = os.environ.get("CLIKD_TARGET", "local").strip().lower() or "local"
    if chosen != "local":
        raise NotLocal(
            f"{what} only runs against local development, and the target is {chosen!r}",
            hint="switch back with inv env.switch local (or unset CLIKD_TARGET)",
        )


def parallel(jobs: dict[str, Callable[[], T]]) -> dict[str, T]:
    """Run the jobs in threads; re-raise the first failure (in the order given) after all finished."""
    if len(jobs) == 1:
        ((name, job),) = jobs.items()
        return {name: job()}
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = {name: pool.submit(job) for name, job in jobs.items()}
        errors = [f.exception() for f in futures.values()]
        for error in errors:
            if error is not None:
                raise error
        return {name: f.result() for name, f in futures.items()}
