"""Pre-deployment checks: what each looked at, how long it took, and a precise hint, also in --json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tasks.core.deploy import checks
from tasks.core.deploy.model import CheckState
from tasks.core.errors import ExitCode

from .conftest import Project
from .test_build import _env, _inv

# One xdist worker runs the tests of the test bed's single Kubernetes control plane: its
# controllers and KWOK act on every namespace at once, and production slot switches are timed by them.
pytestmark = [pytest.mark.testbed, pytest.mark.xdist_group("k8s")]


def test_each_check_says_what_it_checked_how_long_it_took_and_what_to_do(project: Project) -> None:
    (project.root / "k8s" / "environments.toml").write_text("# edited\n", encoding="utf-8")
    (project.root / "notes.txt").write_text("scratch\n", encoding="utf-8")
    report = checks.run(project.session())
    by_name = {c.name: c for c in report.checks}
    assert list(by_name) == [
        "git tree clean",
        "services healthy locally",
        "migrations up to date",
        "clients generated from the current spec",
    ]
    git = by_name["git tree clean"]
    assert git.state is CheckState.FAIL
    assert git.detail == "1 changed, 1 untracked: k8s/environments.toml, notes.txt (untracked)"
    assert git.checked == f"git status of {project.root}"
    assert git.hint is not None and "git stash -u" in git.hint
    for check in report.checks:
        assert check.checked, check.name
        assert 0 <= check.seconds < 30, check.name
        if check.state is not CheckState.PASS:
            assert check.hint, check.name
    clients = by_name["clients generated from the current spec"]
    assert clients.state is CheckState.WARN  # the copy has no spec


def test_a_check_that_breaks_warns_instead_of_stopping_the_deploy(project: Project) -> None:
    def broken(session: object) -> checks.Check:
        raise RuntimeError("boom")

    [check] = checks.run(project.session(), [broken]).checks
    assert (check.name, check.state) == ("broken", CheckState.WARN)
    assert "RuntimeError: boom" in check.detail and check.seconds >= 0


def test_failed_checks_in_json_list_every_check(project: Project, tmp_path: Path) -> None:
    (project.root / "notes.txt").write_text("scratch\n", encoding="utf-8")
    failed = _inv(project, _env(project, tmp_path), "deploy.staging", "--tag", "v1", "--yes", "--json")
    assert failed.returncode == ExitCode.CHECK_FAILED, failed.stderr
    doc = json.loads(failed.stdout)
    assert doc["error"] == "check failed"
    assert doc["details"] == [
        "git tree clean: 0 changed, 1 untracked: notes.txt (untracked) (to do: commit them "
        "(git add -A && git commit) or put them aside (git stash -u): the release records the commit, "
        "and it must be what is deployed)"
    ]
    states = {c["name"]: c["state"] for c in doc["checks"]}
    assert states["git tree clean"] == "fail"
    assert len(doc["checks"]) == 4
    for check in doc["checks"]:
        assert set(check) == {"name", "state", "detail", "hint", "checked", "seconds"}
        assert check["checked"] and check["seconds"] >= 0
