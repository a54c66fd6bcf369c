"""The one working connection env.status keeps to each database server for a snapshot.

Opened for the first counter reading and kept for the size, the migrations (KeyDB, CQL) and the last
reading: a connection's set-up (TCP, authentication: SCRAM for Postgres) costs more than the few
queries sent on it. The Postgres one is to the server's ``postgres`` database, so none of its queries
counts in the branch databases' counters; their history tables are read on connections of their own.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from tasks.core.insight import resp
from tasks.core.stack import cql, pgwire
from tasks.core.stores import endpoint

if TYPE_CHECKING:
    from tasks.core.branch import BranchIdentity
    from tasks.core.config.schema import Settings

TIMEOUT_S = 2.0
COUNTED = ("postgres", "keydb", "scylla")  # the kinds with a request counter (and a link)
Link = pgwire.Connection | resp.Client | cql.Connection


def open_link(settings: Settings, ident: BranchIdentity, kind: str, timeout: float = TIMEOUT_S) -> Link:
    """A connected, authenticated link to the branch's server of ``kind`` (one of ``COUNTED``)."""
    ep = endpoint(settings, ident, kind)
    if kind == "postgres":
        return pgwire.Connection(
            ep.host, ep.port, user=ep.user or "postgres", password=ep.password, timeout=timeout
        )
    if kind == "keydb":
        return resp.Client(ep.host, ep.port, password=ep.password, timeout=timeout)
    if kind == "scylla":
        return cql.Connection(ep.host, ep.port, user=ep.user, password=ep.password, timeout=timeout)
    raise ValueError(f"no link for {kind}")


def close_all(links: dict[str, Link]) -> None:
    for link in links.values():
        with contextlib.suppress(OSError):  # a server that went away meanwhile: nothing to close cleanly
            link.close()
