"""Fixtures for the test-bed tests: the facts tests/infra/up wrote, a Docker client, and tracked resources.

Every container, network and volume a test creates is named ``clikdtb-<random>-<role>`` and removed when
the test ends, whether it passed or not.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest
from docker.models.containers import Container
from docker.models.networks import Network
from docker.models.volumes import Volume

REPO = Path(__file__).resolve().parents[2]
TESTBED_JSON = REPO / "tests" / "infra" / "testbed.json"
PREFIX = "clikdtb-"
LABEL = "dev.clikd.testbed.test"


@pytest.fixture(scope="session")
def testbed() -> dict[str, Any]:
    if not TESTBED_JSON.is_file():
        pytest.fail(f"{TESTBED_JSON} is missing: run tests/infra/up first", pytrace=False)
    return json.loads(TESTBED_JSON.read_text())


@pytest.fixture(scope="session")
def docker_client(testbed: dict[str, Any]) -> Iterator[docker.DockerClient]:
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as exc:
        pytest.fail(f"Docker engine does not answer ({exc}): run tests/infra/up first", pytrace=False)
    yield client
    client.close()


class Resources:
    """Creates test containers, networks and volumes under unique names and removes them all at the end."""

    def __init__(self, client: docker.DockerClient, test_id: str) -> None:
        self.client = client
        self.test_id = test_id
        self.tag = uuid.uuid4().hex[:8]
        self.containers: list[Container] = []
        self.networks: list[Network] = []
        self.volumes: list[Volume] = []

    def name(self, role: str) -> str:
        return f"{PREFIX}{self.tag}-{role}"

    def network(self, role: str = "net") -> Network:
        network = self.client.networks.create(self.name(role), driver="bridge", labels={LABEL: self.test_id})
        self.networks.append(network)
        return network

    def volume(self, role: str) -> Volume:
        volume = self.client.volumes.create(self.name(role), labels={LABEL: self.test_id})
        self.volumes.append(volume)
        return volume

    def run(
        self,
        image: str,
        role: str,
        *,
        network: Network | None = None,
        alias: str | None = None,
        **kwargs: Any,
    ) -> Container:
        """Start a detached container; with `network`, attach it there (with a DNS `alias` when given)."""
        kwargs.setdefault("labels", {})[LABEL] = self.test_id
        if network is not None:
            kwargs["network"] = network.name
            if alias:
                endpoint = self.client.api.create_endpoint_config(aliases=[alias])
                kwargs["networking_config"] = {network.name: endpoint}
        container = self.client.containers.create(image, name=self.name(role), **kwargs)
        self.containers.append(container)
        container.start()
        return container

    def cleanup(self) -> list[str]:
        errors: list[str] = []
        for container in reversed(self.containers):
            try:
                container.remove(force=True, v=True)
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError as exc:
                errors.append(f"container {container.name}: {exc}")
        for network in self.networks:
            try:
                network.remove()
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError as exc:
                errors.append(f"network {network.name}: {exc}")
        for volume in self.volumes:
            try:
                volume.remove(force=True)
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError as exc:
                errors.append(f"volume {volume.name}: {exc}")
        return errors


@pytest.fixture
def resources(docker_client: docker.DockerClient, request: pytest.FixtureRequest) -> Iterator[Resources]:
    res = Resources(docker_client, request.node.nodeid)
    try:
        yield res
    finally:
        errors = res.cleanup()
    if errors:
        pytest.fail("cleanup failed: " + "; ".join(errors), pytrace=False)
