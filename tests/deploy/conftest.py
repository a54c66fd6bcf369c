"""Fixtures for the deploy tests: the real control plane from tests/infra/k8s/up, and a project per test.

Each test gets its own copy of the project (clikd.toml and k8s/) in a fresh git repository and its own
namespace prefix, so its staging/production namespaces are its own; they are deleted afterwards.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tasks.core.deploy.kube import Kube, connect
from tasks.core.errors import ClikdError
from tasks.core.session import Session

REPO = Path(__file__).resolve().parents[2]
KUBECONFIG = REPO / "tests" / "infra" / "k8s" / "kubeconfig"
UP = "tests/infra/k8s/up"
PROMETHEUS_FACTS = REPO / "tests" / "infra" / "prometheus" / "facts.json"

# The repositories of the shipped clikd.toml per service (the seed's names).
SHIPPED_IMAGE = {
    "auth": "auth-service",
    "api": "api-service",
    "realtime": "realtime-service",
    "media": "media-service",
    "studio": "studio",
}


@pytest.fixture(scope="session")
def kube() -> Kube:
    if not KUBECONFIG.is_file():
        pytest.fail(f"{KUBECONFIG} is missing: run {UP} first", pytrace=False)
    try:
        client = connect(str(KUBECONFIG), "clikd-test")
        client.request("GET", "/readyz", raw=True)
    except ClikdError as exc:
        pytest.fail(f"the test control plane does not answer ({exc.message}): run {UP}", pytrace=False)
    return client


@pytest.fixture(scope="session")
def facts() -> dict[str, str]:
    """The test bed's Prometheus (tests/infra/prometheus/up): its URL and file_sd targets directory."""
    if not PROMETHEUS_FACTS.is_file():
        pytest.fail(f"{PROMETHEUS_FACTS} is missing: run tests/infra/up", pytrace=False)
    doc: dict[str, str] = json.loads(PROMETHEUS_FACTS.read_text(encoding="utf-8"))
    try:
        with urllib.request.urlopen(f"{doc['url']}/-/ready", timeout=3) as answer:  # noqa: S310 (loopback)
            assert answer.status == 200
    except OSError as exc:
        pytest.fail(f"the test bed's Prometheus at {doc['url']} is not ready ({exc})", pytrace=False)
    return doc


class Project:
    """A throwaway copy of the project with its own namespace prefix."""

    def __init__(self, root: Path, prefix: str) -> None:
        self.root = root
        self.prefix = prefix

    def session(self, branch: str = "main", **deployment: Any) -> Session:
        overrides = {
            "deployment": {
                "namespace_prefix": self.prefix,
                "kubeconfig": str(KUBECONFIG),
                "kube_context": "clikd-test",
                "smoke_timeout": 10.0,
                "rollout_timeout": 60.0,
                "progress_deadline": 30,
                **deployment,
            }
        }
        return Session(cwd=self.root, branch=branch, overrides=overrides)

    def namespace(self, environment: str) -> str:
        return f"{self.prefix}-{environment}"

    def git(self, *args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=self.root, check=True, capture_output=True, text=True
        ).stdout.strip()


def without_tests(toml: str) -> str:
    """``toml`` without its [services.NAME.test] tables (each up to the next table header)."""
    return re.sub(r"^\[services\.[\w-]+\.test\][^\n]*\n(?:(?!\[)[^\n]*\n)*", "", toml, flags=re.MULTILINE)


@pytest.fixture
def project(tmp_path: Path, kube: Kube) -> Iterator[Project]:
    root = tmp_path / "project"
    root.mkdir()
    # Without the [services.NAME.test] tables: these tests deploy, and a deploy of a project with
    # configured tests wants a green `clikd test` record of its commit (a stack of its own to test).
    # tests/testing/test_deploy_gate.py deploys with and without such a record.
    shipped = (REPO / "clikd.toml").read_text(encoding="utf-8")
    (root / "clikd.toml").write_text(without_tests(shipped), encoding="utf-8")
    shutil.copytree(REPO / "k8s", root / "k8s")
    prefix = f"t{uuid.uuid4().hex[:8]}"
    proj = Project(root, prefix)
    proj.git("init", "-q", "-b", "main")
    proj.git("-c", "user.name=t", "-c", "user.email=t@example.invalid", "add", ".")
    proj.git("-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-q", "-m", "init")
    yield proj
    for ns in kube.list("Namespace"):
        if ns["metadata"]["name"].startswith(prefix + "-"):
            kube.delete("Namespace", ns["metadata"]["name"])


@pytest.fixture
def deployments(kube: Kube) -> Callable[[str], dict[str, Any]]:
    """name -> Deployment object of a namespace."""

    def read(namespace: str) -> dict[str, Any]:
        return {d["metadata"]["name"]: d for d in kube.list("Deployment", namespace)}

    return read


def run_inv(
    project: Project, env: dict[str, str], *args: str, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    """``inv ARGS`` in the project, without a terminal (stdin closed), as CI runs it."""
    return subprocess.run(
        [sys.executable, "-m", "invoke", "--search-root", str(REPO), *args],
        cwd=project.root,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
