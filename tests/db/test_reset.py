"""db.seed and db.reset on the real servers: confirmation, clean state, seed counts, templates, escaping."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from tasks.core.branch import standby_db
from tasks.core.db import keydb, postgres, scylla
from tests.db.conftest import Branches, Project
from tests.db.helpers import cql_count, kv_keys, pg_count, pg_tables


def seed_lines(project: Project, table: str) -> int:
    return sum(
        1 for line in (project.root / "seeds/scylla" / f"{table}.jsonl").read_text().splitlines() if line
    )


def keydb_seed_count(project: Project) -> int:
    return sum(1 for line in (project.root / "seeds/keydb/keys.jsonl").read_text().splitlines() if line)


def test_reset_without_yes_and_without_a_terminal_is_refused(project: Project, branches: Branches) -> None:
    branch = branches.new()
    done = project.inv("db.reset", branch=branch, stdin=None)
    assert done.returncode == 4, done.stdout + done.stderr
    assert "--yes" in done.stderr
    # nothing was created
    assert not postgres.database_exists(
        project.target(branch).postgres, project.target(branch).database("main")
    )


def test_reset_then_seed_counts(project: Project, branches: Branches) -> None:
    branch = branches.new()
    done = project.inv("db.reset", "--yes", "--json", branch=branch)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["seeded"]
    assert {s["store"] for s in report["stores"]} == {"auth", "main", "scylla", "keydb", "s3"}
    t = project.target(branch)
    assert pg_count(t, "main", "users") == 320
    assert pg_count(t, "auth", "accounts") == 320
    assert pg_count(t, "main", "drops") == 960
    assert pg_count(t, "main", "crews") == 36
    assert pg_count(t, "main", "payments") == 520
    for table in ("feed_by_user", "chat_messages", "activity_by_user", "drop_metrics"):
        assert cql_count(t, table) == seed_lines(project, table), table
    seeded_keys = kv_keys(t)
    assert len(
        [
            k
            for k in seeded_keys
            if ":_clikd:" not in k
            and ":meta:" not in k
            and ":config" not in k
            and not k.endswith("chat:events")
        ]
    ) == keydb_seed_count(project)
    # a key with a TTL kept it
    conn = keydb.client(t.keydb)
    session_key = next(k for k in seeded_keys if ":auth:session:" in k)
    assert 0 < conn.ttl(session_key) <= 86400

    # db.seed again changes nothing (idempotent)
    again = project.inv("db.seed", "--json", branch=branch)
    assert again.returncode == 0, again.stderr
    assert pg_count(t, "main", "users") == 320
    assert cql_count(t, "feed_by_user") == seed_lines(project, "feed_by_user")
    assert json.loads(again.stdout)["counts"]["main"]["users"] == 320


def test_reset_wipes_changes_and_reuses_the_template(project: Project, branches: Branches) -> None:
    branch = branches.new()
    assert project.inv("db.reset", "--yes", branch=branch).returncode == 0
    t = project.target(branch)
    with postgres.connect(t.postgres, t.database("main")) as conn:
        conn.execute("DELETE FROM drop_likes")
        conn.execute("CREATE TABLE scratch (id int)")
    with scylla.session(t.scylla, t.keyspace) as sess:
        sess.execute("TRUNCATE feed_by_user")
        sess.execute(
            "INSERT INTO chat_messages (channel_id, day, message_id, body) "
            "VALUES (uuid(), '2026-01-01', now(), 'x')"
        )
    conn = keydb.client(t.keydb)
    conn.set(t.prefix + "user:extra", "1")

    done = project.inv("db.reset", "--yes", "--json", branch=branch)
    assert done.returncode == 0, done.stderr
    hows = {s["store"]: s["how"] for s in json.loads(done.stdout)["stores"]}
    assert "template built now" not in hows["main"]  # the cached template was cloned
    # emptied in place, no schema change; only the two tables that changed were touched
    assert "4 table(s) verified unchanged; 2 reseeded" in hows["scylla"]
    assert pg_count(t, "main", "drop_likes") > 0
    assert "scratch" not in pg_tables(t, "main")
    assert cql_count(t, "feed_by_user") == seed_lines(project, "feed_by_user")
    assert cql_count(t, "chat_messages") == seed_lines(project, "chat_messages")
    assert conn.get(t.prefix + "user:extra") is None

    # a single changed cell is noticed (content digest), and the delete strategy gives the same state
    with scylla.session(t.scylla, t.keyspace) as sess:
        row = sess.execute("SELECT user_id, channel_id FROM channels_by_user LIMIT 1").one()
        sess.execute(
            "UPDATE channels_by_user SET muted = null WHERE user_id = %s AND channel_id = %s",
            (row[0], row[1]),
        )
    done = project.inv("db.reset", "--yes", "--scylla-empty", "delete", "--json", branch=branch)
    assert done.returncode == 0, done.stderr
    hows = {s["store"]: s["how"] for s in json.loads(done.stdout)["stores"]}
    assert "5 table(s) verified unchanged; 1 reseeded (delete of 1" in hows["scylla"]
    assert cql_count(t, "chat_messages") == seed_lines(project, "chat_messages")
    with scylla.session(t.scylla, t.keyspace) as sess:
        muted = sess.execute(
            "SELECT muted FROM channels_by_user WHERE user_id = %s AND channel_id = %s", (row[0], row[1])
        ).one()
    assert muted[0] is not None

    # a new migration makes a new template, and the branch gets the new table
    project.write(
        "migrations/postgres/main/20270101000000_crew_banners.sql",
        f"-- run {branches.tag}: a fingerprint no earlier run built a template for\n"
        "ALTER TABLE crews ADD COLUMN banner_key text;\n"
        "CREATE TABLE crew_banners (crew_id uuid PRIMARY KEY);\n",
    )
    done = project.inv("db.reset", "--yes", "--json", "--stores", "main", branch=branch)
    assert done.returncode == 0, done.stderr
    assert "template built now" in json.loads(done.stdout)["stores"][0]["how"]
    assert "crew_banners" in pg_tables(t, "main")


def test_reset_without_seeds_and_a_scylla_schema_change(project: Project, branches: Branches) -> None:
    branch = branches.new()
    assert project.inv("db.reset", "--yes", branch=branch).returncode == 0
    project.write(
        "migrations/scylla/20270101000000_reactions.cql",
        "CREATE TABLE IF NOT EXISTS reactions "
        "(drop_id uuid, user_id uuid, kind text, PRIMARY KEY (drop_id, user_id));\n",
    )
    done = project.inv("db.reset", "--yes", "--no-seed", "--json", branch=branch)
    assert done.returncode == 0, done.stderr
    hows = {s["store"]: s["how"] for s in json.loads(done.stdout)["stores"]}
    assert "migrated afresh" in hows["scylla"]
    t = project.target(branch)
    assert pg_count(t, "main", "users") == 0
    assert cql_count(t, "reactions") == 0
    assert cql_count(t, "feed_by_user") == 0


def test_branch_names_that_need_escaping(project: Project, branches: Branches) -> None:
    nasty = branches.adopt(f"feature/Über*lange?[Änderung]\\{branches.tag}")
    plain = branches.new("plain")
    assert project.inv("db.reset", "--yes", branch=plain).returncode == 0
    plain_keys = kv_keys(project.target(plain))

    done = project.inv("db.reset", "--yes", branch=nasty)
    assert done.returncode == 0, done.stderr
    t = project.target(nasty)
    assert pg_count(t, "main", "users") == 320
    assert cql_count(t, "feed_by_user") > 0
    assert kv_keys(t)
    assert len(t.database("main").encode()) <= 63 and len(t.keyspace) <= 48
    # keys other branches own, including ones that share the text before a glob character, stay
    neighbour = t.prefix[: t.prefix.index("_", len("clikd_")) + 1] + "neighbour:x"
    conn = keydb.client(t.keydb)
    conn.set(neighbour, "keep")
    try:
        assert project.inv("db.reset", "--yes", branch=nasty).returncode == 0
        assert conn.get(neighbour) == b"keep"
        assert kv_keys(project.target(plain)) == plain_keys
    finally:
        conn.delete(neighbour)


def test_seed_refuses_a_target_other_than_local(project: Project, branches: Branches) -> None:
    branch = branches.new()
    project.env["CLIKD_TARGET"] = "staging"
    done = project.inv("db.seed", branch=branch)
    assert done.returncode != 0
    assert "local development" in done.stderr
    done = project.inv("db.reset", "--yes", branch=branch)
    assert done.returncode != 0


def test_seed_generator_is_deterministic(tmp_path: Path) -> None:
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[2]
    copy = tmp_path / "seeds"
    copy.mkdir()
    (copy / "generate.py").write_text((repo / "seeds/generate.py").read_text())
    subprocess.run([sys.executable, str(copy / "generate.py")], check=True, capture_output=True)
    for path in (repo / "seeds").rglob("*"):
        if path.is_file() and path.suffix in (".sql", ".jsonl"):
            assert (copy / path.relative_to(repo / "seeds")).read_bytes() == path.read_bytes(), path


def test_reset_asks_in_a_terminal(project: Project, branches: Branches) -> None:
    import pexpect

    from tests.db.conftest import INV, REPO

    branch = branches.new()
    env = {k: v for k, v in project.env.items() if k != "CLIKD_NO_PROMPT"}
    env["CLIKD_BRANCH"] = branch
    for answer, code in (("n", 4), ("y", 0)):
        child = pexpect.spawn(
            str(INV),
            ["--search-root", str(REPO), "db.reset", "--stores", "auth"],
            cwd=str(project.root),
            env=env,
            encoding="utf-8",
            timeout=120,
        )
        child.expect("Replace all data of branch")
        child.send(answer)
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == code, child.before
        exists = postgres.database_exists(
            project.target(branch).postgres, project.target(branch).database("auth")
        )
        assert exists == (answer == "y")


def test_a_template_collected_by_another_reset_before_the_copy_is_built_again(
    project: Project, branches: Branches, tmp_path: Path
) -> None:
    """Parallel checkouts keep only the newest templates: one may vanish between its build and our copy."""
    branch = branches.new()
    project.write(
        "migrations/postgres/main/20270101000000_race.sql",
        f"-- run {branches.tag}: a template of this test's own\nCREATE TABLE race_marker (id int);\n",
    )
    first = project.inv("db.reset", "--yes", "--json", "--stores", "main", branch=branch)
    assert first.returncode == 0, first.stderr
    how = json.loads(first.stdout)["stores"][0]["how"]
    assert "template built now" in how
    template = how.split(" of ", 1)[1].split(" ")[0]

    pauses = tmp_path / "pauses"
    env = dict(project.env, CLIKD_BRANCH=branch, CLIKD_TEST_PAUSE_AT="template:main")
    env["CLIKD_TEST_PAUSE_DIR"] = str(pauses)
    run = subprocess.Popen(
        [*project.inv_argv(), "db.reset", "--yes", "--json", "--stores", "main"],
        cwd=project.root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    marker = pauses / "template:main.reached"
    deadline = time.monotonic() + 120
    while not marker.exists() and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)  # waits for the marker, not for time to pass
    assert marker.exists(), run.communicate(timeout=30)
    # what another checkout's _collect does, while this reset holds the template's name only
    t = project.target(branch)
    with postgres.admin(t.postgres) as conn:
        conn.execute(f"ALTER DATABASE {postgres.quote_ident(template)} WITH IS_TEMPLATE false".encode())
        postgres.drop_database(conn, template)
        postgres.drop_database(conn, standby_db(t.ident.project, t.database("main")))
    (pauses / "template:main.go").touch()
    out, err = run.communicate(timeout=180)
    assert run.returncode == 0, err
    assert "template built now" in json.loads(out)["stores"][0]["how"]
    assert "race_marker" in pg_tables(t, "main")
    assert postgres.database_exists(t.postgres, template)


def test_templates_are_collected_least_recently_used_first_and_never_when_just_used(
    project: Project, branches: Branches
) -> None:
    from tasks.core.db import reset

    t = project.target(branches.new())
    role = f"lru{branches.tag}"  # a role of this test's own: other tests' templates are not counted
    names = [f"{t.ident.project}_tpl_{role}_{i}" for i in range(7)]
    now = time.time()
    used = [now - 3600, now - 5, now - 20, now - 30, now, None, now - 60]
    q = postgres.quote_ident
    with postgres.admin(t.postgres) as conn:
        try:
            for name, at in zip(names, used, strict=True):
                postgres.create_database(conn, name)
                note = "clikd template of x" + ("" if at is None else f"{reset.USED}{at:.0f}")
                conn.execute(f"COMMENT ON DATABASE {q(name)} IS {postgres.quote_literal(note)}".encode())
            reset._collect(conn, t, role, keep=names[6])
            left = {n for n in names if postgres.database_exists(t.postgres, n)}
            # beyond the kept one and the three most recently used, only those not used within
            # RECENT_S go: the 30 s old one stays, the hour-old and the never-stamped one do not
            assert left == {names[6], names[4], names[1], names[2], names[3]}
        finally:
            for name in names:
                postgres.drop_database(conn, name)
