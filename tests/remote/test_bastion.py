"""db tasks against staging and production, through the test bed's real OpenSSH bastion (tests/infra/sshd).

The "remote" databases are the test bed's Postgres, CQL server and KeyDB, reached only as the bastion
sees them: every run opens an SSH connection with key authentication and forwards local ports through
it. Each test gets its own database, keyspace and key-prefix names, removed afterwards.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.db.conftest import INFRA, Project, config_text, project, servers  # noqa: F401  (fixtures)

SSHD_FACTS = INFRA / "sshd" / "facts.json"

# One xdist worker runs the tests of the test bed's single sshd bastion: parallel tunnels dropped.
pytestmark = pytest.mark.xdist_group("sshd")


@pytest.fixture(scope="session")
def bastion() -> dict[str, Any]:
    if not SSHD_FACTS.is_file():
        pytest.fail(f"{SSHD_FACTS} is missing: run tests/infra/up (or tests/infra/sshd/up)", pytrace=False)
    done = subprocess.run([str(INFRA / "sshd" / "up")], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.fail(f"tests/infra/sshd/up failed:\n{done.stderr}", pytrace=False)
    return dict(json.loads(SSHD_FACTS.read_text()))


def environment_text(name: str, tag: str, facts: dict[str, Any], ssh: dict[str, Any], **over: Any) -> str:
    pg, kv, s3 = facts["postgres"], facts["keydb"], facts["s3"]
    pg_port = over.pop("pg_port", pg["port"])
    values = {
        "bastion": f"{ssh['user']}@{ssh['host']}:{ssh['port']}",
        "identity_file": ssh["key"],
        "known_hosts": ssh["known_hosts"],
        "connect_timeout": 5,
        "database_name": f"clikd_{{role}}_{name[:4]}{tag}",
        "keyspace": f"clikd_{name[:4]}{tag}",
        "key_prefix": f"clikd_{name[:4]}{tag}:",
        "bucket": f"clikd-{name[:4]}{tag}",
        **over,
    }
    body = "\n".join(f"{k} = {json.dumps(v)}" for k, v in values.items())
    return f"""
[environments.{name}]
{body}

[environments.{name}.databases]
postgres = {{ host = "127.0.0.1", port = {pg_port}, user = "{pg["user"]}", password_env = "TEST_PG_PW" }}
scylla = {{ host = "127.0.0.1", port = 9042 }}
keydb = {{ host = "127.0.0.1", port = {kv["port"]} }}
s3 = {{ host = "127.0.0.1", port = {s3["port"]}, user = "{s3["access_key"]}", password_env = "TEST_S3_PW" }}
"""


class Remote:
    """A throwaway project whose staging and production live behind the bastion."""

    def __init__(self, proj: Project, facts: dict[str, Any], ssh: dict[str, Any]) -> None:
        self.project = proj
        self.local_branches: list[str] = []
        self.facts = facts
        self.ssh = ssh
        self.tag = uuid.uuid4().hex[:8]
        self.project.env["TEST_PG_PW"] = facts["postgres"]["password"]
        self.project.env["TEST_S3_PW"] = facts["s3"]["secret_key"]
        self.configure()

    def configure(self, **over: Any) -> None:
        text = config_text(self.facts)
        for name in ("staging", "production"):
            text += environment_text(name, self.tag, self.facts, self.ssh, **over)
        (self.project.root / "clikd.toml").write_text(text, encoding="utf-8")

    def run(self, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
        return self.project.inv(*args, **kw)

    def database(self, env: str, role: str) -> str:
        return f"clikd_{role}_{env[:4]}{self.tag}"

    def pg(self, dbname: str = "postgres") -> psycopg.Connection[Any]:
        pg = self.facts["postgres"]
        return psycopg.connect(
            host=pg["host"],
            port=pg["port"],
            user=pg["user"],
            password=pg["password"],
            dbname=dbname,
            autocommit=True,
        )

    def databases(self) -> set[str]:
        with self.pg() as conn:
            rows = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (f"%{self.tag}",))
            return {r[0] for r in rows}

    def cleanup(self) -> None:
        from tasks.core.db import destroy
        from tasks.core.remote.environments import RemoteNames

        base = self.project.target("main")
        for env in ("staging", "production"):
            short = env[:4] + self.tag
            names = RemoteNames(
                f"clikd_{{role}}_{short}", f"clikd_{short}", f"clikd_{short}:", f"clikd-{short}"
            )
            destroy.destroy(replace(base, remote=names))
        for branch in self.local_branches:
            destroy.destroy(self.project.target(branch))


@pytest.fixture
def remote(project: Project, servers: dict[str, Any], bastion: dict[str, Any]) -> Iterator[Remote]:  # noqa: F811  (fixtures)
    made = Remote(project, servers, bastion)
    yield made
    made.cleanup()


def test_migrate_status_dump_through_the_bastion(remote: Remote, tmp_path: Path) -> None:
    done = remote.run("db.migrate", "--env", "staging", "--json")
    assert done.returncode == 0, done.stderr
    assert "target: staging (from --env)" in done.stderr
    assert "through clikd-bastion@127.0.0.1:" in done.stderr
    report = json.loads(done.stdout)
    assert report["branch"] == "staging"
    assert remote.databases() >= {remote.database("staging", "auth"), remote.database("staging", "main")}
    with remote.pg(remote.database("staging", "main")) as conn:
        applied = conn.execute("SELECT count(*) FROM clikd_migrations").fetchone()
    assert applied is not None and applied[0] > 0

    status = remote.run("db.status", "--env", "staging", "--json")
    assert status.returncode == 0, status.stderr
    stores = json.loads(status.stdout)["stores"]
    assert {s["store"] for s in stores} == {"auth", "main", "scylla", "keydb"}
    assert all(s["exists"] for s in stores)
    assert all(m["state"] == "applied" for s in stores for m in s["migrations"])

    out = tmp_path / "staging-dump"
    dumped = remote.run("db.dump", "--env", "staging", "--output", str(out), "--json")
    assert dumped.returncode == 0, dumped.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["branch"] == "staging"
    assert manifest["stores"]["main"]["database"] == remote.database("staging", "main")
    assert (out / "postgres" / "main.dump").stat().st_size > 0

    # The same migrations on a local branch: deploying it would change nothing in staging.
    mine = f"test/remote-{remote.tag}"
    remote.local_branches.append(mine)
    assert remote.run("db.migrate", "--env", "local", branch=mine).returncode == 0
    diff = remote.run("db.diff", "--env", "staging", "--json", branch=mine)
    assert diff.returncode == 0, diff.stderr
    compared = json.loads(diff.stdout)
    assert (compared["this"], compared["other"], compared["other_source"]) == (mine, "staging", "live")
    assert compared["changes"] == []


def test_production_migrate_wants_the_name_typed(remote: Remote) -> None:
    refused = remote.run("db.migrate", "--env", "production")
    assert refused.returncode == 4, refused.stderr
    assert "production" in refused.stderr and "--confirm=production" in refused.stderr
    assert not remote.databases(), "nothing may be created before the name is typed"

    wrong = remote.run("db.migrate", "--env", "production", "--confirm=staging")
    assert wrong.returncode == 4 and "does not match" in wrong.stderr

    done = remote.run("db.migrate", "--env", "production", "--confirm=production")
    assert done.returncode == 0, done.stderr
    with remote.pg(remote.database("production", "main")) as conn:
        row = conn.execute("SELECT count(*) FROM clikd_migrations").fetchone()
    assert row is not None and row[0] > 0


def test_inspect_schema_keys_through_the_bastion_and_flush_wants_productions_name(remote: Remote) -> None:
    import redis

    for env in ("staging", "production"):
        done = remote.run("db.migrate", "--env", env, "--confirm=production", "--json")
        assert done.returncode == 0, done.stderr
    from tasks.core.stores import Endpoint
    from tasks.core.stores.s3 import buckets, transfer

    s3 = remote.facts["s3"]
    direct = Endpoint("s3", "s3", s3["host"], s3["port"], s3["access_key"], s3["secret_key"], "external")
    for env in ("stag", "prod"):  # the environments' buckets, written beside clikd
        buckets.ensure(direct, f"clikd-{env}{remote.tag}")
        transfer.upload(direct, f"clikd-{env}{remote.tag}", [("media/a.txt", Path(__file__))])
    inspected = remote.run("db.inspect", "--env", "staging", "--json")
    assert inspected.returncode == 0, inspected.stderr
    assert "through clikd-bastion@127.0.0.1:" in inspected.stderr
    stores = {s["store"]: s for s in json.loads(inspected.stdout)["stores"]}
    assert stores["main"]["target"] == remote.database("staging", "main")
    bucket = stores.pop("s3")
    assert bucket["target"] == f"clikd-stag{remote.tag}" and bucket["keys"] == 1, bucket
    assert bucket["bytes"] == Path(__file__).stat().st_size
    assert all(s["exists"] and s["applied"] == s["total"] > 0 for s in stores.values()), stores

    schema = remote.run("db.schema", "--env", "staging", "--stores", "main")
    assert schema.returncode == 0 and "CREATE TABLE" in schema.stdout, schema.stderr

    kv = remote.facts["keydb"]
    client = redis.Redis(host=kv["host"], port=kv["port"])
    prefix = f"clikd_prod{remote.tag}:"
    client.set(prefix + "cache:hot", "1")
    keys = remote.run("db.keys", "cache:*", "--env", "production", "--json")
    assert keys.returncode == 0, keys.stderr
    assert [k["key"] for k in json.loads(keys.stdout)["keys"]] == ["cache:hot"]

    refused = remote.run("db.flush", "--env", "production", "--yes")
    assert refused.returncode == 4 and "--confirm=production" in refused.stderr, refused.stderr
    assert client.get(prefix + "cache:hot") == b"1"
    flushed = remote.run("db.flush", "--env", "production", "--yes", "--confirm=production", "--json")
    assert flushed.returncode == 0, flushed.stderr
    assert client.get(prefix + "cache:hot") is None
    assert json.loads(flushed.stdout)["target"] == prefix

    production = f"clikd-prod{remote.tag}"
    refused = remote.run("db.flush", "--stores", "s3", "--env", "production", "--yes")
    assert refused.returncode == 4 and len(buckets.listing(direct, production)) == 1, refused.stderr
    flushed = remote.run(
        "db.flush", "--stores", "s3", "--env", "production", "--yes", "--confirm=production", "--json"
    )
    assert flushed.returncode == 0, flushed.stderr
    assert json.loads(flushed.stdout)["deleted"] == 1 and buckets.listing(direct, production) == {}
    assert len(buckets.listing(direct, f"clikd-stag{remote.tag}")) == 1  # staging's is another bucket


def test_reset_seed_restore_refuse_remote_targets(remote: Remote, tmp_path: Path) -> None:
    for argv in (
        ("db.reset", "--yes", "--env", "staging"),
        ("db.seed", "--env", "production"),
        ("db.restore", str(tmp_path), "--yes", "--env", "staging"),
    ):
        done = remote.run(*argv)
        assert done.returncode == 2, (argv, done.stderr)
        assert "only runs against local development" in done.stderr
    assert not remote.databases(), "a refused task must not have created anything"


def test_switch_is_kept_per_checkout_and_overridden_per_run(remote: Remote) -> None:
    root = remote.project.root
    done = remote.run("env.switch", "--target", "staging", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["target"] == "staging"
    assert (root / ".clikd" / "target").read_text().strip() == "staging"

    status = remote.run("db.status", "--json")
    assert status.returncode == 0, status.stderr
    assert "target: staging (from env.switch)" in status.stderr
    assert json.loads(status.stdout)["branch"] == "staging"

    seeded = remote.run("db.seed")
    assert seeded.returncode == 2 and "staging (from env.switch)" in seeded.stderr

    local = remote.run("db.status", "--env", "local", "--json", branch="main")
    assert local.returncode == 0, local.stderr
    assert "target: local" in local.stderr and json.loads(local.stdout)["branch"] == "main"

    remote.project.env["CLIKD_TARGET"] = "local"
    assert "target: local" in remote.run("db.status", "--json", branch="main").stderr
    del remote.project.env["CLIKD_TARGET"]

    bad = remote.run("db.status", "--env", "prod")
    assert bad.returncode == 2 and "did you mean 'production'" in bad.stderr
    back = remote.run("env.switch", "--target", "local")
    assert back.returncode == 0 and "target: local (was staging)" in back.stderr + back.stdout


@pytest.mark.parametrize(
    ("change", "code", "words"),
    [
        ({"identity_file": "wrong_key"}, 1, "did not accept the key"),
        ({"known_hosts": "known_hosts_mismatch"}, 1, "does not match the one"),
        ({"known_hosts": "empty"}, 1, "its identity cannot be checked"),
        ({"bastion": "closed-port"}, 5, "cannot connect to the bastion"),
        ({"pg_port": 1}, 5, "cannot reach postgres at 127.0.0.1:1"),
    ],
    ids=["wrong-key", "host-key-mismatch", "unknown-host-key", "bastion-down", "database-unreachable"],
)
def test_bastion_faults_are_named(
    remote: Remote, tmp_path: Path, change: dict[str, Any], code: int, words: str
) -> None:
    over: dict[str, Any] = {}
    for key, value in change.items():
        if value in ("wrong_key", "known_hosts_mismatch"):
            over[key] = remote.ssh[value]
        elif value == "empty":
            empty = tmp_path / "known_hosts"
            empty.write_text("")
            over[key] = str(empty)
        elif value == "closed-port":
            over[key] = f"{remote.ssh['user']}@127.0.0.1:1"
        else:
            over[key] = value
    remote.configure(**over)
    done = remote.run("db.status", "--env", "staging")
    assert done.returncode == code, done.stderr
    flat = " ".join(done.stderr.replace("│", " ").split())
    assert words in flat, flat
    assert "Traceback" not in done.stderr
    assert "hint:" in done.stderr


def _session_children(listener: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(listener)], capture_output=True, text=True, check=False)
    return [int(p) for p in found.stdout.split()]


def test_a_tunnel_dropping_mid_dump_leaves_no_complete_looking_dump(remote: Remote, tmp_path: Path) -> None:
    assert remote.run("db.migrate", "--env", "staging").returncode == 0
    main_db = remote.database("staging", "main")
    out = tmp_path / "cut-short"
    listener = int(Path(remote.ssh["config"]).with_name("sshd.pid").read_text().strip())
    before = set(_session_children(listener))
    # An exclusive lock on a table holds pg_dump (it needs a shared lock on every table) mid-dump.
    with remote.pg(main_db) as locker:
        locker.autocommit = False
        table = locker.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename <> 'clikd_migrations' LIMIT 1"
        ).fetchone()
        assert table is not None
        locker.execute(f'LOCK TABLE "{table[0]}" IN ACCESS EXCLUSIVE MODE')
        run = subprocess.Popen(
            _inv_argv("db.dump", "--env", "staging", "--output", str(out)),
            cwd=remote.project.root,
            env=remote.project.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        with remote.pg() as watcher:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                row = watcher.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'",
                    (main_db,),
                ).fetchone()
                if row and row[0]:
                    break
                time.sleep(0.2)
            else:
                run.kill()
                pytest.fail("pg_dump never reached the locked table")
        # Cut the SSH connection: kill the bastion's process serving this run's session.
        for pid in set(_session_children(listener)) - before:
            os.kill(pid, signal.SIGTERM)
        _, stderr = run.communicate(timeout=120)
        locker.rollback()
    assert run.returncode == 5, stderr
    flat = " ".join(stderr.replace("│", " ").split())
    assert "dropped during db.dump" in flat, flat
    assert not out.exists(), "a cut-short dump must not leave its folder"
    assert not [p for p in tmp_path.iterdir() if ".partial" in p.name], list(tmp_path.iterdir())


def _inv_argv(*args: str) -> list[str]:
    from tests.db.conftest import INV, REPO

    return [str(INV), "--search-root", str(REPO), *args]
