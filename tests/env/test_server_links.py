"""The server keeps env.status's database connections and lends them to the next one (server/lent.py).

Told by the database servers themselves: Postgres names each backend (its pid, its start) in
``pg_stat_activity``, KeyDB each client (its id) in ``CLIENT LIST``. env.status's link to Postgres is
the only connection to its ``postgres`` database; the KeyDB one is the client that last ran INFO.
"""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from tests.env.conftest import CLIKD, ROOT, Branches, settings_for
from tests.env.serving import Served, until

pytestmark = [pytest.mark.testbed, pytest.mark.xdist_group("server")]

HELD = (
    "SELECT pid FROM pg_stat_activity WHERE datname = 'postgres' "
    "AND backend_type = 'client backend' AND pid <> pg_backend_pid() ORDER BY pid"
)


def _endpoint(branch: str, kind: str) -> Any:
    from tasks.core.branch import identity
    from tasks.core.stores import endpoint

    settings = settings_for()
    ident = identity(branch, project=settings.project.name, main_branch=settings.git.main_branch)
    return endpoint(settings, ident, kind)


def _postgres(branch: str) -> Any:
    import psycopg

    ep = _endpoint(branch, "postgres")
    return psycopg.connect(ep.postgres_dsn("template1"), autocommit=True)  # not `postgres`: not counted


def _links(branch: str) -> list[int]:
    """The backends connected to the branch's `postgres` database: env.status's links (and, for a
    moment after a status, its probe's backend on its way out)."""
    with _postgres(branch) as conn:
        return [row[0] for row in conn.execute(HELD).fetchall()]


def _one_link(branch: str) -> list[int]:
    """The link, once it is the only backend left in the `postgres` database."""

    def single() -> list[int]:
        pids = _links(branch)
        return pids if len(pids) == 1 else []

    found = until("one link held", single)
    assert isinstance(found, list)
    return found


def _keydb_clients(branch: str) -> set[str]:
    """The ids of the clients of the branch's KeyDB that ran INFO last (env.status's size reading)."""
    import redis

    ep = _endpoint(branch, "keydb")
    client = redis.Redis(host=ep.host, port=ep.port, password=ep.password or None)
    try:
        listed = client.client_list()
        return {c["id"] for c in listed if c.get("cmd") == "info"}
    finally:
        client.close()


def _status(served: Served, branch: str) -> dict[str, Any]:
    import json

    done = served.run("env.status", "--branch", branch, "--json")
    assert done.returncode == 0, done.stderr
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def _postgres_size(snap: dict[str, Any]) -> str:
    found = [c for c in snap["databases"] if c.get("kind") == "postgres"]
    assert found, snap["databases"]
    return str(found[0]["size"])


def test_the_next_status_reads_on_the_links_the_last_one_left(served: Served, branches: Branches) -> None:
    branch = branches.new(served.env)
    served.start()
    assert served.run("env.start", "--branch", branch).returncode == 0
    assert _links(branch) == [], "no status ran yet"

    _status(served, branch)
    held = _one_link(branch)
    keydb = _keydb_clients(branch)
    assert len(keydb) == 1, keydb

    served.run("env.start", "--branch", branch)  # a command that borrows nothing leaves them be
    snap = _status(served, branch)
    assert _one_link(branch) == held  # the same backend: no new connection was made
    assert _keydb_clients(branch) == keydb
    assert "databases" in _postgres_size(snap), _postgres_size(snap)


def test_a_link_the_server_closed_is_replaced(served: Served, branches: Branches) -> None:
    branch = branches.new(served.env)
    served.start()
    assert served.run("env.start", "--branch", branch).returncode == 0
    _status(served, branch)
    held = _one_link(branch)
    with _postgres(branch) as conn:  # Postgres ends it, as a restart or an administrator would
        conn.execute("SELECT pg_terminate_backend(%s)", (held[0],))
    until("the backend to end", lambda: held[0] not in _links(branch))

    snap = _status(served, branch)
    assert "databases" in _postgres_size(snap), _postgres_size(snap)  # read on a new link, not failed
    again = _one_link(branch)
    assert again != held


def test_two_at_once_leave_one_link_and_no_command_leaves_one_in_process(
    served: Served, branches: Branches
) -> None:
    branch = branches.new(served.env)
    served.start()
    assert served.run("env.start", "--branch", branch).returncode == 0
    # In-process (no server to hand them to), env.status closes what it opened.
    assert served.run("env.status", "--branch", branch, CLIKD_SERVER="0").returncode == 0
    until("no link left", lambda: _links(branch) == [])
    # Two at once: one borrows or connects, the other connects; the server keeps one of the two.
    both = [
        subprocess.Popen(
            [str(CLIKD), "env.status", "--branch", branch, "--json"],
            cwd=ROOT,
            env=served.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    assert [p.wait(timeout=300) for p in both] == [0, 0]
    until("one link held", lambda: len(_links(branch)) == 1)
