"""Service images built from the monorepo's Dockerfiles and pushed for a deploy.

A service with ``[services.<name>.build]`` in clikd.toml (``context``, and ``dockerfile`` relative to
it) is built with the Docker engine, tagged ``<registry host>/<namespace>/<service>:<tag>`` and pushed;
the tag comes from the commit (its first 12 characters, ``-dirty`` when the tree has changes). The
Deployments then run the pushed digest (``…/<service>@sha256:…``), so a rollout gets exactly what
was built, whatever happens to the tag later. Services without a build section keep the image
configured for them.

The engine answers builds and pushes with HTTP 200 and reports failures inside the JSON stream,
so every event is checked (as stack/pull.py does for pulls).
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from tasks.core.config.schema import Build, Settings
from tasks.core.deploy.model import BuiltImage, ReleaseInput
from tasks.core.errors import CheckFailed, ClikdError, ConfigError
from tasks.core.session import Session
from tasks.core.stack.engine import stream_error

if TYPE_CHECKING:
    import docker

    from tasks.core.stack.registry import Credentials

Progress = Callable[[str], None]
LOG_TAIL = 15  # build log lines shown with a failure
AUTH_WORDS = ("unauthorized", "denied", "authentication required", "forbidden", "no basic auth")


class BuildFailed(ClikdError):
    title = "build failed"


class PushFailed(ClikdError):
    title = "push failed"


@dataclass(frozen=True)
class Source:
    """The code being built: the commit, whether the tree differs from it, and the tag for it."""

    commit: str
    dirty: bool
    tag: str
    changes: list[str]  # a few changed paths, for the messages


def buildable(settings: Settings) -> dict[str, Build]:
    """Enabled services with a build section, in clikd.toml's order."""
    return {
        name: svc.build for name, svc in settings.services.items() if svc.enabled and svc.build is not None
    }


def source(session: Session) -> Source:
    """The commit and tag to build: ``<first 12 of the commit>[-dirty]``."""
    import git

    try:
        repo = git.Repo(session.root, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise CheckFailed(
            f"{session.root} is not a git repository: there is no commit to tag the images with",
            hint="commit the project, or deploy existing images with --no-build --tag TAG",
        ) from None
    if not repo.head.is_valid():
        raise CheckFailed("no commit yet to tag the images with", hint="commit before deploying")
    commit = repo.head.commit.hexsha
    changed = sorted(
        {str(d.a_path) for d in repo.index.diff(None)} | {str(d.a_path) for d in repo.index.diff("HEAD")}
    )
    untracked = list(repo.untracked_files)
    changes = changed[:5] + [f"{p} (untracked)" for p in untracked[:3]]
    dirty = bool(changed or untracked)
    return Source(commit, dirty, commit[:12] + ("-dirty" if dirty else ""), changes)


def refuse_dirty_production(src: Source) -> None:
    if src.dirty:
        raise CheckFailed(
            "refusing to build production images from a dirty tree: they would not match commit "
            f"{src.commit[:12]} ({', '.join(src.changes)})",
            hint="commit or stash the changes (git status) and deploy again; or deploy images built "
            "earlier with --no-build --tag TAG",
        )


def repository(settings: Settings, service: str) -> str:
    """Where the service's built image is pushed: the repository of its configured image when that
    lives under ``[registry]`` (so ``ghcr.io/clikd-org/api-service`` stays that name), else
    ``<host>/<namespace>/<service>``."""
    from tasks.core.deploy.render import repository as of_image

    registry = settings.registry
    base = "/".join(p.strip("/") for p in (registry.host, registry.namespace) if p.strip("/"))
    configured = settings.services[service].image if service in settings.services else ""
    if configured and base and of_image(configured).startswith(base + "/"):
        return of_image(configured)
    return "/".join(p for p in (base, service) if p)


def planned(settings: Settings, release: ReleaseInput) -> ReleaseInput:
    """``release`` with the images this deploy builds: ``<repo>:<tag>`` for the services with a build
    section (the digest replaces it once pushed), the configured image for the others."""
    builds = buildable(settings)
    images = {
        name: (
            f"{repository(settings, name)}:{release.tag}" if name in builds else settings.services[name].image
        )
        for name in release.images
    }
    built = {name: images[name] for name in builds if name in images}
    return replace(release, images=images, built=built)


def build_and_push(
    session: Session, release: ReleaseInput, *, progress: Progress
) -> tuple[ReleaseInput, list[BuiltImage]]:
    """Build and push every service of ``release.built``; the release with the pushed digests."""
    from tasks.core.stack import engine
    from tasks.core.stack.registry import RegistryLoginFailed, RegistryUnreachable, login

    settings = session.config.settings
    builds = buildable(settings)
    contexts = {name: _paths(session.root, name, builds[name]) for name in release.built}
    client = engine.connect(timeout=600)
    host = settings.registry.host
    try:
        creds = login(client, settings.registry, host)
    except RegistryLoginFailed as exc:  # its hint speaks of pulls; pushing needs write access
        exc.hint = (
            f"set {settings.registry.token_env} to a token that can push to {host} (write access, e.g. "
            f"write:packages on GHCR), or docker login {host}; --no-build deploys images pushed earlier"
        )
        raise
    except RegistryUnreachable as exc:  # its hint offers local stand-in images, which cannot be deployed
        exc.hint = (
            "check the network (VPN, proxy) and [registry] host; --no-build deploys images pushed earlier"
        )
        raise
    if creds.source:
        progress(f"registry {host}: logged in with {creds.source}")
    images = dict(release.images)
    done: list[BuiltImage] = []
    for name, reference in release.built.items():
        context, dockerfile = contexts[name]
        started = time.monotonic()
        build_one(
            client,
            service=name,
            reference=reference,
            context=context,
            dockerfile=dockerfile,
            progress=progress,
        )
        built_at = time.monotonic()
        digest = push_one(client, name, reference, creds, progress)
        pushed_at = time.monotonic()
        image = f"{reference.rpartition(':')[0]}@{digest}"
        images[name] = image
        done.append(
            BuiltImage(
                name,
                reference,
                image,
                digest,
                round(built_at - started, 2),
                round(pushed_at - built_at, 2),
            )
        )
        progress(
            f"{name}: built in {built_at - started:.1f}s, pushed in {pushed_at - built_at:.1f}s: {image}"
        )
    return replace(release, images=images), done


def _paths(root: Path, service: str, build: Build) -> tuple[Path, str]:
    """The context folder and the Dockerfile's path inside it (compose's rule: relative to the context)."""
    where = f"[services.{service}.build]"
    context = (root / build.context).resolve()
    if not context.is_dir():
        raise ConfigError(
            f"{where} context {build.context!r} is not a folder ({context})",
            hint="context is relative to the folder of clikd.toml",
        )
    dockerfile = (context / build.dockerfile).resolve()
    if not dockerfile.is_file():
        raise ConfigError(
            f"{where} dockerfile {build.dockerfile!r} does not exist ({dockerfile})",
            hint="dockerfile is relative to the build context",
        )
    try:
        inside = str(dockerfile.relative_to(context))
    except ValueError:
        inside = str(dockerfile)  # outside the context: docker-py sends it along
    return context, inside


def build_one(
    client: docker.DockerClient,
    *,
    service: str,
    reference: str,
    context: Path,
    dockerfile: str,
    progress: Progress,
) -> str:
    """Build ``reference``; its image id. A failure names the step and shows the log's last lines."""
    from docker.errors import APIError

    progress(f"{service}: building {reference} from {context}/{dockerfile}")
    log: collections.deque[str] = collections.deque(maxlen=200)
    partial = ""
    step = ""
    error: str | None = None
    image_id = ""
    try:
        stream = client.api.build(
            path=str(context),
            dockerfile=dockerfile,
            tag=reference,
            rm=True,
            forcerm=True,
            decode=True,
        )
        for event in stream:
            error = stream_error(event) or error
            aux = event.get("aux")
            if isinstance(aux, dict) and aux.get("ID"):
                image_id = str(aux["ID"])
            text = event.get("stream")
            if not isinstance(text, str):
                continue
            partial += text
            *lines, partial = partial.split("\n")
            for line in lines:
                if not line.strip() or line.startswith("Removing intermediate container"):
                    continue
                log.append(line.rstrip())
                if line.startswith("Step "):
                    step = line.strip()
                    progress(f"{service}: {step}")
    except APIError as exc:
        error = str(exc.explanation or exc)
    if partial.strip():
        log.append(partial.rstrip())
    if error:
        where = f"at {step}" if step else "before its first step (reading the Dockerfile or the context)"
        raise BuildFailed(
            f"building the image of {service} failed {where}: {error.strip()}",
            hint=f"fix {context / dockerfile} (or its context) and deploy again; "
            "--no-build deploys images pushed earlier",
            details=[f"the build log's last {min(len(log), LOG_TAIL)} lines:", *list(log)[-LOG_TAIL:]],
        )
    if not image_id:
        image_id = str(client.api.inspect_image(reference)["Id"])
    return image_id


def push_one(
    client: docker.DockerClient, service: str, reference: str, creds: Credentials | None, progress: Progress
) -> str:
    """Push ``reference``; the digest the registry stored it under (``sha256:…``)."""
    from docker.errors import APIError

    repo, _, tag = reference.rpartition(":")
    # {} pushes anonymously: docker-py would otherwise add credentials from its own config lookup.
    auth = dict(creds.auth_config) if creds and creds.auth_config else {}
    layers: dict[str, str] = {}
    digest = ""
    error: str | None = None
    last = time.monotonic()
    progress(f"{service}: pushing {reference}")
    try:
        for event in client.api.push(repo, tag=tag, stream=True, decode=True, auth_config=auth):
            error = stream_error(event) or error
            aux = event.get("aux")
            if isinstance(aux, dict) and aux.get("Digest"):
                digest = str(aux["Digest"])
            layer, status = event.get("id"), str(event.get("status") or "")
            if layer and status:
                layers[str(layer)] = status
            if "digest: sha256:" in status and not digest:
                digest = "sha256:" + status.split("digest: sha256:", 1)[1].split(maxsplit=1)[0]
            now = time.monotonic()
            if layers and now - last > 1.0:
                finished = sum(1 for s in layers.values() if s in ("Pushed", "Layer already exists"))
                progress(f"{service}: {finished}/{len(layers)} layers pushed")
                last = now
    except APIError as exc:
        error = str(exc.explanation or exc)
    if error:
        raise _push_failure(service, reference, error, creds)
    if not digest:
        raise PushFailed(
            f"pushing {reference} reported no digest",
            hint="check the registry's logs; the engine's answer carried no digest to deploy",
        )
    return digest


def _push_failure(service: str, reference: str, error: str, creds: Credentials | None) -> PushFailed:
    lowered = error.lower()
    host = reference.split("/", 1)[0]
    if any(w in lowered for w in AUTH_WORDS):
        if creds is None or not creds.source:
            hint = (
                f"clikd found no credential for {host}: set the [registry] token_env variable, "
                f"or docker login {host}"
            )
        else:
            hint = f"the credential from {creds.source} was accepted at login but cannot push (write access?)"
    else:
        hint = f"check that {host} is reachable and accepts pushes; --no-build deploys images pushed earlier"
    details = [f"tried {t}" for t in creds.tried] if creds else []
    return PushFailed(
        f"pushing the image of {service} ({reference}) failed: {error}", hint=hint, details=details
    )
