"""The test bed's CQL server (Apache Cassandra standing in for ScyllaDB) answers real CQL.

Needs the server from tests/infra/up (tests/infra/cassandra/up): 127.0.0.1:9042, facts in
$STATE/cassandra.json. CLIKD_CASSANDRA_HOST / CLIKD_CASSANDRA_PORT point these tests elsewhere.
"""

# CQL names below are made by the tests themselves (uuid-suffixed), never taken from input.
# ruff: noqa: S608

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from cassandra.cluster import Session

pytestmark = pytest.mark.testbed

HOST = os.environ.get("CLIKD_CASSANDRA_HOST", "127.0.0.1")
PORT = int(os.environ.get("CLIKD_CASSANDRA_PORT", "9042"))
# The one replication form both ScyllaDB 2025.4+ (which rejects SimpleStrategy) and Cassandra accept.
REPLICATION = "{'class': 'NetworkTopologyStrategy', 'replication_factor': 1}"


@pytest.fixture(scope="module")
def session() -> Iterator[Session]:
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, NoHostAvailable
    from cassandra.policies import WhiteListRoundRobinPolicy

    logging.getLogger("cassandra").setLevel(logging.ERROR)
    profile = ExecutionProfile(load_balancing_policy=WhiteListRoundRobinPolicy([HOST]), request_timeout=60)
    cluster = Cluster(
        [HOST], port=PORT, connect_timeout=5, execution_profiles={EXEC_PROFILE_DEFAULT: profile}
    )
    try:
        sess = cluster.connect()
    except NoHostAvailable as exc:
        cluster.shutdown()
        pytest.fail(
            f"no CQL server answers on {HOST}:{PORT} ({exc}); start the test bed with tests/infra/up "
            "(or just this server: tests/infra/cassandra/up)",
            pytrace=False,
        )
    yield sess
    cluster.shutdown()


@pytest.fixture(scope="module")
def keyspace(session: Session) -> Iterator[str]:
    name = f"clikd_tb_{uuid.uuid4().hex[:12]}"
    session.execute(f"CREATE KEYSPACE {name} WITH replication = {REPLICATION}")
    yield name
    session.execute(f"DROP KEYSPACE IF EXISTS {name}")


def test_release_version(session: Session) -> None:
    row = session.execute("SELECT release_version FROM system.local").one()
    major = row.release_version.split(".")[0]
    assert major.isdigit(), row.release_version


def test_keyspace_uses_network_topology_strategy(session: Session, keyspace: str) -> None:
    row = session.execute(
        "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = %s", (keyspace,)
    ).one()
    assert row is not None
    assert row.replication["class"].endswith("NetworkTopologyStrategy")
    # replication_factor is expanded to the one datacenter: {'datacenter1': '1'} on Cassandra
    assert "1" in {v for k, v in row.replication.items() if k != "class"}


def test_table_with_partition_and_clustering_keys(session: Session, keyspace: str) -> None:
    session.execute(
        f"CREATE TABLE {keyspace}.timeline (user_id uuid, posted_at timestamp, post_id uuid, body text, "
        "PRIMARY KEY ((user_id), posted_at, post_id)) WITH CLUSTERING ORDER BY (posted_at DESC, post_id ASC)"
    )
    user, other = uuid.uuid4(), uuid.uuid4()
    insert = session.prepare(
        f"INSERT INTO {keyspace}.timeline (user_id, posted_at, post_id, body) VALUES (?, ?, ?, ?)"
    )
    for ms, body in [(1_000, "first"), (3_000, "third"), (2_000, "second")]:
        session.execute(insert, (user, ms, uuid.uuid4(), body))
    session.execute(insert, (other, 5_000, uuid.uuid4(), "someone else"))

    rows = list(session.execute(f"SELECT body FROM {keyspace}.timeline WHERE user_id = %s", (user,)))
    assert [r.body for r in rows] == ["third", "second", "first"]  # clustering order DESC
    limited = session.execute(
        f"SELECT body FROM {keyspace}.timeline WHERE user_id = %s AND posted_at < %s LIMIT 1", (user, 3_000)
    ).one()
    assert limited.body == "second"


def test_lightweight_transaction(session: Session, keyspace: str) -> None:
    session.execute(f"CREATE TABLE {keyspace}.schema_migrations (version bigint PRIMARY KEY, name text)")
    stmt = f"INSERT INTO {keyspace}.schema_migrations (version, name) VALUES (%s, %s) IF NOT EXISTS"
    first = session.execute(stmt, (1, "init")).one()
    assert first[0] is True  # the [applied] column
    second = session.execute(stmt, (1, "again")).one()
    assert second[0] is False
    assert second.name == "init"  # a refused LWT returns the existing row
    cond = session.execute(
        f"UPDATE {keyspace}.schema_migrations SET name = 'renamed' WHERE version = 1 IF name = 'init'"
    ).one()
    assert cond[0] is True


def test_truncate_and_drop_keyspace(session: Session) -> None:
    name = f"clikd_tb_drop_{uuid.uuid4().hex[:8]}"
    session.execute(f"CREATE KEYSPACE {name} WITH replication = {REPLICATION}")
    session.execute(f"CREATE TABLE {name}.t (k int PRIMARY KEY, v text)")
    session.execute(f"INSERT INTO {name}.t (k, v) VALUES (1, 'x')")
    session.execute(f"TRUNCATE {name}.t")
    assert session.execute(f"SELECT * FROM {name}.t").one() is None
    session.execute(f"DROP KEYSPACE {name}")
    gone = session.execute(
        "SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = %s", (name,)
    ).one()
    assert gone is None
