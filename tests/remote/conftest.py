"""Fixtures for the remote-target tests: the real control plane of tests/infra/k8s/up (kube, and a
throwaway project for real deploys, from the deploy tests), plus a namespace of one's own."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tasks.core.deploy.kube import Kube
from tests.deploy.conftest import kube, project

__all__ = ["kube", "live_log", "namespace", "project"]


@pytest.fixture
def namespace(kube: Kube) -> Iterator[str]:
    name = f"remote-{uuid.uuid4().hex[:8]}"
    kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    yield name
    kube.delete("Namespace", name)


@pytest.fixture(scope="session")
def live_log() -> Path:
    """The container log kwok serves for every simulated pod (tests/infra/k8s/up, pod_logs)."""
    home = Path(os.environ.get("CLIKD_TESTBED_HOME") or Path.home() / ".cache" / "clikd-testbed")
    path = home / "k8s" / "state" / "podlogs" / "app.log"
    if not path.is_file():
        pytest.fail(f"{path} is missing: run tests/infra/k8s/up", pytrace=False)
    return path
