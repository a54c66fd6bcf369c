"""db.migrate / db.status against the real servers: from empty, rerun, drift, failure, concurrency."""

from __future__ import annotations

import json

from tasks.core.db.files import STORES, Source, load
from tests.db.conftest import Branches, Project
from tests.db.helpers import (
    cql_history,
    cql_tables,
    kv_history,
    kv_keys,
    pg_history,
    pg_tables,
)

AUTH_TABLES = {"accounts", "credentials", "sessions", "refresh_tokens", "signing_keys", "login_attempts"}
MAIN_TABLES = {
    "users",
    "profiles",
    "follows",
    "games",
    "drops",
    "drop_likes",
    "drop_comments",
    "crews",
    "crew_memberships",
    "crew_invites",
    "payments",
    "coin_balances",
    "staff",
    "reports",
    "audit_log",
}
CQL_TABLES = {
    "feed_by_user",
    "timeline_by_author",
    "channels_by_user",
    "chat_messages",
    "activity_by_user",
    "drop_metrics",
}


def counts(project: Project) -> dict[str, int]:
    return {s: len(load(Source(project.root), s)) for s in STORES}


def test_migrate_from_empty_then_rerun_is_a_no_op(project: Project, branches: Branches) -> None:
    branch = branches.new()
    first = project.inv("db.migrate", "--json", branch=branch)
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    files = counts(project)
    assert {s["store"]: len(s["applied"]) for s in report["stores"]} == files
    assert all(s["created"] for s in report["stores"])

    t = project.target(branch)
    assert pg_tables(t, "auth") >= AUTH_TABLES | {"clikd_migrations"}
    assert pg_tables(t, "main") >= MAIN_TABLES | {"clikd_migrations"}
    assert cql_tables(t) >= CQL_TABLES | {"clikd_migrations"}
    assert any(k.endswith(":meta:namespaces") for k in kv_keys(t))
    assert len(pg_history(t, "main")) == files["main"]
    assert set(cql_history(t).values()) == {True}
    assert len(kv_history(t)) == files["keydb"]

    again = project.inv("db.migrate", "--json", branch=branch)
    assert again.returncode == 0, again.stderr
    assert all(s["applied"] == [] and not s["created"] for s in json.loads(again.stdout)["stores"])

    status = project.inv("db.status", "--json", branch=branch)
    assert status.returncode == 0, status.stderr
    doc = json.loads(status.stdout)
    for store in doc["stores"]:
        assert store["exists"]
        assert {m["state"] for m in store["migrations"]} == {"applied"}, store


def test_status_of_a_branch_never_migrated(project: Project, branches: Branches) -> None:
    branch = branches.new()
    done = project.inv("db.status", "--json", branch=branch)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    for store in doc["stores"]:
        assert not store["exists"]
        assert {m["state"] for m in store["migrations"]} == {"pending"}
    human = project.clikd("db.status", branch=branch)
    assert human.returncode == 0, human.stderr
    assert "not created" in human.stdout
    seeded = project.inv("db.seed", branch=branch)  # nothing to seed into: a message, not a traceback
    assert seeded.returncode == 1
    assert "does not exist" in seeded.stderr and "Traceback" not in seeded.stderr


def test_drift_is_reported_and_not_rerun(project: Project, branches: Branches) -> None:
    branch = branches.new()
    assert project.inv("db.migrate", branch=branch).returncode == 0
    t = project.target(branch)
    before = pg_history(t, "auth")
    # edit an applied migration, and a CRLF-only change that must not count as drift
    edited = sorted((project.root / "migrations/postgres/auth").iterdir())[0]
    edited.write_text(edited.read_text() + "\nCREATE TABLE sneaky (id int);\n")
    crlf = sorted((project.root / "migrations/postgres/main").iterdir())[0]
    crlf.write_bytes(crlf.read_bytes().replace(b"\n", b"\r\n"))
    scylla_file = sorted((project.root / "migrations/scylla").iterdir())[0]
    scylla_file.write_text(scylla_file.read_text().replace("newest first", "latest first"))

    status = json.loads(project.inv("db.status", "--json", branch=branch).stdout)
    states = {s["store"]: [m["state"] for m in s["migrations"]] for s in status["stores"]}
    assert states["auth"][0] == "drift"
    assert "drift" not in states["main"]
    assert states["scylla"][0] == "drift"

    done = project.inv("db.migrate", branch=branch)
    assert done.returncode == 0, done.stderr
    assert "drift" in done.stderr
    assert "sneaky" not in pg_tables(t, "auth")
    assert pg_history(t, "auth") == before
    human = project.inv("db.status", branch=branch)
    assert "drift" in human.stdout


def test_out_of_order_migration_is_applied_with_a_warning(project: Project, branches: Branches) -> None:
    branch = branches.new()
    assert project.inv("db.migrate", branch=branch).returncode == 0
    project.write(
        "migrations/postgres/main/20260101000000_merged_from_another_branch.sql",
        "CREATE TABLE late_arrival (id int PRIMARY KEY);\n",
    )
    project.write("migrations/keydb/20260101000000_late_key.redis", "SET {prefix}crew:config:late 1\n")
    done = project.inv("db.migrate", branch=branch)
    assert done.returncode == 0, done.stderr
    assert "older than the newest applied migration" in done.stderr
    t = project.target(branch)
    assert "late_arrival" in pg_tables(t, "main")
    assert 20260101000000 in kv_history(t)


def test_failing_migration_leaves_database_and_history_unchanged(
    project: Project, branches: Branches
) -> None:
    branch = branches.new()
    assert project.inv("db.migrate", branch=branch).returncode == 0
    t = project.target(branch)
    tables_before, history_before = pg_tables(t, "main"), pg_history(t, "main")
    project.write(
        "migrations/postgres/main/20270101000000_broken.sql",
        "CREATE TABLE half_done (id int);\n\nINSERT INTO half_done VALUES (1);\n"
        "ALTER TABLE users ADD COLUMN nickname text NOT NULL DEFAULT 'x' REFERENCES nowhere (id);\n",
    )
    done = project.inv("db.migrate", "--stores", "main", branch=branch)
    assert done.returncode == 1, done.stdout + done.stderr
    err = " ".join(done.stderr.split())
    assert "20270101000000_broken.sql line 4" in err  # the file and the failing statement's line
    assert 'relation "nowhere" does not exist' in err  # the server's message
    assert "ALTER TABLE users ADD COLUMN nickname" in err  # the statement
    assert pg_tables(t, "main") == tables_before
    assert pg_history(t, "main") == history_before

    # CQL: the history is unchanged (the claim is released), the error names file, line and message
    cql_before = cql_history(t)
    project.write(
        "migrations/scylla/20270101000000_broken.cql",
        "CREATE TABLE IF NOT EXISTS fine (id int PRIMARY KEY);\n"
        "CREATE TABLE broken (id nosuchtype PRIMARY KEY);\n",
    )
    done = project.inv("db.migrate", "--stores", "scylla", branch=branch)
    assert done.returncode == 1
    err = " ".join(done.stderr.split())
    assert "20270101000000_broken.cql line 2" in err and "nosuchtype" in err
    assert cql_history(t) == cql_before

    # KeyDB: a command the server rejects when queued aborts the whole file
    keys_before = kv_keys(t)
    project.write(
        "migrations/keydb/20270101000000_broken.redis", "SET {prefix}user:x 1\nNOSUCHCOMMAND {prefix}user:y\n"
    )
    done = project.inv("db.migrate", "--stores", "keydb", branch=branch)
    assert done.returncode == 1
    assert "20270101000000_broken.redis" in done.stderr
    assert kv_keys(t) == keys_before


def test_concurrent_migrate_from_two_processes(project: Project, branches: Branches) -> None:
    branch = branches.new()
    procs = [project.popen("db.migrate", "--json", branch=branch) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    reports = [json.loads(o[0]) for o in outs]
    files = counts(project)
    for store in STORES:
        applied = [len(next(s for s in r["stores"] if s["store"] == store)["applied"]) for r in reports]
        assert sum(applied) == files[store], (store, applied)  # each file applied exactly once
    t = project.target(branch)
    assert len(pg_history(t, "auth")) == files["auth"]
    assert len(cql_history(t)) == files["scylla"]
    assert len(kv_history(t)) == files["keydb"]


def test_new_creates_a_migration_from_the_template(project: Project, branches: Branches) -> None:
    done = project.inv("db.new", "add crew banners", "--store", "main", "--json")
    assert done.returncode == 0, done.stderr
    path = project.root / json.loads(done.stdout)["path"]
    assert path.name.endswith("_add_crew_banners.sql")
    assert path.name > sorted(p.name for p in path.parent.iterdir())[-2]
    bad = project.inv("db.new", "x", "--store", "mongo")
    assert bad.returncode == 2 and "unknown store" in bad.stderr
    done = project.inv("db.new", "typing state", "--store", "keydb")
    assert done.returncode == 0
    branch = branches.new()
    assert project.inv("db.migrate", branch=branch).returncode == 0  # the templates themselves apply


def test_a_server_that_does_not_answer_is_named_with_exit_5(project: Project, branches: Branches) -> None:
    config = project.root / "clikd.toml"
    config.write_text(config.read_text().replace("port = 9042", "port = 1"))
    done = project.inv("db.status", branch=f"test/unanswered-{branches.tag}")  # creates nothing
    assert done.returncode == 5, done.stderr
    err = " ".join(done.stderr.split())
    assert "the CQL server at 127.0.0.1:1 does not answer" in err and "[databases.scylla]" in err
