"""db.dump / db.restore round trip and db.branch copies: every store equal afterwards."""

# ruff: noqa: S608  (test statements with fixed text)
from __future__ import annotations

import json
from pathlib import Path

from tasks.core.db import keydb, postgres, scylla
from tests.db.conftest import Branches, Project
from tests.db.helpers import cql_state, kv_state, pg_state


def state(project: Project, branch: str) -> dict[str, object]:
    t = project.target(branch)
    return {
        "auth": pg_state(t, "auth"),
        "main": pg_state(t, "main"),
        "scylla": cql_state(t),
        "keydb": kv_state(t),
    }


def scribble(project: Project, branch: str, tag: str) -> None:
    """Change data in every store so that a state differs from the seeds and from the last one."""
    t = project.target(branch)
    with postgres.connect(t.postgres, t.database("main")) as conn:
        conn.execute(f"UPDATE profiles SET bio = 'edited {tag}' WHERE country = 'DE'".encode())
        conn.execute("DELETE FROM drop_likes WHERE created_at < '2026-10-01'")
        conn.execute(f"SELECT audit(NULL, 'test.{tag}', 'test', 'x')".encode())
    with postgres.connect(t.postgres, t.database("auth")) as conn:
        conn.execute("UPDATE accounts SET status = 'suspended' WHERE locale = 'ja'")
    with scylla.session(t.scylla, t.keyspace) as sess:
        sess.execute(
            "INSERT INTO chat_messages (channel_id, day, message_id, sender_id, body, reactions) "
            f"VALUES (uuid(), '2026-11-02', now(), uuid(), 'hello {tag}', {{'👍': 2}})"
        )
        sess.execute(
            "DELETE FROM drop_metrics WHERE drop_id = 00000000-0000-0000-0000-000000000000 "
            "AND day = '2026-01-01'"
        )
    conn = keydb.client(t.keydb)
    conn.set(t.prefix + f"user:note:{tag}", "x", ex=3600)
    conn.hset(t.prefix + "feed:config", "page_size", tag)
    conn.xadd(t.prefix + "chat:events", {"kind": tag})


def test_dump_restore_round_trip(project: Project, branches: Branches, tmp_path: Path) -> None:
    branch = branches.new()
    assert project.inv("db.reset", "--yes", branch=branch).returncode == 0
    scribble(project, branch, "one")
    before = state(project, branch)

    out = tmp_path / "dump"
    done = project.inv("db.dump", "--output", str(out), "--json", branch=branch)
    assert done.returncode == 0, done.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["branch"] == branch
    assert manifest["stores"]["main"]["rows"]["users"] == 320
    assert json.loads(done.stdout)["manifest"] == manifest

    scribble(project, branch, "two")  # drift away, then come back
    assert state(project, branch) != before
    refused = project.inv("db.restore", str(out), branch=branch)
    assert refused.returncode == 4 and "--yes" in refused.stderr
    done = project.inv("db.restore", str(out), "--yes", branch=branch)
    assert done.returncode == 0, done.stderr
    assert state(project, branch) == before

    # into another branch (other database, keyspace and prefix names): the same data
    other = branches.new("copy")
    done = project.inv("db.restore", str(out), "--yes", branch=other)
    assert done.returncode == 0, done.stderr
    assert state(project, other) == before

    # a changed dump is refused
    (out / "keydb" / "keys.jsonl").write_text("")
    bad = project.inv("db.restore", str(out), "--yes", branch=other)
    assert bad.returncode == 2 and "do not match its manifest" in " ".join(bad.stderr.split())


def test_branch_copies_another_branch(project: Project, branches: Branches) -> None:
    source, copy = branches.new("src"), branches.new("dst")
    assert project.inv("db.reset", "--yes", branch=source).returncode == 0
    scribble(project, source, "src")
    assert project.inv("db.reset", "--yes", "--no-seed", branch=copy).returncode == 0
    done = project.inv("db.branch", "--from", source, "--yes", "--json", branch=copy)
    assert done.returncode == 0, done.stderr
    hows = json.loads(done.stdout)["stores"]
    assert hows["main"].startswith("template clone")
    assert state(project, copy) == state(project, source)

    # with a session open on the source, Postgres cannot clone it: the copy falls back to pg_dump
    t = project.target(source)
    with postgres.connect(t.postgres, t.database("main")):
        done = project.inv("db.branch", "--from", source, "--yes", "--json", branch=copy)
    assert done.returncode == 0, done.stderr
    assert "pg_dump" in json.loads(done.stdout)["stores"]["main"]
    assert state(project, copy) == state(project, source)


def test_expiring_cql_rows_keep_their_ttl_through_dump_and_restore(
    project: Project, branches: Branches, tmp_path: Path
) -> None:
    branch = branches.new()
    assert project.inv("db.migrate", branch=branch).returncode == 0
    t = project.target(branch)
    with scylla.session(t.scylla, t.keyspace) as sess:
        sess.execute(
            "INSERT INTO channels_by_user (user_id, channel_id, kind, title) "
            "VALUES (11111111-1111-1111-1111-111111111111, 22222222-2222-2222-2222-222222222222, "
            "'direct', 'expires') USING TTL 3600"
        )
        sess.execute(
            "INSERT INTO channels_by_user (user_id, channel_id, kind, title, muted) "
            "VALUES (11111111-1111-1111-1111-111111111111, 33333333-3333-3333-3333-333333333333, "
            "'crew', 'stays', false)"
        )
    out = tmp_path / "dump"
    done = project.inv("db.dump", "--output", str(out), branch=branch)
    assert done.returncode == 0, done.stderr
    lines = (out / "scylla" / "channels_by_user.jsonl").read_text().splitlines()
    expiring = [json.loads(x) for x in lines if "expires" in x]
    lasting = [json.loads(x) for x in lines if "stays" in x]
    assert 3500 < expiring[0]["__clikd_ttl"] <= 3600
    assert "__clikd_ttl" not in lasting[0] and "__clikd_ttl0" not in lasting[0]

    other = branches.new("copy")
    done = project.inv("db.restore", str(out), "--yes", branch=other)
    assert done.returncode == 0, done.stderr
    o = project.target(other)
    with scylla.session(o.scylla, o.keyspace) as sess:
        rows = {r.title: r.ttl for r in sess.execute("SELECT title, TTL(kind) AS ttl FROM channels_by_user")}
    assert rows["stays"] is None
    assert rows["expires"] is not None and 3400 < rows["expires"] <= 3600
