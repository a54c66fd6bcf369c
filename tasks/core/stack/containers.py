"""The branch's containers, volumes and network on the engine: read, create, adopt, remove.

What env.start does to the engine, one call at a time; the order (plan, dependency walk) is
:mod:`tasks.core.stack.converge` and :mod:`tasks.core.stack.runner`.
"""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING, Any

from tasks.core.checkpoint import reached
from tasks.core.errors import Conflict
from tasks.core.stack.engine import branch_containers, container_name, own_bindings
from tasks.core.stack.holders import find_holders, published_by_containers
from tasks.core.stack.model import (
    LABEL_BRANCH,
    LABEL_DEV,
    LABEL_HASH,
    LABEL_PROJECT,
    LABEL_SERVICE,
    LABEL_VOLUME,
    Action,
)
from tasks.core.stack.plan import Actual
from tasks.core.stack.spec import HOST_GATEWAY, Component, Stack

if TYPE_CHECKING:
    import docker


LOG_LINES = 30
STOP_TIMEOUT = 10
BROKEN = ("dead", "removing")  # states a container cannot be started from: it is recreated


def read_actual(client: docker.DockerClient, stack: Stack) -> dict[str, Actual]:
    actual: dict[str, Actual] = {}
    for summary in branch_containers(client, stack.project, stack.branch):
        labels = summary.get("Labels") or {}
        service = labels.get(LABEL_SERVICE, "")
        actual[service] = Actual(
            name=service,
            container=container_name(summary),
            container_id=str(summary["Id"]),
            state=str(summary.get("State", "")),
            config_hash=labels.get(LABEL_HASH, ""),
            image_id=str(summary.get("ImageID", "")),
            dev=bool(labels.get(LABEL_DEV)),
        )
    return actual


def check_ports(
    client: docker.DockerClient, stack: Stack, actions: list[Action], actual: dict[str, Actual]
) -> None:
    """Refuse to start when a host port we need is held by anything but the branch's own containers.

    The branch's containers count as its own in every state: a running one publishes the port, and
    one that a killed run left half-started (created, exited, dead, restarting) may have its
    docker-proxy listening already; both are converged by this run, not reported.
    """
    needed: dict[int, str] = {}
    for action in actions:
        if action.kind in ("create", "recreate", "start"):
            for _cport, hport in stack.components[action.name].ports.values():
                needed[hport] = action.name
    if not needed:
        return
    running = client.api.containers(filters={"status": "running"})
    ours = {a.container for a in actual.values()}
    published = {p: n for p, n in published_by_containers(running).items() if n not in ours}
    holders = find_holders(needed, published)
    own = own_bindings(client, sorted(ours)) if holders else {}
    conflicts = [h for _p, h in sorted(holders.items()) if not _is_own(h, own)]
    if conflicts:
        lines = [f"{h.describe()} (needed by {needed[h.port]})" for h in conflicts]
        raise Conflict(
            lines[0]
            if len(lines) == 1
            else f"{len(lines)} host ports needed by branch {stack.branch!r} are taken",
            hint="stop whatever holds the port (for another branch: inv env.stop --branch NAME), then retry",
            details=lines if len(lines) > 1 else [],
        )


def _is_own(holder: Any, own: dict[int, str]) -> bool:
    """A port the engine holds (docker-proxy) for one of the branch's own containers."""
    if holder.port not in own:
        return False
    if holder.kind == "container":
        return bool(holder.container == own[holder.port])
    return holder.kind == "unknown" or "docker-proxy" in holder.holder


def ensure_network(client: docker.DockerClient, stack: Stack) -> tuple[bool, str]:
    """Create the branch's network when missing: (whether this run made the one that stays, its id).

    The engine does not refuse a second network of the same name (two runs racing, without the
    lock, both create one), and a name matching two networks cannot be used. So after creating,
    every run keeps the oldest of the name and removes the others it sees: all agree on one.
    """
    mine = ""
    if not _networks(client, stack):
        from docker.errors import APIError  # docker-py is imported only when there is work to do

        try:
            created = client.api.create_network(stack.network, driver="bridge", labels=stack.network_labels)
            mine = str(created.get("Id", ""))
        except APIError as exc:
            if exc.status_code != 409:  # an engine that refuses a duplicate name: the other run made it
                raise
    found = _networks(client, stack)
    keep = min(found, key=lambda n: (str(n.get("Created", "")), str(n.get("Id", ""))))

    extra = [net for net in found if net is not keep]
    if extra:
        from docker.errors import APIError

        for net in extra:
            with contextlib.suppress(APIError):  # already gone, or in use by the racing run: it keeps it
                client.api.remove_network(net["Id"])
    return bool(mine) and str(keep.get("Id")) == mine, str(keep["Id"])


def _networks(client: docker.DockerClient, stack: Stack) -> list[dict[str, Any]]:
    return [n for n in client.api.networks(names=[stack.network]) if n.get("Name") == stack.network]


def ensure_volumes(client: docker.DockerClient, comp: Component) -> None:
    if comp.volumes:
        reached(f"volumes:{comp.name}")
    for name in comp.volumes:
        client.api.create_volume(name=name, labels={**comp.labels, LABEL_VOLUME: name})


def create(
    client: docker.DockerClient,
    stack: Stack,
    comp: Component,
    image_id: str,
    *,
    network: str = "",
    again: bool = True,
) -> str:
    from docker.errors import APIError

    ensure_volumes(client, comp)
    reached(f"create:{comp.name}")
    host_config = client.api.create_host_config(
        port_bindings={f"{cport}/tcp": ("127.0.0.1", hport) for cport, hport in comp.ports.values()},
        binds={vol: {"bind": path, "mode": "rw"} for vol, path in comp.volumes.items()},
        extra_hosts=HOST_GATEWAY,
    )
    networking = client.api.create_networking_config(
        {network or stack.network: client.api.create_endpoint_config(aliases=[comp.name])}
    )
    try:
        created = client.api.create_container(
            image=comp.image,
            name=comp.container,
            environment=comp.environment,
            command=comp.command,
            labels={**comp.labels, LABEL_HASH: comp.config_hash(image_id)},
            ports=[cport for cport, _h in comp.ports.values()],
            host_config=host_config,
            networking_config=networking,
            detach=True,
        )
    except APIError as exc:
        if exc.status_code != 409:
            raise
        return _adopt(client, stack, comp, image_id, network=network, again=again)
    return str(created["Id"])


def _adopt(
    client: docker.DockerClient, stack: Stack, comp: Component, image_id: str, *, network: str, again: bool
) -> str:
    """The name is taken: converge the branch's own container; refuse anything else, naming its owner."""
    from docker.errors import NotFound

    info: dict[str, Any] | None = None
    for _ in range(50):  # the engine reserves a name before the container can be inspected
        try:
            info = client.api.inspect_container(comp.container)
            break
        except NotFound:
            time.sleep(0.1)
    if info is None:
        if again:
            return create(client, stack, comp, image_id, network=network, again=False)
        raise Conflict(f"the container name {comp.container} is taken and released again: retry")
    if _ours(info, stack, comp):
        labels = info.get("Config", {}).get("Labels") or {}
        state = (info.get("State") or {}).get("Status", "")
        if labels.get(LABEL_HASH) == comp.config_hash(image_id) and state not in BROKEN:
            return str(info["Id"])  # ours and up to date (a run that died made it): start it
        if again:
            remove(client, comp.container, graceful=False)
            return create(client, stack, comp, image_id, network=network, again=False)
    labels = info.get("Config", {}).get("Labels") or {}
    if labels.get(LABEL_PROJECT):
        owner = f"branch {labels.get(LABEL_BRANCH, '?')!r} of clikd project {labels[LABEL_PROJECT]!r}"
        raise Conflict(
            f"a container named {comp.container} already exists and belongs to {owner}",
            hint=f"stop that environment (inv env.stop --branch {labels.get(LABEL_BRANCH, 'NAME')}) "
            "from its checkout, then retry",
        )
    raise Conflict(
        f"a container named {comp.container} already exists and is not part of any clikd environment",
        hint=f"remove it (docker rm -f {comp.container}) or rename it, then retry",
    )


def _ours(info: dict[str, Any], stack: Stack, comp: Component) -> bool:
    labels = info.get("Config", {}).get("Labels") or {}
    return (
        labels.get(LABEL_PROJECT) == stack.project
        and labels.get(LABEL_BRANCH) == stack.branch
        and labels.get(LABEL_SERVICE) == comp.name
    )


def remove(client: docker.DockerClient, container: str, *, graceful: bool = True) -> None:
    from docker.errors import NotFound

    try:
        if graceful:
            client.api.stop(container, timeout=STOP_TIMEOUT)
        client.api.remove_container(container, force=True, v=False)
    except NotFound:
        pass


def last_logs(client: docker.DockerClient, container: str, lines: int = LOG_LINES) -> list[str]:
    try:
        raw = client.api.logs(container, tail=lines, stdout=True, stderr=True)
    except Exception:  # the container may be gone already
        return []
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
    return text.rstrip("\n").splitlines()[-lines:]
