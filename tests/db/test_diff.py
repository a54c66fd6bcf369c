"""db.diff between branches with known differences: live, through --sql, and built from git."""

from __future__ import annotations

import json
import subprocess
from typing import Any

from tasks.core.db import postgres
from tests.db.conftest import Branches, Project

FEATURE = {
    "migrations/postgres/main/20270101000000_crew_banners.sql": (
        "ALTER TABLE crews ADD COLUMN banner_key text NOT NULL DEFAULT '';\n"
        "CREATE TABLE crew_banners (crew_id uuid PRIMARY KEY REFERENCES crews (id), url text NOT NULL);\n"
        "CREATE INDEX crews_name_idx ON crews (name);\n"
        "ALTER TYPE crew_role ADD VALUE 'recruit';\n"
        "DROP VIEW drop_stats;\n"
        "ALTER TABLE drops ALTER COLUMN title TYPE varchar(120);\n"
    ),
    "migrations/scylla/20270101000000_reactions.cql": (
        "CREATE TABLE IF NOT EXISTS reactions "
        "(drop_id uuid, user_id uuid, kind text, PRIMARY KEY (drop_id, user_id));\n"
        "ALTER TABLE feed_by_user ADD pinned boolean;\n"
    ),
    "migrations/keydb/20270101000000_media.redis": "HSET {prefix}media:config max_upload_mb 500\n",
}

EXPECTED = {
    ("main", "column", "crews.banner_key", "+"),
    ("main", "table", "crew_banners", "+"),
    ("main", "index", "crews_name_idx", "+"),
    ("main", "enum", "crew_role", "~"),
    ("main", "view", "drop_stats", "-"),
    ("main", "column", "drops.title", "~"),
    ("main", "constraint", "crew_banners.crew_banners_pkey", "+"),
    ("main", "constraint", "drops.drops_title_length", "~"),  # its expression now casts the varchar
    ("main", "constraint", "crew_banners.crew_banners_crew_id_fkey", "+"),
    ("scylla", "table", "reactions", "+"),
    ("scylla", "column", "feed_by_user.pinned", "+"),
    ("keydb", "namespace", "media:", "+"),
}


def changes(doc: dict[str, Any]) -> set[tuple[str, str, str, str]]:
    return {(c["store"], c["kind"], c["name"], c["op"]) for c in doc["changes"]}


def test_diff_between_two_live_branches(project: Project, branches: Branches) -> None:
    base, feature = branches.new("base"), branches.new("feat")
    assert project.inv("db.migrate", branch=base).returncode == 0
    same = project.inv("db.diff", "--branch", base, "--json", "--exit-code", branch=branches.adopt(base))
    assert same.returncode == 0, same.stderr
    assert json.loads(same.stdout)["changes"] == []

    for path, text in FEATURE.items():
        project.write(path, text)
    assert project.inv("db.migrate", branch=feature).returncode == 0
    done = project.inv("db.diff", "--branch", base, "--json", branch=feature)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["other_source"] == "live"
    assert changes(doc) == EXPECTED
    destructive = {c["name"] for c in doc["changes"] if c["destructive"]}
    assert destructive == {"drop_stats", "drops.title", "drops.drops_title_length"}

    human = project.inv("db.diff", "--branch", base, branch=feature)
    assert "+ table      crew_banners" in human.stdout and "[destructive]" in human.stdout
    assert project.inv("db.diff", "--branch", base, "--exit-code", branch=feature).returncode == 7

    # --sql turns the other branch into this one: applied there, the Postgres difference is gone
    sql = project.inv("db.diff", "--branch", base, "--sql", branch=feature)
    assert sql.returncode == 0, sql.stderr
    assert "destructive" in sql.stderr and "-- WARNING destructive" in sql.stdout
    assert "ALTER TYPE \"crew_role\" ADD VALUE 'recruit';" in sql.stdout
    t = project.target(base)
    main_sql = sql.stdout.split("-- main:")[1].split("\n", 1)[1]
    with postgres.connect(t.postgres, t.database("main")) as conn:
        conn.execute(main_sql.encode())
    after = json.loads(project.inv("db.diff", "--branch", base, "--json", branch=feature).stdout)
    assert {c for c in changes(after) if c[0] in ("auth", "main")} == set()


def test_diff_builds_the_other_branch_from_git(project: Project, branches: Branches) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=project.root, check=True, capture_output=True)

    git("init", "-q", "-b", "trunk-" + branches.tag)
    git("-c", "user.name=t", "-c", "user.email=t@example.test", "add", "migrations")
    git("-c", "user.name=t", "-c", "user.email=t@example.test", "commit", "-q", "-m", "base")
    for path, text in FEATURE.items():
        project.write(path, text)
    feature = branches.new("feat")
    assert project.inv("db.migrate", branch=feature).returncode == 0
    done = project.inv("db.diff", "--branch", "trunk-" + branches.tag, "--json", branch=feature)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["other_source"].startswith("built from git trunk-")
    assert changes(doc) == EXPECTED
    # the throwaway databases are gone
    t = project.target(feature)
    with postgres.admin(t.postgres) as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE '%clikd_diff%'").fetchall()
    assert rows == []
    missing = project.inv("db.diff", "--branch", "no-such-branch", branch=feature)
    assert missing.returncode == 2 and "no-such-branch" in missing.stderr
