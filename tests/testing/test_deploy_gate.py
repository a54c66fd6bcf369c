"""Tests: Required. deploy.staging is refused without a green `clikd test` record of the commit,
deploys with --skip-tests REASON (recorded in the release), and deploys once `clikd test.all` has
passed at the commit; production has no skip. A real stack, real records, the real control plane."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tasks.core.deploy import releases
from tasks.core.deploy.kube import Kube
from tasks.core.errors import ExitCode
from tests.deploy.conftest import KUBECONFIG, kube
from tests.env.conftest import CLIKD, ROOT, Branches, base_env, write_config

pytestmark = [pytest.mark.testbed, pytest.mark.xdist_group("k8s")]
__all__ = ["kube"]


class Gated:
    """A project (the test bed config, k8s/, migrations/, seeds/, the spec) in its own git repo."""

    def __init__(self, root: Path, branch: str, prefix: str) -> None:
        self.root, self.branch, self.prefix = root, branch, prefix

    def git(self, *args: str) -> str:
        ident = ["-c", "user.name=t", "-c", "user.email=t@example.invalid"]
        done = subprocess.run(
            ["git", *ident, *args], cwd=self.root, check=True, capture_output=True, text=True
        )
        return done.stdout.strip()

    def env(self) -> dict[str, str]:
        env = base_env(self.root / "clikd.toml")
        env.update(
            CLIKD_DEPLOYMENT__NAMESPACE_PREFIX=self.prefix,
            CLIKD_DEPLOYMENT__KUBECONFIG=str(KUBECONFIG),
            CLIKD_DEPLOYMENT__KUBE_CONTEXT="clikd-test",
            CLIKD_DEPLOYMENT__ROLLOUT_TIMEOUT="60",
            CLIKD_DEPLOYMENT__PROGRESS_DEADLINE="30",
            COLUMNS="400",
        )
        return env

    def clikd(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(CLIKD), *args],
            cwd=self.root,
            env=self.env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )


def _only_api_contract(tree: dict[str, Any]) -> None:
    del tree["services"]["auth"]["test"]
    tree["services"]["api"]["test"]["examples"] = 5


@pytest.fixture
def gated(tmp_path: Path, branches: Branches, kube: Kube) -> Iterator[Gated]:
    root = tmp_path / "project"
    root.mkdir()
    write_config(root / "clikd.toml", _only_api_contract)
    for folder in ("k8s", "migrations", "seeds", "codegen/spec"):
        shutil.copytree(ROOT / folder, root / folder)
    (root / ".gitignore").write_text(".clikd/\n", encoding="utf-8")
    project = Gated(root, branches.new(), f"t{uuid.uuid4().hex[:8]}")
    project.git("init", "-q", "-b", project.branch)
    project.git("add", ".")
    project.git("commit", "-q", "-m", "init")
    yield project
    for ns in kube.list("Namespace"):
        if ns["metadata"]["name"].startswith(project.prefix + "-"):
            kube.delete("Namespace", ns["metadata"]["name"])


def test_staging_wants_a_green_record_of_the_commit_and_production_has_no_skip(
    gated: Gated, kube: Kube
) -> None:
    commit = gated.git("rev-parse", "HEAD")
    refused = gated.clikd("deploy.staging", "--tag", "v1", "--yes")
    assert refused.returncode == ExitCode.TESTS_FAILED, refused.stderr
    assert "Tests: Required; missing" in refused.stderr
    assert f"staging requires green tests at {commit[:12]}" in refused.stderr
    assert "api/contract" in refused.stderr
    assert kube.get("Namespace", f"{gated.prefix}-staging") is None  # nothing was applied

    production = gated.clikd("deploy.production", "--tag", "v1", "--yes", "--confirm=production")
    assert production.returncode == ExitCode.TESTS_FAILED, production.stderr
    no_skip = gated.clikd(
        "deploy.production", "--tag", "v1", "--yes", "--confirm=production", "--skip-tests=x"
    )
    assert no_skip.returncode == ExitCode.USAGE, no_skip.stderr

    skipped = gated.clikd("deploy.staging", "--tag", "v1", "--yes", "--skip-tests", "hotfix, tests follow")
    assert skipped.returncode == 0, skipped.stderr
    [first] = releases.history(kube, f"{gated.prefix}-staging")
    assert first.tests.startswith("skipped (missing: ") and first.tests.endswith("): hotfix, tests follow")

    tested = gated.clikd("test.all")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    allowed = gated.clikd("deploy.staging", "--tag", "v2", "--yes")
    assert allowed.returncode == 0, allowed.stderr
    assert f"Tests: Required; green: 1 test(s) green at {commit[:12]}" in allowed.stderr
    latest = releases.history(kube, f"{gated.prefix}-staging")[0]
    assert latest.revision == 2 and latest.tests == f"green: 1 test(s) green at {commit[:12]}"

    # A new commit that changes nothing the tests depend on: the unchanged rerun confirms the
    # record at the new commit without running anything, and the deploy is allowed again.
    (gated.root / "NOTES.md").write_text("notes\n", encoding="utf-8")
    gated.git("add", ".")
    gated.git("commit", "-q", "-m", "notes")
    refused_again = gated.clikd("deploy.staging", "--tag", "v3", "--yes")
    assert refused_again.returncode == ExitCode.TESTS_FAILED, refused_again.stderr
    confirmed = gated.clikd("test.all", "--json")
    assert confirmed.returncode == 0 and '"executed": 0' in confirmed.stdout
    assert gated.clikd("deploy.staging", "--tag", "v3", "--yes").returncode == 0
