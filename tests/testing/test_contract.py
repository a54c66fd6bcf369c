"""test.contract against the real stack: a reference service with deliberate contract bugs is caught,
each bug named by its operation and check, in the table, in --json and in the JUnit XML read back."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from tasks.core.errors import ExitCode
from tests.env.conftest import Branches, base_env, clikd, write_config

pytestmark = pytest.mark.testbed


def _buggy(tree: dict[str, Any]) -> None:
    """api runs the reference service's contract-bug variant; only api is tested."""
    api = tree["services"]["api"]
    api["environment"]["CLIKD_REF_CONTRACT_BUG"] = "1"
    del tree["services"]["auth"]["test"]


def test_a_contract_bug_is_caught_and_named_by_operation_and_check(
    branches: Branches, tmp_path: Path
) -> None:
    env = base_env(write_config(tmp_path / "buggy.toml", _buggy))
    branch = branches.new(env)
    junit = tmp_path / "reports" / "contract.xml"
    run = clikd(
        "test.contract", "--branch", branch, "--only", "api", "--json", "--junit", str(junit), env=env
    )
    assert run.code == ExitCode.TESTS_FAILED, run.text
    doc = run.data
    assert doc["error"] == "tests failed" and doc["exit_code"] == 10
    [outcome] = doc["report"]["outcomes"]
    assert (outcome["service"], outcome["suite"], outcome["status"]) == ("api", "contract", "failed")
    failed = {c["name"]: c["message"] for c in outcome["cases"] if c["status"] == "failed"}
    # the 500 on GET /users/{userId}: a server error, and a status code the spec does not document
    assert "ST101 Server error" in failed["GET /users/{userId}"]
    assert "ST103 Undocumented status code" in failed["GET /users/{userId}"]
    # register's 201 with expires_in as a string: named by its operation (as its own case, or as
    # the step of a stateful sequence that broke)
    schema = [f"{name}: {message}" for name, message in failed.items() if "ST108" in message]
    assert schema and all("/auth/register" in line for line in schema), failed
    # operations without a bug pass
    passed = {c["name"] for c in outcome["cases"] if c["status"] == "passed"}
    assert {"POST /auth/login", "GET /feed", "GET /users/me"} <= passed

    root = ET.parse(junit).getroot()  # noqa: S314  (the file clikd just wrote)
    assert root.tag == "testsuites" and int(root.get("failures", "0")) >= 2
    [suite] = root.findall("testsuite")
    assert suite.get("name") == "api.contract"
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    failure = cases["GET /users/{userId}"].find("failure")
    assert failure is not None and "ST101" in (failure.get("message") or "")
    assert "curl -X GET" in (failure.text or "")  # schemathesis' reproduction travels along
    assert cases["POST /auth/login"].find("failure") is None
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["clikd.unchanged"] == "false" and props["clikd.key"] == outcome["key"]

    # A failed record is not kept as a pass: the same run, unchanged, runs again and fails again.
    again = clikd("test.contract", "--branch", branch, "--only", "api", "--json", env=env)
    assert again.code == ExitCode.TESTS_FAILED
    assert json.loads(again.out)["report"]["executed"] == 1


def test_no_start_refuses_a_stack_that_does_not_run(branches: Branches) -> None:
    branch = branches.new()
    run = clikd("test.contract", "--branch", branch, "--no-start")
    assert run.code == ExitCode.UNAVAILABLE, run.text
    assert "not running on branch" in run.err and "api" in run.err
    assert "clikd env.start" in run.err
