"""env.status and env.logs against a remote target: the commands read the test control plane's API."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tasks.core.deploy.kube import Kube
from tests.deploy.conftest import KUBECONFIG
from tests.remote.test_cluster import apply_deployment, settled, wait_until

REPO = Path(__file__).resolve().parents[2]
INV = REPO / ".venv" / "bin" / "inv"


class Checkout:
    """A throwaway project whose staging is ``namespace`` on the test control plane."""

    def __init__(self, root: Path, namespace: str) -> None:
        self.root = root
        root.mkdir()
        config = (REPO / "clikd.toml").read_text()
        config += f"""
[environments.staging]
kubeconfig = "{KUBECONFIG}"
kube_context = "clikd-test"
namespace = "{namespace}"
"""
        (root / "clikd.toml").write_text(config)
        shutil.copytree(REPO / "migrations", root / "migrations")
        shutil.copytree(REPO / "k8s", root / "k8s")
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CLIKD_")}
        self.env.update(
            CLIKD_CONFIG=str(root / "clikd.toml"), CLIKD_NO_PROMPT="1", COLUMNS="200", NO_COLOR="1"
        )

    def inv(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(INV), "--search-root", str(REPO), *args],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


@pytest.fixture
def staging(kube: Kube, namespace: str, tmp_path: Path) -> Checkout:
    apply_deployment(kube, namespace, "api", "ghcr.io/clikd-org/api:v7", 2)
    apply_deployment(kube, namespace, "auth", "ghcr.io/clikd-org/auth:v7", 1)
    wait_until(
        "api and auth ready", lambda: settled(kube, namespace, "api") and settled(kube, namespace, "auth")
    )
    return Checkout(tmp_path / "proj", namespace)


def _by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {d["name"]: d for d in report["deployments"]}


def test_status_reads_the_cluster_for_a_remote_target(staging: Checkout, namespace: str) -> None:
    done = staging.inv("env.status", "--env", "staging", "--json")
    assert done.returncode == 0, done.stderr
    assert "target: staging (from --env)" in done.stderr
    report = json.loads(done.stdout)
    assert (report["environment"], report["namespace"]) == ("staging", namespace)
    deps = _by_name(report)
    assert (deps["api"]["ready"], deps["api"]["desired"], deps["api"]["health"]) == (2, 2, "healthy")
    assert deps["auth"]["images"] == ["ghcr.io/clikd-org/auth:v7"]
    assert len([p for p in report["pods"] if p["service"] == "api"]) == 2

    table = staging.inv("env.status", "--env", "staging")
    assert table.returncode == 0, table.stderr
    assert "ghcr.io/clikd-org/api:v7" in table.stdout and "healthy" in table.stdout


def test_logs_read_pod_logs_and_follow_the_switched_target(staging: Checkout) -> None:
    assert staging.inv("env.switch", "--target", "staging").returncode == 0
    done = staging.inv("env.logs", "--level", "error", "--json")
    assert done.returncode == 0, done.stderr
    assert "target: staging (from env.switch)" in done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    assert lines, "the simulated pods serve a log with ERROR lines"
    assert {ln["level"] for ln in lines} == {"ERROR"}
    assert {ln["service"].split("/")[0] for ln in lines} == {"api", "auth"}

    only_auth = staging.inv("env.logs", "--service", "auth", "--tail", "2", "--json")
    assert only_auth.returncode == 0, only_auth.stderr
    auth_lines = [json.loads(line) for line in only_auth.stdout.splitlines() if line.strip()]
    assert len(auth_lines) == 2 and {ln["service"] for ln in auth_lines} == {"auth"}

    unknown = staging.inv("env.logs", "--service", "nope")
    assert unknown.returncode == 2 and "nope" in unknown.stderr


def test_status_of_a_remote_target_with_nothing_deployed(tmp_path: Path, kube: Kube) -> None:
    checkout = Checkout(tmp_path / "empty", "clikd-nothing-here")
    done = checkout.inv("env.status", "--env", "staging")
    assert done.returncode == 5, done.stderr
    assert "deploy.staging" in done.stderr and "Traceback" not in done.stderr


def test_env_start_says_it_is_local_only(tmp_path: Path, kube: Kube) -> None:
    checkout = Checkout(tmp_path / "start", "unused")
    assert checkout.inv("env.switch", "--target", "staging").returncode == 0
    done = checkout.inv("env.stop", "--json")  # nothing runs: a no-op stop, and the note
    assert "target: local" in done.stderr and "switched target staging" in done.stderr


def test_deploy_status_uses_the_environment_namespace_and_cluster(staging: Checkout, namespace: str) -> None:
    # [environments.staging] names the namespace and the kube context; deploy reads them as env.status does.
    done = staging.inv("deploy.status", "--env", "staging", "--json")
    assert done.returncode == 0, done.stderr
    (env,) = json.loads(done.stdout)["environments"]
    assert (env["environment"], env["namespace"], env["exists"]) == ("staging", namespace, True)
    assert {s["service"] for s in env["services"]} == {"api", "auth"}
