"""test.suites and test.all against the real stack: each service's suite passing and failing, in a
one-off container of its image and on the host; the unchanged rerun that runs nothing; --force;
--reset cleaning the stores first."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from tasks.core.branch import identity
from tasks.core.errors import ExitCode
from tests.env.conftest import Branches, base_env, clikd, write_config

pytestmark = pytest.mark.testbed

# In the reference service's image (python3 there): the service under test answers, and the branch's
# names are in the environment the suite gets.
CONTAINER_SUITE = """
import os, sys, urllib.request
url = os.environ["CLIKD_SERVICE_URL"]
assert url.startswith("http://api:"), url
assert urllib.request.urlopen(url + "/health", timeout=10).status == 200
assert os.environ["CLIKD_KEY_PREFIX"] == sys.argv[1], os.environ["CLIKD_KEY_PREFIX"]
assert sys.argv[2] in os.environ["CLIKD_POSTGRES_MAIN_URL"]
assert os.environ["API_DB"] == os.environ["CLIKD_POSTGRES_MAIN_URL"]
print("api suite: 3 checks ok")
sys.exit(int(sys.argv[3]))
"""
HOST_SUITE = """
import os, sys, urllib.request
url = os.environ["CLIKD_SERVICE_URL"]
assert url.startswith("http://127.0.0.1:"), url
assert urllib.request.urlopen(os.environ["CLIKD_API_URL"] + "/health", timeout=10).status == 200
print("auth suite from the host:", url)
sys.exit(int(sys.argv[1]))
"""


def _config(tmp_path: Path, branch: str, *, api_exit: int, auth_exit: int) -> Path:
    ident = identity(branch, project="clikd")

    def change(tree: dict[str, Any]) -> None:
        api, auth = tree["services"]["api"], tree["services"]["auth"]
        api["test"].update(
            command=[
                "python3",
                "-c",
                CONTAINER_SUITE,
                ident.key_prefix,
                ident.postgres_db("main"),
                str(api_exit),
            ],
            name="integration",
            env={"API_DB": "${postgres_main_url}"},
            examples=5,
        )
        auth["test"] = {"command": [sys.executable, "-c", HOST_SUITE, str(auth_exit)], "where": "host"}

    return write_config(tmp_path / f"suites-{api_exit}-{auth_exit}.toml", change)


def test_suites_pass_and_fail_per_service_and_an_unchanged_rerun_runs_nothing(
    branches: Branches, tmp_path: Path
) -> None:
    branch = branches.new()
    green = base_env(_config(tmp_path, branch, api_exit=0, auth_exit=0))

    first = clikd("test.all", "--branch", branch, "--only", "api,auth", "--json", env=green)
    assert first.code == 0, first.text
    report = first.data
    rows = {(o["service"], o["suite"]): o for o in report["outcomes"]}
    assert set(rows) == {("api", "contract"), ("api", "integration"), ("auth", "suite")}
    assert all(o["status"] == "passed" for o in rows.values()), rows
    assert report["executed"] == 3
    assert rows[("api", "integration")]["where"].startswith("one-off container on clikd-")
    assert rows[("auth", "suite")]["where"].startswith("host")
    assert rows[("api", "contract")]["passed"] >= 5  # one case per operation of the stand-in

    # Nothing changed: nothing runs, and the command says so.
    again = clikd("test.all", "--branch", branch, "--only", "api,auth", env=green)
    assert again.code == 0, again.text
    assert "nothing changed: 3 test(s) not run" in again.out
    assert again.out.count("unchanged") >= 3
    assert "running" not in again.err  # no progress line: no test started
    as_json = clikd("test.all", "--branch", branch, "--only", "api,auth", "--json", env=green)
    assert as_json.data["executed"] == 0
    assert {o["status"] for o in as_json.data["outcomes"]} == {"unchanged"}

    forced = clikd("test.suites", "--branch", branch, "--only", "api,auth", "--force", "--json", env=green)
    assert forced.code == 0, forced.text
    assert forced.data["executed"] == 2
    assert {o["status"] for o in forced.data["outcomes"]} == {"passed"}

    # Each service's suite failing: its output comes along, and the exit code is 10.
    red = base_env(_config(tmp_path, branch, api_exit=3, auth_exit=4))
    failed = clikd("test.suites", "--branch", branch, "--only", "api,auth", env=red)
    assert failed.code == ExitCode.TESTS_FAILED, failed.text
    assert "2 of 2 test(s) failed" in failed.err
    assert "api suite: 3 checks ok" in failed.out  # the failing suite's own output
    assert "auth suite from the host" in failed.out
    assert "exit status 3" in failed.out and "exit status 4" in failed.out


# On the host, in auth's database: fails when the marker table an earlier run left is still there.
MARKER_SUITE = """
import os, sys, psycopg
with psycopg.connect(os.environ["CLIKD_POSTGRES_AUTH_URL"], autocommit=True) as conn:
    seen = conn.execute("SELECT to_regclass('public.test_reset_marker') IS NOT NULL").fetchone()[0]
    conn.execute("CREATE TABLE IF NOT EXISTS test_reset_marker (id int)")
print("marker suite: the marker was", "there" if seen else "not there")
sys.exit(1 if seen else 0)
"""


def test_reset_cleans_the_stores_before_the_suites_and_only_when_something_runs(
    branches: Branches, tmp_path: Path
) -> None:
    branch = branches.new()

    def change(tree: dict[str, Any]) -> None:
        tree["services"]["auth"]["test"] = {"command": [sys.executable, "-c", MARKER_SUITE], "where": "host"}

    env = base_env(write_config(tmp_path / "marker.toml", change))
    args = ("test.suites", "--branch", branch, "--only", "auth")

    first = clikd(*args, "--json", env=env)
    assert first.code == 0, first.text  # a new branch: no marker yet, and the suite leaves one

    kept = clikd(*args, "--force", env=env)  # no --reset: the marker outlives the run
    assert kept.code == ExitCode.TESTS_FAILED, kept.text
    assert "the marker was there" in kept.out

    reset = clikd(*args, "--force", "--reset", env=env)
    assert reset.code == 0, reset.text  # the suite passes only where it finds no marker
    assert "db.reset:" in reset.err and "clean, migrated and seeded" in reset.err

    # Nothing changed since that green run: nothing runs, so nothing is reset either.
    unchanged = clikd(*args, "--reset", "--json", env=env)
    assert unchanged.code == 0, unchanged.text
    assert unchanged.data["executed"] == 0
    assert "db.reset:" not in unchanged.err
    after = clikd(*args, "--force", env=env)
    assert after.code == ExitCode.TESTS_FAILED and "the marker was there" in after.out, after.text
