"""env.status, database side: migrations per store and queries per second per database (real servers)."""

from __future__ import annotations

import socket
import threading
from typing import Any

import pytest

from tests.env.conftest import ROOT, Branches, base_env, clikd, settings_for

pytestmark = pytest.mark.testbed


def _postgres(branch: str, store: str) -> Any:
    import psycopg

    from tasks.core.branch import identity
    from tasks.core.stores import endpoint

    settings = settings_for()
    ident = identity(branch, project=settings.project.name, main_branch=settings.git.main_branch)
    ep = endpoint(settings, ident, "postgres")
    return psycopg.connect(ep.postgres_dsn(ident.postgres_db(store)), autocommit=True)


def _by(items: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    return {item[key]: item for item in items}


def test_status_shows_migrations_up_to_date_then_pending_then_drift(branches: Branches) -> None:
    branch = branches.new()
    assert clikd("env.start", "--branch", branch).code == 0
    snap = clikd("env.status", "--branch", branch, "--json").data
    migrations = _by(snap["migrations"], "store")
    assert set(migrations) == {"auth", "main", "scylla", "keydb"}
    assert all(m["state"] == "up to date" and m["applied"] > 0 for m in migrations.values()), migrations

    with _postgres(branch, "main") as conn:
        newest = conn.execute("SELECT max(version) FROM clikd_migrations").fetchone()[0]
        conn.execute("DELETE FROM clikd_migrations WHERE version = %s", (newest,))
    migrations = _by(clikd("env.status", "--branch", branch, "--json").data["migrations"], "store")
    assert migrations["main"]["state"] == "1 pending" and migrations["main"]["pending"] == 1
    assert migrations["auth"]["state"] == "up to date"

    with _postgres(branch, "auth") as conn:
        conn.execute(
            "UPDATE clikd_migrations SET checksum = '\\x00'::bytea "
            "WHERE version = (SELECT min(version) FROM clikd_migrations)"
        )
    human = clikd("env.status", "--branch", branch, env=base_env(COLUMNS="200"))
    assert human.code == 0, human.text
    line = next(ln for ln in human.out.splitlines() if ln.startswith("migrations"))
    assert "auth drift" in line and "main 1 pending" in line and "keydb up to date" in line


def test_status_counts_queries_per_database_from_the_servers_counters(branches: Branches) -> None:
    branch = branches.new()
    assert clikd("env.start", "--branch", branch).code == 0
    before = _by(clikd("env.status", "--branch", branch, "--json").data["activity"], "database")
    assert set(before) == {"auth", "main", "keydb", "scylla"}
    assert before["main"]["counter"] == "xact_commit + xact_rollback"
    assert before["keydb"]["scope"] == "server" and before["main"]["scope"] == "database"
    assert before["scylla"]["scope"] == "shared server"  # the test bed's Cassandra is external
    assert all(isinstance(a["total"], int) for a in before.values()), before
    assert all(a["per_second"] is not None and a["per_second"] >= 0 for a in before.values()), before

    # 50 transactions in main; Postgres publishes a session's counts when it goes idle at most once a
    # second, unless told to publish them before answering the next statement
    with _postgres(branch, "main") as conn:
        for _ in range(50):
            conn.execute("SELECT 1")
        conn.execute("SELECT pg_stat_force_next_flush()")
    after = _by(clikd("env.status", "--branch", branch, "--json").data["activity"], "database")
    assert after["main"]["total"] - before["main"]["total"] >= 50
    assert after["auth"]["total"] - before["auth"]["total"] < 50

    # KeyDB counts at once: commands sent while env.status samples show up as a rate
    from tasks.core.branch import identity
    from tasks.core.stack.probes import _resp
    from tasks.core.stores import endpoint

    settings = settings_for()
    ident = identity(branch, project=settings.project.name, main_branch=settings.git.main_branch)
    ep = endpoint(settings, ident, "keydb")
    stop = threading.Event()

    def load() -> None:
        with socket.create_connection((ep.host, ep.port), timeout=5) as sock:
            reader = sock.makefile("rb")
            while not stop.is_set():
                sock.sendall(_resp("PING"))
                reader.readline()

    worker = threading.Thread(target=load)
    worker.start()
    try:
        busy = _by(clikd("env.status", "--branch", branch, "--json").data["activity"], "database")
    finally:
        stop.set()
        worker.join()
    assert busy["keydb"]["per_second"] > 0, busy["keydb"]
    human = clikd("env.status", "--branch", branch, env=base_env(COLUMNS="200"))
    line = next(ln for ln in human.out.splitlines() if ln.startswith("queries"))
    assert "main " in line and "/sec)" in line and "keydb " in line


def test_status_watch_shows_the_database_lines_in_every_frame(branches: Branches) -> None:
    import pexpect

    from tests.env.conftest import CLIKD

    branch = branches.new()
    assert clikd("env.start", "--branch", branch).code == 0
    child = pexpect.spawn(
        str(CLIKD),
        ["env.status", "--watch", "--branch", branch],
        cwd=str(ROOT),
        env=base_env(COLUMNS="200"),
        encoding="utf-8",
        timeout=60,
        dimensions=(80, 200),
    )
    for _ in range(2):  # the first frame samples twice; the next ones compare with the frame before
        child.expect("migrations")  # (styles put escape codes between the words)
        child.expect("up to date")
        child.expect("queries")
        child.expect(r"\(\+[\d.]+/sec\)")
        child.expect("taken")
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_status_of_a_branch_without_a_stack_reads_only_the_external_store(testbed: dict[str, Any]) -> None:
    # the test bed's CQL server is external (shared), so it answers even when the branch has no stack
    run = clikd("env.status", "--branch", "t/status-db-no-stack", "--json")
    assert run.code == 0, run.text
    assert {m["store"]: m["state"] for m in run.data["migrations"]} == {"scylla": "not created"}
    assert [a["database"] for a in run.data["activity"]] == ["scylla"]
    human = clikd("env.status", "--branch", "t/status-db-no-stack", env=base_env(COLUMNS="200"))
    line = next(ln for ln in human.out.splitlines() if ln.startswith("migrations"))
    assert "scylla not created" in line and "auth" not in line
