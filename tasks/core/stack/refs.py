"""Image references: repository, tag and registry host, read the way the engine and docker-py read them.

Kept here rather than imported from docker-py's utils because importing any part of docker-py loads
all of it (requests, urllib3), and the everyday commands need only these few lines of reading.
``tests/unit/test_refs.py`` holds them to docker-py's own answers.
"""

from __future__ import annotations

#: The registry of references without a host (``postgres:15``, ``library/redis``).
DEFAULT_INDEX = "docker.io"


def repository_tag(image: str) -> tuple[str, str | None]:
    """``(repository, tag or digest)``; ``None`` when the reference names neither."""
    name, at, digest = image.rpartition("@")
    if at:
        return name, digest
    name, colon, tag = image.rpartition(":")
    if colon and "/" not in tag:  # a colon followed by a path is a registry's port
        return name, tag
    return image, None


def split_ref(image: str) -> tuple[str, str]:
    """``(repository, tag)``, the tag ``latest`` when none is given."""
    repo, tag = repository_tag(image)
    return repo, tag or "latest"


def registry_of(image: str) -> str:
    """The registry host of an image reference (Docker Hub's index for short names)."""
    repo, _tag = repository_tag(image)
    first, slash, _rest = repo.partition("/")
    if "://" in repo or (slash and (first.startswith("-") or first.endswith("-"))):
        from docker.auth import resolve_repository_name

        resolve_repository_name(repo)  # docker-py's own error for a reference it refuses
    if not slash or ("." not in first and ":" not in first and first != "localhost"):
        return DEFAULT_INDEX
    host = first.replace("http://", "").replace("https://", "")
    return DEFAULT_INDEX if host == f"index.{DEFAULT_INDEX}" else host
