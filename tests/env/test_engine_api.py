"""clikd's own read calls to the engine answer what docker-py's answer, against the test bed's engine."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import docker
import pytest
from docker.errors import APIError, ImageNotFound, NotFound

from tasks.core.errors import Unavailable
from tasks.core.stack import engine, engine_api

pytestmark = pytest.mark.testbed

IMAGE = "clikd-testbed/postgres:15"


@pytest.fixture
def pair(testbed: dict[str, Any]) -> tuple[Any, docker.APIClient]:
    fast = engine.connect(timeout=30)
    assert isinstance(fast, engine_api.Engine), "the test bed's engine is local: the fast path serves it"
    return fast, docker.from_env(timeout=30).api


def _ids(listed: list[dict[str, Any]]) -> set[str]:
    return {str(item["Id"]) for item in listed}


@pytest.fixture
def own(pair: tuple[Any, docker.APIClient]) -> Iterator[tuple[str, str]]:
    """A container and a volume with a label only this test uses: other tests create and remove
    theirs meanwhile, so lists are compared on these."""
    _fast, slow = pair
    mark = f"dev.clikd.test-engine-api={uuid.uuid4().hex[:8]}"
    key, value = mark.split("=")
    volume = slow.create_volume(labels={key: value})["Name"]
    container = slow.create_container(IMAGE, command=["true"], labels={key: value})["Id"]
    try:
        yield mark, container
    finally:
        slow.remove_container(container, force=True)
        slow.remove_volume(volume)


def test_lists_and_inspects_answer_what_docker_py_answers(
    pair: tuple[Any, docker.APIClient], own: tuple[str, str]
) -> None:
    fast, slow = pair
    mark, container = own
    for filters in ({"label": mark}, {"label": [mark], "status": "created"}):
        listed = fast.api.containers(all=True, filters=filters)
        assert _ids(listed) == {container} == _ids(slow.containers(all=True, filters=filters)), filters
    assert fast.api.containers(filters={"label": mark}) == []  # not running: only all=True lists it

    mine, theirs = fast.api.inspect_container(container), slow.inspect_container(container)
    assert mine == theirs
    assert fast.api.inspect_image(IMAGE) == slow.inspect_image(IMAGE)
    assert fast.api.images(name="clikd-testbed/postgres") == slow.images(name="clikd-testbed/postgres")
    # (filtered: other tests build and remove images meanwhile)
    assert fast.api.images("clikd-testbed/postgres", quiet=True) == slow.images(
        "clikd-testbed/postgres", quiet=True
    )
    assert fast.api.networks(names=["bridge"]) == slow.networks(names=["bridge"])
    volumes = fast.api.volumes(filters={"label": mark})
    assert volumes == slow.volumes(filters={"label": mark}) and len(volumes["Volumes"]) == 1
    assert fast.api.version()["ApiVersion"] == slow.version()["ApiVersion"]
    assert fast.api.ping() is True
    assert fast.api.base_url == slow.base_url


def test_errors_are_docker_pys_own(pair: tuple[Any, docker.APIClient]) -> None:
    fast, _slow = pair
    with pytest.raises(ImageNotFound):
        fast.api.inspect_image("clikd-no-such-image:never")
    with pytest.raises(NotFound) as gone:
        fast.api.inspect_container("clikd-no-such-container")
    assert gone.value.status_code == 404 and "clikd-no-such-container" in str(gone.value.explanation)
    with pytest.raises(APIError) as bad:
        fast.api.containers(filters={"no-such-filter": "x"})
    assert bad.value.status_code == 400


def test_other_calls_go_to_docker_py(pair: tuple[Any, docker.APIClient], own: tuple[str, str]) -> None:
    fast, slow = pair
    mark, container = own
    # not among the fast calls: docker-py's APIClient and DockerClient answer
    assert fast.api.info()["ID"] == slow.info()["ID"]
    assert [c.id for c in fast.containers.list(all=True, filters={"label": mark})] == [container]


def test_an_engine_that_is_not_there_is_named(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'docker.sock'}")
    with pytest.raises(Unavailable) as missing:
        engine.connect(timeout=5)
    assert "Docker is not running" in missing.value.message and "docker.sock" in missing.value.message
