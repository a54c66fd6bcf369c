"""Fixtures for the db tests: the real servers, a throwaway project, unique branches cleaned up after.

Servers: Postgres and KeyDB from tests/infra/databases/up (facts.json beside it), the CQL server of
tests/infra/cassandra/up on 127.0.0.1:9042, the S3 server of tests/infra/seaweedfs/up (facts.json
beside it). The scripts are idempotent; the fixtures run them when the servers do not
answer, and fail (never skip) when that does not help.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "tests" / "infra"
FACTS = INFRA / "databases" / "facts.json"
INV = REPO / ".venv" / "bin" / "inv"
CQL = ("127.0.0.1", 9042)


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def _cql_ready() -> bool:
    probe = INFRA / "cassandra" / "probe.py"
    done = subprocess.run(
        [sys.executable, str(probe), *CQL[:1], str(CQL[1])], capture_output=True, check=False
    )
    return done.returncode == 0


@pytest.fixture(scope="session")
def servers() -> dict[str, Any]:
    facts = json.loads(FACTS.read_text()) if FACTS.is_file() else None
    if not facts or not all(_answers(f["host"], f["port"]) for f in facts.values()):
        done = subprocess.run([str(INFRA / "databases" / "up")], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            pytest.fail(f"tests/infra/databases/up failed:\n{done.stderr}", pytrace=False)
        facts = json.loads(FACTS.read_text())
    if not _cql_ready():
        done = subprocess.run([str(INFRA / "cassandra" / "up")], capture_output=True, text=True, check=False)
        if done.returncode != 0 or not _cql_ready():
            pytest.fail(
                f"no CQL server on 127.0.0.1:9042 (tests/infra/cassandra/up):\n{done.stderr}", pytrace=False
            )
    facts["scylla"] = {"host": CQL[0], "port": CQL[1], "user": "", "password": ""}
    facts["s3"] = s3_facts()
    return dict(facts)


def s3_facts() -> dict[str, Any]:
    """The test bed's shared SeaweedFS (tests/infra/seaweedfs/up), started when it does not answer."""
    found = _s3_recorded()
    if found is None or not _s3_ready(found):
        done = subprocess.run(
            [str(INFRA / "seaweedfs" / "up")], capture_output=True, text=True, check=False, timeout=1800
        )
        found = _s3_recorded()
        if done.returncode != 0 or found is None or not _s3_ready(found):
            why = f"no S3 server of the test bed (tests/infra/seaweedfs/up):\n{done.stderr}"
            pytest.fail(why, pytrace=False)
    return found


def _s3_recorded() -> dict[str, Any] | None:
    path = INFRA / "seaweedfs" / "facts.json"
    return dict(json.loads(path.read_text())) if path.is_file() else None


def _s3_ready(s3: dict[str, Any]) -> bool:
    import http.client

    try:
        conn = http.client.HTTPConnection(s3["host"], int(s3["port"]), timeout=2)
        conn.request("GET", "/healthz")
        return conn.getresponse().status == 200
    except OSError:
        return False


def config_text(facts: dict[str, Any]) -> str:
    pg, kv, cql, s3 = facts["postgres"], facts["keydb"], facts["scylla"], facts.get("s3")
    return f"""# written by tests/db/conftest.py
[project]
name = "clikd"

[databases.postgres]
kind = "postgres"
mode = "external"
host = "{pg["host"]}"
port = {pg["port"]}
user = "{pg["user"]}"
password = "{pg["password"]}"

[databases.scylla]
kind = "scylla"
mode = "external"
host = "{cql["host"]}"
port = {cql["port"]}

[databases.keydb]
kind = "keydb"
mode = "external"
host = "{kv["host"]}"
port = {kv["port"]}

""" + (s3_section(s3) if s3 else "")


def s3_section(s3: dict[str, Any]) -> str:
    return f"""
[databases.s3]
kind = "s3"
mode = "external"
host = "{s3["host"]}"
port = {s3["port"]}
user = "{s3["access_key"]}"
password = "{s3["secret_key"]}"
"""


@dataclass
class Project:
    """A throwaway project: clikd.toml for the test servers plus copies of migrations/ and seeds/."""

    root: Path
    env: dict[str, str]

    def inv_argv(self) -> list[str]:
        return [str(INV), "--search-root", str(REPO)]

    def inv(
        self, *args: str, branch: str | None = None, timeout: float = 180, **kw: Any
    ) -> subprocess.CompletedProcess[str]:
        argv = [*self.inv_argv(), *args]
        env = dict(self.env)
        if branch is not None:
            env["CLIKD_BRANCH"] = branch
        return subprocess.run(
            argv, cwd=self.root, env=env, capture_output=True, text=True, timeout=timeout, check=False, **kw
        )

    def clikd(self, *args: str, branch: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        """The installed console script (its own program, no tasks.py search)."""
        env = dict(self.env, CLIKD_BRANCH=branch)
        return subprocess.run(
            [str(REPO / ".venv" / "bin" / "clikd"), *args],
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def popen(self, *args: str, branch: str) -> subprocess.Popen[str]:
        env = dict(self.env, CLIKD_BRANCH=branch)
        return subprocess.Popen(
            [*self.inv_argv(), *args],
            cwd=self.root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def session(self, branch: str) -> Any:
        from tasks.core.session import Session

        return Session(branch=branch, cwd=self.root)

    def target(self, branch: str) -> Any:
        from tasks.core.db import target

        return target.for_session(self.session(branch))

    def write(self, relative: str, text: str) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path


@pytest.fixture
def project(servers: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "clikd.toml").write_text(config_text(servers), encoding="utf-8")
    shutil.copytree(REPO / "migrations", root / "migrations")
    shutil.copytree(REPO / "seeds", root / "seeds", ignore=shutil.ignore_patterns("__pycache__"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLIKD_")}
    env.update(CLIKD_CONFIG=str(root / "clikd.toml"), CLIKD_NO_PROMPT="1", COLUMNS="200", NO_COLOR="1")
    for key in [k for k in os.environ if k.startswith("CLIKD_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("CLIKD_CONFIG", str(root / "clikd.toml"))
    return Project(root, env)


class Branches:
    """Unique branch names for one test; their databases, keyspace and keys are removed afterwards."""

    def __init__(self, project: Project, test: str) -> None:
        self.project = project
        self.tag = uuid.uuid4().hex[:6]
        self.test = test
        self.made: list[str] = []

    def new(self, label: str = "b") -> str:
        name = f"test/{self.test[:20]}-{label}-{self.tag}"
        self.made.append(name)
        return name

    def adopt(self, name: str) -> str:
        self.made.append(name)
        return name

    def cleanup(self) -> None:
        from tasks.core.db import destroy

        for name in self.made:
            destroy.destroy(self.project.target(name))


@pytest.fixture
def branches(project: Project, request: pytest.FixtureRequest) -> Iterator[Branches]:
    made = Branches(project, request.node.name.replace("test_", "").replace("[", "-").rstrip("]"))
    yield made
    made.cleanup()
