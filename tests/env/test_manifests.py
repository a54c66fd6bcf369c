"""A tag's digest asked of the test bed's registry directly is the one the engine reports for it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tasks.core.stack.manifests import is_loopback, manifest_digest
from tests.env.conftest import ROOT

pytestmark = pytest.mark.testbed


@pytest.fixture(scope="module")
def registry() -> dict[str, Any]:
    facts: dict[str, Any] = json.loads((ROOT / "tests" / "infra" / "testbed.json").read_text())
    return facts["registry"]


def test_the_registry_names_the_digest_the_engine_reports(registry: dict[str, Any]) -> None:
    import docker

    image = f"{registry['host']}/{registry['namespace']}/auth:latest"
    auth = {"username": registry["username"], "password": registry["password"]}
    engine = docker.from_env().api.inspect_distribution(image, auth_config=auth)
    assert manifest_digest(image, auth) == engine["Descriptor"]["digest"]


@pytest.mark.parametrize("auth", [None, {"username": "clikd", "password": "not-the-password"}])
def test_a_refused_or_missing_credential_leaves_the_answer_to_the_engine(
    registry: dict[str, Any], auth: dict[str, str] | None
) -> None:
    image = f"{registry['host']}/{registry['namespace']}/auth:latest"
    assert manifest_digest(image, auth) is None  # the engine's error then names what is wrong


def test_an_unknown_tag_and_what_cannot_be_asked_exactly_answer_none(registry: dict[str, Any]) -> None:
    auth = {"username": registry["username"], "password": registry["password"]}
    assert manifest_digest(f"{registry['host']}/{registry['namespace']}/auth:no-such-tag", auth) is None
    assert manifest_digest("postgres:15", None) is None  # Docker Hub wants a bearer token
    assert manifest_digest(f"{registry['host']}/x/auth:latest", {"identitytoken": "t"}) is None
    assert manifest_digest("127.0.0.1:1/nothing/listens:here", None) is None


def test_loopback_hosts() -> None:
    assert is_loopback("127.0.0.1:5000") and is_loopback("localhost:5000") and is_loopback("[::1]:5000")
    assert is_loopback("localhost") and not is_loopback("ghcr.io") and not is_loopback("10.0.0.1:5000")
