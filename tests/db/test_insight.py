"""db.inspect, db.schema, db.keys, db.flush and db.connect on the real servers: what a seeded branch
holds, per store, and never anything of another branch."""

from __future__ import annotations

import json
import uuid
from collections import Counter

from tasks.core.db import inspect_pg, keydb, postgres
from tests.db.conftest import Branches, Project
from tests.db.helpers import cql_count, cql_tables, kv_keys, pg_count, pg_tables


def _by_store(stdout: str) -> dict[str, dict[str, object]]:
    return {s["store"]: s for s in json.loads(stdout)["stores"]}


def test_inspect_reports_what_a_seeded_branch_holds(project: Project, branches: Branches) -> None:
    branch, other = branches.new(), branches.new("other")
    assert project.inv("db.reset", "--yes", branch=branch).returncode == 0
    t = project.target(branch)
    # a key outside the seeds' namespaces, and another branch's key the inspection must not see
    conn = keydb.client(t.keydb)
    conn.set(t.prefix + "probe:1", "x" * 5000)
    conn.set(project.target(other).prefix + "auth:foreign", "y")

    done = project.inv("db.inspect", "--json", branch=branch)
    assert done.returncode == 0, done.stderr
    stores = _by_store(done.stdout)
    assert list(stores) == ["auth", "main", "scylla", "keydb", "s3"]
    files = project.target(branch).migrations()

    for role in ("auth", "main"):
        s = stores[role]
        assert s["exists"] and s["error"] == "" and s["target"] == t.database(role)
        assert s["applied"] == s["total"] == len(files[role]) > 0
        assert s["version"] == max(m.version for m in files[role])
        tables = {x["name"]: x for x in s["tables"]}  # type: ignore[union-attr]
        assert set(tables) == pg_tables(t, role) - {postgres.HISTORY}
        for name, table in tables.items():
            assert table["exact"] and table["rows"] == pg_count(t, role, name), name
            assert table["bytes"] > 0, name  # a table has at least its first page
        assert s["bytes"] >= sum(x["bytes"] for x in tables.values())
    assert {x["name"]: x["rows"] for x in stores["main"]["tables"]}["users"] == 320  # type: ignore[index]

    cql = stores["scylla"]
    assert cql["exists"] and cql["error"] == "" and cql["applied"] == cql["total"] == len(files["scylla"])
    assert cql["version"] == max(m.version for m in files["scylla"])
    tables = {x["name"]: x for x in cql["tables"]}  # type: ignore[union-attr]
    assert set(tables) == cql_tables(t) - {"clikd_migrations", "clikd_seed_state"}
    for name, table in tables.items():
        assert table["exact"] and table["rows"] == cql_count(t, name), name

    kv = stores["keydb"]
    keys = [k for k in kv_keys(t) if ":_clikd:" not in k]
    expected = Counter(k[len(t.prefix) :].split(":", 1)[0] for k in keys)
    namespaces = {n["name"]: n for n in kv["namespaces"]}  # type: ignore[union-attr]
    assert {n: v["keys"] for n, v in namespaces.items()} == dict(expected)
    assert kv["keys"] == len(keys) and namespaces["probe"]["keys"] == 1
    assert namespaces["probe"]["bytes"] >= 5000 and namespaces["probe"]["exact"]
    assert "foreign" not in done.stdout  # nothing of the other branch
    assert kv["applied"] == kv["total"] == len(files["keydb"]) and kv["uptime_s"] > 0

    human = project.inv("db.inspect", "--stores", "main,keydb", branch=branch)
    assert human.returncode == 0, human.stderr
    assert f"stores of branch {branch}" in human.stdout
    assert "users" in human.stdout and "probe:*" in human.stdout


def test_inspect_of_a_branch_never_created_says_so_per_store(project: Project, branches: Branches) -> None:
    branch = branches.new()
    done = project.inv("db.inspect", "--json", branch=branch)
    assert done.returncode == 0, done.stderr
    stores = _by_store(done.stdout)
    assert all(not s["exists"] and s["applied"] == 0 for s in stores.values()), stores
    assert all(s["total"] > 0 for name, s in stores.items() if name != "s3"), stores  # a bucket has none
    human = project.inv("db.inspect", branch=branch)
    assert human.stdout.count("not created") == 5, human.stdout


def test_a_store_that_does_not_answer_is_named_and_the_others_are_still_shown(
    project: Project, branches: Branches
) -> None:
    import socket

    branch = branches.new()
    assert project.inv("db.reset", "--yes", "--no-seed", "--stores", "main", branch=branch).returncode == 0
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    config = project.root / "clikd.toml"
    text = config.read_text()
    keydb_at = text.index("[databases.keydb]")
    head, tail = text[:keydb_at], text[keydb_at:]
    tail = "\n".join(f"port = {port}" if line.startswith("port = ") else line for line in tail.splitlines())
    config.write_text(head + tail + "\n")
    try:
        done = project.inv("db.inspect", "--json", branch=branch)
    finally:
        config.write_text(text)  # the cleanup reaches the real KeyDB again
    assert done.returncode == 5, done.stdout + done.stderr
    stores = _by_store(done.stdout)
    assert f"127.0.0.1:{port}" in str(stores["keydb"]["error"])
    assert stores["main"]["exists"] and stores["main"]["error"] == ""
    assert "keydb: KeyDB at" in done.stderr and "env.start" in done.stderr


def test_inspect_names_an_unknown_store(project: Project, branches: Branches) -> None:
    done = project.inv("db.inspect", "--stores", "mian", branch=branches.new())
    assert done.returncode == 2, done.stdout + done.stderr
    assert "unknown store 'mian'" in done.stderr and "auth, main, scylla, keydb, s3" in done.stderr


def test_schema_sql_builds_the_same_schema_and_cql_is_the_servers_own(
    project: Project, branches: Branches
) -> None:
    branch = branches.new()
    assert project.inv("db.reset", "--yes", "--no-seed", branch=branch).returncode == 0
    t = project.target(branch)
    done = project.inv("db.schema", "--json", branch=branch)
    assert done.returncode == 0, done.stderr
    stores = {s["store"]: s for s in json.loads(done.stdout)["stores"]}

    # The SQL, run in an empty database by Postgres itself, gives the same catalogs.
    scratch = f"clikd_schema_check_{uuid.uuid4().hex[:8]}"
    with postgres.admin(t.postgres) as admin:
        postgres.create_database(admin, scratch)
    try:
        with postgres.connect(t.postgres, scratch) as conn:
            for statement in stores["main"]["statements"]:
                conn.execute(statement.encode())
            rebuilt = inspect_pg.schema(conn)
        with postgres.connect(t.postgres, t.database("main")) as conn:
            original = inspect_pg.schema(conn)
        assert rebuilt == original
    finally:
        with postgres.admin(t.postgres) as admin:
            postgres.drop_database(admin, scratch)

    cql = stores["scylla"]
    assert cql["exists"] and cql["language"] == "cql"
    text = "\n".join(cql["statements"])
    assert f"CREATE KEYSPACE {t.keyspace}" in text or f'CREATE KEYSPACE "{t.keyspace}"' in text
    for table in cql_tables(t) - {"clikd_migrations", "clikd_seed_state"}:
        assert f".{table} (" in text, table
    assert "clikd_migrations" not in text

    human = project.inv("db.schema", "--stores", "auth,keydb", branch=branch)
    assert human.returncode == 0, human.stderr
    assert f"-- auth: {t.database('auth')}" in human.stdout and "CREATE TABLE" in human.stdout
    assert f"# keydb: {t.prefix}" in human.stdout


def test_keys_lists_only_the_branchs_keys_with_values(project: Project, branches: Branches) -> None:
    branch, other = branches.new(), branches.new("other")
    assert project.inv("db.reset", "--yes", "--stores", "keydb", branch=branch).returncode == 0
    t = project.target(branch)
    keydb.client(t.keydb).hset(project.target(other).prefix + "auth:session:foreign", "x", "1")
    sessions = sorted(k[len(t.prefix) :] for k in kv_keys(t) if k.startswith(t.prefix + "auth:session:"))
    assert sessions

    done = project.inv("db.keys", "auth:session:*", "--values", "--limit", "100000", "--json", branch=branch)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert [k["key"] for k in report["keys"]] == sessions and not report["more"]
    first = report["keys"][0]
    assert first["type"] == "hash" and "account_id" in first["value"] and 0 < first["ttl_s"] <= 86400
    assert "foreign" not in done.stdout

    few = project.inv("db.keys", "auth:session:*", "--limit", "3", "--json", branch=branch)
    assert len(json.loads(few.stdout)["keys"]) == 3 and json.loads(few.stdout)["more"]
    none = project.inv("db.keys", "nothing:here:*", branch=branch)
    assert none.returncode == 0 and "no key of branch" in none.stdout


def test_flush_asks_then_empties_only_the_branchs_keys_and_migrates_again(
    project: Project, branches: Branches
) -> None:
    branch, other = branches.new(), branches.new("other")
    assert project.inv("db.reset", "--yes", "--stores", "keydb", branch=branch).returncode == 0
    t, o = project.target(branch), project.target(other)
    keydb.client(t.keydb).set(o.prefix + "cache:kept", "1")
    before = kv_keys(t)

    refused = project.inv("db.flush", branch=branch)
    assert refused.returncode == 4 and "--yes" in refused.stderr, refused.stderr
    assert kv_keys(t) == before

    wrong = project.inv("db.flush", "--stores", "scylla", "--yes", branch=branch)
    assert wrong.returncode == 2 and "'scylla' is not a store it can flush" in wrong.stderr, wrong.stderr

    done = project.inv("db.flush", "--yes", "--json", branch=branch)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    files = t.migrations()["keydb"]
    assert report["migrations"] == len(files) and report["deleted"] == len(before)
    left = kv_keys(t)
    assert left < before  # the seeds are gone; what the migrations make is back
    assert {int(v) for v in keydb.client(t.keydb).hkeys(keydb.history_key(t.prefix))} == {
        m.version for m in files
    }
    assert keydb.client(t.keydb).get(o.prefix + "cache:kept") == b"1"


def test_connect_prints_the_facts_and_opens_psql_on_the_branchs_database(
    project: Project, branches: Branches
) -> None:
    import pexpect

    from tests.db.conftest import INV, REPO

    branch = branches.new()
    assert project.inv("db.reset", "--yes", "--stores", "main", branch=branch).returncode == 0
    t = project.target(branch)
    facts = project.inv("db.connect", "main", "--json", branch=branch)
    assert facts.returncode == 0, facts.stderr
    found = json.loads(facts.stdout)
    assert (found["host"], found["port"], found["name"]) == (
        t.postgres.host,
        t.postgres.port,
        t.database("main"),
    )
    if t.postgres.password:
        assert t.postgres.password not in facts.stdout and ":****@" in found["url"]
    keys = json.loads(project.inv("db.connect", "keydb", "--json", branch=branch).stdout)
    assert keys["name"] == t.prefix and keys["shell"] == "redis-cli"

    missing = project.clikd("db.connect", branch=branch)
    assert missing.returncode == 2 and "required positional arguments: 'store'" in missing.stderr
    wrong = project.inv("db.connect", "mian", branch=branch)
    assert wrong.returncode == 2 and "auth, main, scylla, keydb" in wrong.stderr, wrong.stderr

    env = {k: v for k, v in project.env.items() if k != "CLIKD_NO_PROMPT"}
    env["CLIKD_BRANCH"] = branch
    child = pexpect.spawn(
        str(INV),
        ["--search-root", str(REPO), "db.connect", "main"],
        cwd=str(project.root),
        env=env,
        encoding="utf-8",
        timeout=60,
    )
    child.expect(f"{t.database('main')}=")  # psql's prompt names the database
    child.sendline("SELECT 'count:' || count(*) FROM users;")
    child.expect("count:320")
    child.sendline("\\q")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
