"""clikd reads image references the way docker-py does (its functions are the oracle here)."""

from __future__ import annotations

import pytest
from docker.auth import resolve_repository_name
from docker.errors import InvalidRepository
from docker.utils import parse_repository_tag

from tasks.core.stack.refs import registry_of, repository_tag, split_ref

REFS = [
    "postgres",
    "postgres:15",
    "library/redis:7-alpine",
    "eqalpha/keydb:x86_64_v6.3.4",
    "ghcr.io/clikd/auth-service:main",
    "ghcr.io/clikd/auth-service",
    "127.0.0.1:5000/clikd/api:1",
    "127.0.0.1:5000/clikd/api",
    "localhost:5000/media",
    "localhost/media:dev",
    "registry.example.com:443/team/app@sha256:" + "a" * 64,
    "app@sha256:" + "b" * 64,
    "index.docker.io/library/busybox:1.36",
    "docker.io/library/busybox",
    "user/repo:tag-with.dots_and-dashes",
]


@pytest.mark.parametrize("ref", REFS)
def test_repository_tag_and_registry_match_docker_py(ref: str) -> None:
    assert repository_tag(ref) == parse_repository_tag(ref)
    repo, tag = parse_repository_tag(ref)
    assert split_ref(ref) == (repo, tag or "latest")
    assert registry_of(ref) == resolve_repository_name(repo)[0]


@pytest.mark.parametrize("ref", ["http://registry.example.com/app", "-bad.example.com/app:1"])
def test_a_reference_docker_py_refuses_is_refused_the_same_way(ref: str) -> None:
    with pytest.raises(InvalidRepository):
        registry_of(ref)
