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
from tasks.core.server import lent
from tasks.core.stack import cql, pgwire
from tasks.core.stores import endpoint

if TYPE_CHECKING:
    from tasks.core.branch import BranchIdentity
    from tasks.core.config.schema import Settings

TIMEOUT_S = 2.0
COUNTED = ("postgres", "keydb", "scylla")  # the kinds with a request counter (and a link)
Link = pgwire.Connection | resp.Client | cql.Connection
_names: dict[int, str] = {}  # id of each open link -> its key in server/lent.py


def open_link(settings: Settings, ident: BranchIdentity, kind: str, timeout: float = TIMEOUT_S) -> Link:
    """A connected, authenticated link to the branch's server of ``kind`` (one of ``COUNTED``)."""
    if kind not in COUNTED:
        raise ValueError(f"no link for {kind}")
    ep = endpoint(settings, ident, kind)
    user = (ep.user or "postgres") if kind == "postgres" else ep.user
    database = "postgres" if kind == "postgres" else ""
    name = lent.key(kind, ep.host, ep.port, user=user, password=ep.password, database=database)
    sock = lent.take(name, timeout)
    link: Link
    if kind == "postgres":
        link = (
            pgwire.Connection.adopt(sock, user=user, password=ep.password)
            if sock is not None
            else pgwire.Connection(ep.host, ep.port, user=user, password=ep.password, timeout=timeout)
        )
    elif kind == "keydb":
        link = (
            resp.Client.adopt(sock)
            if sock is not None
            else resp.Client(ep.host, ep.port, password=ep.password, timeout=timeout)
        )
    else:
        link = (
            cql.Connection.adopt(sock)
            if sock is not None
            else cql.Connection(ep.host, ep.port, user=user, password=ep.password, timeout=timeout)
        )
    _names[id(link)] = name
    return link


def close_all(links: dict[str, Link]) -> None:
    """Hand each idle link on (server/lent.py); close the others."""
    for link in links.values():
        name = _names.pop(id(link), None)
        if name is not None and link.idle:
            lent.give(name, link.detach() if isinstance(link, resp.Client) else link.sock)
            continue
        with contextlib.suppress(OSError):  # a server that went away meanwhile: nothing to close cleanly
            link.close()
