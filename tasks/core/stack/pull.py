"""Parallel image pulls with progress events, checking every event of the stream for an error.

The engine answers a pull with HTTP 200 and reports failures inside the JSON stream
(``errorDetail``/``error``), so docker-py does not raise for them; each event is checked here.
Layer totals may be missing (containerd image store): progress then has ``total=None``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tasks.core.checkpoint import reached
from tasks.core.config.schema import Registry
from tasks.core.errors import ClikdError, UsageError
from tasks.core.stack import workers
from tasks.core.stack.engine import stream_error
from tasks.core.stack.manifests import manifest_digest
from tasks.core.stack.model import EventSink, PullEvent
from tasks.core.stack.refs import registry_of, split_ref
from tasks.core.stack.registry import STANDIN_HINT, Credentials, anonymous_refusal

if TYPE_CHECKING:
    import docker

AUTH_WORDS = ("unauthorized", "denied", "no basic auth", "authentication required", "forbidden")


class PullFailed(ClikdError):
    title = "pull failed"


@dataclass
class _Layers:
    current: dict[str, int]
    total: dict[str, int | None]

    def sums(self) -> tuple[int, int | None]:
        cur = sum(self.current.values())
        if not self.total or any(t is None for t in self.total.values()):
            return cur, None
        return cur, sum(t or 0 for t in self.total.values())


def local_image(client: docker.DockerClient, image: str) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = client.api.inspect_image(image)
    except Exception as exc:
        from docker.errors import ImageNotFound  # only now: docker-py stays unloaded on a no-op start

        if isinstance(exc, ImageNotFound):
            return None
        raise
    return found


def local_images(client: docker.DockerClient, images: list[str]) -> dict[str, dict[str, Any] | None]:
    """The local copy of each image (its Id and RepoDigests), None where the engine has none.

    One list of the engine's images answers for every image named there exactly as clikd.toml names
    it (one call instead of one inspect each); any other spelling (no tag, ``docker.io/library/``) is
    inspected by name, which the engine resolves as a pull would. (The list is not filtered by
    reference: Engine 20.10 leaves RepoDigests out of a filtered list.)
    """
    by_name: dict[str, dict[str, Any]] = {}
    for summary in client.api.images():
        for name in [*(summary.get("RepoTags") or []), *(summary.get("RepoDigests") or [])]:
            by_name.setdefault(name, summary)
    found: dict[str, dict[str, Any] | None] = {image: by_name[image] for image in images if image in by_name}
    rest = [image for image in images if image not in found]
    found.update(
        workers.run_all({image: (lambda image=image: local_image(client, image)) for image in rest}, limit=16)  # type: ignore[misc]
    )
    return found


def local_image_id(client: docker.DockerClient, image: str) -> str | None:
    found = local_image(client, image)
    return str(found["Id"]) if found else None


def registry_has_same(
    client: docker.DockerClient, image: str, local: dict[str, Any], creds: Credentials | None
) -> bool:
    """Whether the registry's manifest for ``image`` is the one the local copy was pulled as.

    The registry is asked for the tag's digest only (manifests.py, else the engine's
    ``GET /distribution/NAME/json``), as a pull would first; when the local image already carries
    that digest, a pull would end "Image is up to date" after the same round trip plus its stream.
    Any failure answers False: the pull then
    runs and reports what went wrong, as before.
    """
    repo, _tag = split_ref(image)
    auth = dict(creds.auth_config) if creds and creds.auth_config else {}
    digest = manifest_digest(image, auth)  # the registry itself, where it can be asked exactly
    if digest is None:
        try:
            found = client.api.inspect_distribution(image, auth_config=auth)
        except Exception:  # the pull that follows says what is wrong, with its hints
            return False
        digest = str((found.get("Descriptor") or {}).get("digest") or "")
    # The registry has answered: for an image that is up to date this is the pull, and a Ctrl+C
    # here must behave like one in a pull's stream.
    reached("pulling")
    return bool(digest) and f"{repo}@{digest}" in (local.get("RepoDigests") or [])


def pull_one(
    client: docker.DockerClient,
    image: str,
    creds: Credentials | None,
    registry: Registry,
    on_event: EventSink,
) -> str:
    """Pull ``image`` and return its local id; errors in the stream raise PullFailed."""
    from docker.errors import APIError

    repo, tag = split_ref(image)
    # {} pulls anonymously: docker-py would otherwise add credentials from its own config lookup.
    auth = dict(creds.auth_config) if creds and creds.auth_config else {}
    layers = _Layers({}, {})
    last_emit = 0.0
    error: str | None = None
    status = "pulling"
    on_event(PullEvent(image, "pulling"))
    try:
        stream = client.api.pull(repo, tag=tag, stream=True, decode=True, auth_config=auth)
        for event in stream:
            reached("pulling")  # a test hook (tasks/core/checkpoint.py); nothing when unset
            error = stream_error(event) or error
            status = str(event.get("status") or status)
            layer = event.get("id")
            detail = event.get("progressDetail") or {}
            if layer and status in ("Downloading", "Download complete", "Pull complete", "Already exists"):
                total = detail.get("total")
                if status == "Downloading":
                    layers.current[layer] = int(detail.get("current") or 0)
                    layers.total[layer] = int(total) if total else None
                elif layer in layers.total:
                    layers.current[layer] = layers.total[layer] or layers.current.get(layer, 0)
            now = time.monotonic()
            if now - last_emit > 0.1:
                cur, tot = layers.sums()
                on_event(PullEvent(image, status, cur, tot))
                last_emit = now
    except APIError as exc:
        error = str(exc.explanation or exc)
    if error:
        on_event(PullEvent(image, "failed", done=True, error=error))
        raise _failure(image, error, creds, registry)
    image_id = local_image_id(client, image)
    if image_id is None:
        raise PullFailed(f"the engine reported pulling {image}, but it has no such image afterwards")
    cur, tot = layers.sums()
    on_event(PullEvent(image, status, cur, tot, done=True))
    return image_id


def _failure(image: str, error: str, creds: Credentials | None, registry: Registry) -> ClikdError:
    lowered = error.lower()
    if any(w in lowered for w in AUTH_WORDS) and creds is not None and not creds.source:
        return anonymous_refusal(creds, registry, image, error)
    hint = "check the image name and tag in clikd.toml, and that the registry is reachable"
    if any(w in lowered for w in AUTH_WORDS) and creds is not None:
        hint = f"the credential from {creds.source} was accepted at login but cannot read {image}"
    return PullFailed(f"pulling {image} failed: {error}", hint=f"{hint}; {STANDIN_HINT}")


def ensure_images(
    client: docker.DockerClient,
    wanted: dict[str, str],
    *,
    creds: Mapping[str, Credentials],
    registry: Registry,
    no_pull: bool,
    parallel: int,
    on_event: EventSink,
) -> tuple[dict[str, str], list[str]]:
    """``wanted``: image -> pull policy. Returns (image -> local id, images pulled).

    "Pulled" counts only images whose local id changed. ``always`` pulls, ``missing`` pulls when
    absent, ``never`` and ``--no-pull`` only look; a missing image is then an error that says so.
    """
    ids: dict[str, str] = {}
    to_pull: dict[str, str | None] = {}  # image -> id before the pull
    missing: list[str] = []
    # Images pulled "always" are checked against their registry whatever the local copy: log in to
    # those registries while the local copies are inspected (a failed login is raised where the
    # credential is used, below, as before).
    hosts = set() if no_pull else {registry_of(i) for i, policy in wanted.items() if policy == "always"}
    for host in sorted(hosts):
        workers.start(f"login-{host}", lambda host=host: creds.get(host))  # type: ignore[misc]
    present = local_images(client, list(wanted))
    to_check: dict[str, dict[str, Any]] = {}
    for image, policy in wanted.items():
        local = present[image]
        have = str(local["Id"]) if local else None
        if have and (no_pull or policy != "always"):
            ids[image] = have
        elif no_pull or policy == "never":
            missing.append(image)
        elif local is not None:
            to_check[image] = local
        else:
            to_pull[image] = have
    if missing:
        why = "--no-pull was given" if no_pull else "its pull policy is never"
        raise UsageError(
            f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not present locally, and {why}",
            hint="run without --no-pull to fetch images, or build/load them into the engine first",
        )
    if to_check:
        same = workers.run_all(
            {
                image: (
                    lambda image=image, local=local: registry_has_same(  # type: ignore[misc]
                        client, image, local, creds.get(registry_of(image))
                    )
                )
                for image, local in to_check.items()
            },
            limit=16,
        )
        for image, local in to_check.items():
            if same[image]:
                ids[image] = str(local["Id"])
                on_event(PullEvent(image, f"Status: Image is up to date for {image}", done=True))
            else:
                to_pull[image] = str(local["Id"])
    if to_pull:
        pulled = workers.run_all(
            {
                image: (
                    lambda image=image: pull_one(  # type: ignore[misc]
                        client, image, creds.get(registry_of(image)), registry, on_event
                    )
                )
                for image in to_pull
            },
            limit=parallel,
        )
        ids.update(pulled)
    return ids, [image for image, before in to_pull.items() if ids.get(image) != before]
