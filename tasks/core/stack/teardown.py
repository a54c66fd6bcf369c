"""env.stop: stop the branch's containers in reverse dependency order, remove them and the network.

Everything is found by the branch's labels, never by the current config, so a stack started with
another configuration (or an older clikd) is still stopped completely, and another branch's stack is
never touched. Volumes stay unless ``purge``; then the branch's data in external stores goes too.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from tasks.core.stack import workers
from tasks.core.stack.engine import branch_containers, connect, container_name, label_filters
from tasks.core.stack.model import (
    LABEL_DEPENDS,
    LABEL_SERVICE,
    ComponentEvent,
    EventSink,
    StepEvent,
    StopResult,
    ignore_events,
)

if TYPE_CHECKING:
    import docker

    from tasks.core.session import Session

STOP_TIMEOUT = 10


def stop_waves(summaries: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Containers grouped for stopping: dependents before what they depend on."""
    from graphlib import TopologicalSorter

    by_service = {(s.get("Labels") or {}).get(LABEL_SERVICE, container_name(s)): s for s in summaries}
    graph: dict[str, set[str]] = {}
    for name, summary in by_service.items():
        deps = ((summary.get("Labels") or {}).get(LABEL_DEPENDS) or "").split(",")
        graph[name] = {d for d in deps if d in by_service}
    sorter = TopologicalSorter(graph)
    waves: list[list[str]] = []
    try:
        sorter.prepare()
        while sorter.is_active():
            ready = sorted(sorter.get_ready())
            waves.append(ready)
            sorter.done(*ready)
    except Exception:  # a cycle in labels someone edited: stop everything at once
        waves = [sorted(by_service)]
    return [[by_service[n] for n in wave] for wave in reversed(waves)]


def volumes_of(client: docker.DockerClient, project: str, branch: str) -> list[str]:
    found = client.api.volumes(filters=label_filters(project, branch)).get("Volumes") or []
    return sorted(str(v["Name"]) for v in found)


def stop(  # noqa: PLR0915  (one linear procedure: find, confirm, stop, remove, purge)
    session: Session,
    *,
    force: bool = False,
    purge: bool = False,
    on_event: EventSink = ignore_events,
    confirm_purge: Callable[[list[str]], None] | None = None,
) -> StopResult:
    """Stop and remove the branch's containers and network; with ``purge`` its data as well."""
    began = time.monotonic()
    settings = session.config.settings
    project = settings.project.name
    branch_name = session.ident.branch
    client = connect()
    summaries = branch_containers(client, project, branch_name)
    volumes = volumes_of(client, project, branch_name)
    external = [db.kind for db in settings.databases.values() if db.mode == "external"] if purge else []
    if purge and confirm_purge is not None:
        targets = [f"volume {v}" for v in volumes]
        targets += [f"the branch's data in the external {k} store" for k in external]
        confirm_purge(targets)

    from docker.errors import APIError, NotFound

    stopped: list[str] = []
    removed: list[str] = []

    def halt(summary: dict[str, Any]) -> str:
        name = container_name(summary)
        service = (summary.get("Labels") or {}).get(LABEL_SERVICE, name)
        try:
            if summary.get("State") == "running":
                on_event(ComponentEvent(service, "starting", "killing" if force else "stopping"))
                if force:
                    client.api.kill(name)
                else:
                    client.api.stop(name, timeout=STOP_TIMEOUT)
                stopped.append(name)
            client.api.remove_container(name, force=True)
            removed.append(name)
        except NotFound:
            pass
        on_event(ComponentEvent(service, "kept", "removed"))
        return name

    for wave in stop_waves(summaries):
        jobs: dict[str, Callable[[], str]] = {container_name(s): partial(halt, s) for s in wave}
        workers.run_all(jobs, limit=8)

    notes: list[str] = []
    removed_network = None
    for net in client.api.networks(filters=label_filters(project, branch_name)):
        try:
            client.api.remove_network(net["Id"])
            removed_network = str(net["Name"])
            on_event(StepEvent("network", f"removed network {net['Name']}", done=True))
        except APIError as exc:
            notes.append(f"network {net['Name']} kept: {exc.explanation}")

    removed_volumes: list[str] = []
    dropped: list[str] = []
    removed_images: list[str] = []
    if purge:
        for name in volumes:
            try:
                client.api.remove_volume(name, force=True)
                removed_volumes.append(name)
            except NotFound:
                pass
            except APIError as exc:
                notes.append(f"volume {name} kept: {exc.explanation}")
        dropped, more = _drop_external(session, external)
        notes.extend(more)
        removed_images = _remove_dev_images(client, project, branch_name, notes)
        from tasks.core.ports import forget_block

        forget_block(session.ident)  # its data is gone: the next start chooses a block again
    return StopResult(
        branch=branch_name,
        stopped=sorted(stopped),
        removed_containers=sorted(removed),
        removed_network=removed_network,
        removed_volumes=removed_volumes,
        dropped=dropped,
        kept_volumes=[] if purge else volumes,
        seconds=round(time.monotonic() - began, 3),
        notes=notes,
        removed_images=removed_images,
    )


def _remove_dev_images(client: docker.DockerClient, project: str, branch: str, notes: list[str]) -> list[str]:
    """The branch's env.dev images (built here, one per service): purged with its data."""
    from docker.errors import APIError, NotFound

    from tasks.core.dev.container import dev_images

    removed = []
    for tag in dev_images(client, project, branch):
        try:
            client.api.remove_image(tag, force=True)
            removed.append(tag)
        except NotFound:
            pass
        except APIError as exc:
            notes.append(f"dev image {tag} kept: {exc.explanation}")
    return removed


def _drop_external(session: Session, kinds: Sequence[str]) -> tuple[list[str], list[str]]:
    from tasks.core.stack.provision import drop_external

    dropped: list[str] = []
    notes: list[str] = []
    for kind in kinds:
        try:
            dropped.extend(drop_external(session.config.settings, session.ident, kind))
        except Exception as exc:  # an unreachable shared store must not block the purge of the rest
            notes.append(
                f"the branch's data in the external {kind} store was kept: {type(exc).__name__}: {exc}"
            )
    return dropped, notes
