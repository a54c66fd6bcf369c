"""env.status, database side: migrations per store and queries per second per database (real servers)."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path
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


# ----------------------------------------------------------------------------- the kept sample


def _sample_file(branch: str, cache: Path) -> Path:
    from tasks.core.branch import identity

    settings = settings_for()
    ident = identity(branch, project=settings.project.name, main_branch=settings.git.main_branch)
    # the name comes from the branch's identity, like every branch-dependent name
    return cache / "clikd" / "status" / f"{ident.project}-{ident.slug}.json"


def _age(
    path: Path, seconds: float, change: dict[str, str] | None = None, *, older: bool = False
) -> dict[str, Any]:
    """Make the kept sample ``seconds`` older (and, per database in ``change``, of another server);
    ``older``: the earlier runs' samples as well."""
    kept = json.loads(path.read_text())
    for run in (kept.get("older") or []) if older else []:
        for reading in run.values():
            reading["wall"] -= seconds
    for name, reading in kept["readings"].items():
        reading["wall"] -= seconds
        if change and name in change:
            reading["server"] = change[name]
    path.write_text(json.dumps(kept))
    return dict(kept["readings"])


def _activity(branch: str, env: dict[str, str]) -> dict[str, dict[str, Any]]:
    run = clikd("env.status", "--branch", branch, "--json", env=env)
    assert run.code == 0, run.text
    return _by(run.data["activity"], "database")


def test_status_rates_against_the_sample_the_previous_run_kept(branches: Branches, tmp_path: Path) -> None:
    env = base_env(XDG_CACHE_HOME=str(tmp_path), COLUMNS="200")
    branch = branches.new(env)
    assert clikd("env.start", "--branch", branch, env=env).code == 0
    first = _activity(branch, env)  # no sample yet: two readings of its own, QPS_SAMPLE_S apart
    assert all(1.0 <= a["window_s"] < 60 for a in first.values()), first
    kept = _sample_file(branch, tmp_path)
    assert set(json.loads(kept.read_text())["readings"]) == {"auth", "main", "keydb", "scylla"}

    # as if the previous run had been 40 s ago; 50 transactions in main since then
    _age(kept, 40)
    with _postgres(branch, "main") as conn:
        for _ in range(50):
            conn.execute("SELECT 1")
        conn.execute("SELECT pg_stat_force_next_flush()")
    now = _activity(branch, env)
    assert all(a["window_s"] >= 40 for a in now.values()), now  # compared with the kept sample
    assert now["main"]["per_second"] * now["main"]["window_s"] >= 45, now["main"]  # rounding aside
    assert now["auth"]["per_second"] * now["auth"]["window_s"] < 45, now["auth"]

    _age(kept, 40)
    human = clikd("env.status", "--branch", branch, env=env)
    line = next(ln for ln in human.out.splitlines() if ln.startswith("queries"))
    assert "/sec over 4" in line, line  # a long window is said in the human view

    # after a break (an hour) the kept sample still answers, over the hour, with no wait
    _age(kept, 3600)
    hour = _activity(branch, env)
    assert all(a["window_s"] >= 3600 for a in hour.values()), hour

    # a sample older than MAX_AGE_S (a day) is not compared: sampled afresh
    _age(kept, 2 * 86400, older=True)
    stale = _activity(branch, env)
    assert all(1.0 <= a["window_s"] < 60 for a in stale.values()), stale


def test_status_never_compares_across_a_restarted_or_other_server(branches: Branches, tmp_path: Path) -> None:
    import docker

    env = base_env(XDG_CACHE_HOME=str(tmp_path), COLUMNS="200")
    branch = branches.new(env)
    assert clikd("env.start", "--branch", branch, env=env).code == 0
    _activity(branch, env)
    kept = _sample_file(branch, tmp_path)
    before = json.loads(kept.read_text())["readings"]

    # the branch's own KeyDB restarts (a new run_id, its counter from zero); main's sample says it
    # came from another Postgres database; auth's stays as it was
    labels = [f"dev.clikd.branch={branch}", "dev.clikd.service=keydb"]
    (container,) = docker.from_env().containers.list(filters={"label": labels})
    container.restart(timeout=5)
    assert clikd("env.start", "--branch", branch, env=env).code == 0  # healthy again
    _age(kept, 40, change={"main": before["main"]["server"].replace(" oid ", " oid 1")})
    now = _activity(branch, env)
    assert now["auth"]["window_s"] >= 40, now["auth"]
    assert now["keydb"]["window_s"] < 40 and now["main"]["window_s"] < 40, now
    assert all(a["per_second"] is not None and a["per_second"] >= 0 for a in now.values()), now
    after = json.loads(kept.read_text())["readings"]
    assert after["keydb"]["server"] != before["keydb"]["server"]  # run_id tells the servers apart
    assert after["main"]["server"] == before["main"]["server"]
