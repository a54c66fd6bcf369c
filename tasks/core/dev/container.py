"""The dev container: the service's own container, rebuilt from source, seen the same by dependants.

Name, network alias, published ports, environment and clikd's health probe stay those of the
service; only the image, the command and a label change. Nothing else in the stack is touched.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from tasks.core.config.schema import Dev
from tasks.core.errors import ClikdError, UsageError
from tasks.core.stack.model import LABEL_DEV
from tasks.core.stack.probes import PROBE_TIMEOUT, run_probe
from tasks.core.stack.spec import Component, Stack

if TYPE_CHECKING:
    import docker

BUILD_TAIL = 20
ATTEMPT_FIRST = 0.25  # seconds for the first health probe after a restart; doubled up to PROBE_TIMEOUT


class BuildFailed(ClikdError):
    title = "dev image build failed"


class NotHealthy(ClikdError):
    title = "dev container not healthy"


@dataclass(frozen=True)
class DevTarget:
    """One service under env.dev: where its source is and where it goes in the container."""

    name: str
    source: Path
    dev: Dev
    component: Component
    tag: str  # the local tag of its dev image

    @property
    def container(self) -> str:
        return self.component.container


def source_of(root: Path, monorepo_root: str, name: str, dev: Dev) -> Path:
    base = (root / monorepo_root).resolve() if monorepo_root else root
    return (base / (dev.source or name)).resolve()


def target_for(stack: Stack, root: Path, monorepo_root: str, name: str, dev: Dev | None) -> DevTarget:
    if name not in stack.components or stack.components[name].role != "service":
        raise UsageError(f"{name!r} is not a service of this stack", hint="env.dev takes service names")
    if dev is None:
        raise UsageError(
            f"the service {name!r} has no [services.{name}.dev] table",
            hint=f"add a [services.{name}.dev] table (every key has a default; examples in clikd.toml)",
        )
    source = source_of(root, monorepo_root, name, dev)
    if not source.is_dir():
        raise UsageError(
            f"the source folder of {name} does not exist: {source}",
            hint="set [project] monorepo_root (relative to clikd.toml) and [services.NAME.dev] source",
        )
    return DevTarget(
        name, source, dev, stack.components[name], dev_image_tag(stack.project, stack.branch, name)
    )


def _branch_digest(project: str, branch: str) -> str:
    return hashlib.sha256(f"{project}/{branch}".encode()).hexdigest()[:12]


def dev_image_tag(project: str, branch: str, service: str) -> str:
    """The local tag of a service's dev image: one per project, branch and service."""
    return f"clikd-dev/{project}-{service}:{_branch_digest(project, branch)}"


def dev_images(client: docker.DockerClient, project: str, branch: str) -> list[str]:
    """The tags of the branch's dev images on this engine."""
    digest = _branch_digest(project, branch)
    prefix = f"clikd-dev/{project}-"
    tags = [t for image in client.api.images() for t in image.get("RepoTags") or []]
    return sorted(t for t in tags if t.startswith(prefix) and t.endswith(f":{digest}"))


def build(client: docker.DockerClient, target: DevTarget) -> str:
    """Build the dev image from the source; its id. Raises BuildFailed with the log's tail."""
    from docker.errors import APIError

    tail: list[str] = []
    image_id = ""
    try:
        stream = client.api.build(
            path=str(target.source),
            dockerfile=target.dev.dockerfile,
            target=target.dev.target or None,
            tag=target.tag,
            rm=True,
            decode=True,
        )
        for chunk in stream:
            if "stream" in chunk:
                tail.extend(line for line in str(chunk["stream"]).splitlines() if line.strip())
                tail = tail[-BUILD_TAIL:]
            if "aux" in chunk and isinstance(chunk["aux"], dict) and "ID" in chunk["aux"]:
                image_id = str(chunk["aux"]["ID"])
            if "error" in chunk:
                tail.append(str(chunk["error"]).strip())
                raise BuildFailed(
                    f"building the dev image of {target.name} failed",
                    hint="fix the error above; the old version still serves",
                    details=tail[-BUILD_TAIL:],
                )
    except APIError as exc:
        raise BuildFailed(
            f"building the dev image of {target.name} failed: {exc.explanation or exc}",
            hint="fix the error above; the old version still serves",
            details=tail,
        ) from None
    return image_id or str(client.api.inspect_image(target.tag)["Id"])


def destination(client: docker.DockerClient, target: DevTarget) -> str:
    """Where the source goes: [dev] to, else the dev image's WorkingDir, else /."""
    if target.dev.to:
        return target.dev.to
    config = client.api.inspect_image(target.tag).get("Config") or {}
    return str(config.get("WorkingDir") or "/")


def dev_component(target: DevTarget) -> Component:
    comp = target.component
    labels = {**comp.labels, LABEL_DEV: str(target.source)}
    return replace(comp, image=target.tag, command=target.dev.command or None, labels=labels, pull="never")


def swap(client: docker.DockerClient, stack: Stack, target: DevTarget, image_id: str) -> str:
    """Replace the service's container by one running ``image_id``; the same name, alias and ports."""
    from tasks.core.stack.containers import create, remove

    comp = dev_component(target)
    remove(client, comp.container)
    created = create(client, stack, comp, image_id)
    client.api.start(comp.container)
    return created


def restart(client: docker.DockerClient, target: DevTarget) -> None:
    client.api.restart(target.container, timeout=10)


def wait_healthy(client: docker.DockerClient, target: DevTarget, *, timeout: float | None = None) -> float:
    """Probe until healthy; the seconds it took. Raises NotHealthy with the container's last log lines."""
    from tasks.core.stack.containers import last_logs

    probe = target.component.probe
    began = time.monotonic()
    limit = began + (timeout or probe.timeout)
    attempt = ATTEMPT_FIRST
    while True:
        # Short attempts first: a connection made while the container's network is still coming
        # up can hang until the kernel resends its SYN (1 s), long after the service answers.
        result = run_probe(probe, timeout=attempt)
        attempt = min(attempt * 2, PROBE_TIMEOUT)
        if result.ok:
            return time.monotonic() - began
        state = client.api.inspect_container(target.container)["State"]
        exited = state.get("Status") in ("exited", "dead")
        if exited or time.monotonic() >= limit:
            why = f"exited with code {state.get('ExitCode')}" if exited else "did not become healthy"
            raise NotHealthy(
                f"{target.name}'s dev container {why}",
                hint=f"see inv env.logs --service {target.name}",
                details=last_logs(client, target.container, BUILD_TAIL),
            )
        time.sleep(probe.interval)
