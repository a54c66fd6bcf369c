"""How a remote target's status looks to a person (Rich), in the style of the local env.status view."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from tasks.core import console
from tasks.core.console import Column
from tasks.core.humanize import human_age
from tasks.core.remote.cluster import (
    DEGRADED,
    HEALTHY,
    PROGRESSING,
    SCALED_TO_ZERO,
    ClusterStatus,
    DeploymentStatus,
    PodStatus,
)
from tasks.core.tasking import name_program

HEALTH_STYLE = {HEALTHY: "green", PROGRESSING: "cyan", DEGRADED: "bold red", SCALED_TO_ZERO: "dim"}
PHASE_STYLE = {"Running": "green", "Succeeded": "dim", "Pending": "yellow", "Failed": "red"}


def _slot(dep: DeploymentStatus) -> Text | str:
    if dep.slot is None:
        return "—"
    if dep.active:
        return Text(f"{dep.slot} (live)", style="bold")
    return Text(f"{dep.slot} (idle)" if dep.active is False else dep.slot, style="dim")


def _pod_ready(pod: PodStatus) -> Text:
    return Text(f"{pod.ready_containers}/{pod.containers}", style="green" if pod.ready else "yellow")


@console.renders(ClusterStatus)
def _status(snap: ClusterStatus) -> RenderableType:
    head = Table.grid(padding=(0, 2))
    head.add_column(no_wrap=True)
    head.add_column(overflow="fold")
    head.add_row("environment", Text(snap.environment, style="bold"))
    head.add_row("namespace", snap.namespace)
    head.add_row("cluster", snap.server)
    if snap.active_slot:
        head.add_row("live slot", Text(snap.active_slot, style="bold"))
    slotted = any(d.slot for d in snap.deployments)
    columns = [
        Column("service", "name"),
        Column("deployment", "name", drop=2),
        *([Column("slot", "status")] if slotted else []),
        Column("image", "path", drop=1),
        Column("ready", "number"),
        Column("up-to-date", "number", drop=4),
        Column("available", "number", drop=3),
        Column("age", "number", drop=5),
        Column("health", "status"),
    ]
    deployments = console.table(
        columns,
        (
            [
                d.service,
                d.name,
                *([_slot(d)] if slotted else []),
                "\n".join(d.images),
                Text(f"{d.ready}/{d.desired}", style="green" if d.ready >= d.desired else "yellow"),
                str(d.updated),
                str(d.available),
                human_age(d.age_s),
                Text(d.health, style=HEALTH_STYLE.get(d.health, "")),
            ]
            for d in snap.deployments
        ),
        title="deployments",
    )
    pods = console.table(
        [
            Column("pod", "name"),
            Column("service", "name", drop=2),
            Column("phase", "status"),
            Column("ready", "number"),
            Column("restarts", "number", drop=3),
            Column("node", "name", drop=1),
            Column("age", "number", drop=4),
            Column("last reason", "text"),
        ],
        (
            [
                p.name,
                p.service or "—",
                Text(p.phase, style=PHASE_STYLE.get(p.phase, "")),
                _pod_ready(p),
                Text(str(p.restarts), style="yellow" if p.restarts else ""),
                p.node or "—",
                human_age(p.age_s),
                Text(p.reason or "—", style="red" if p.reason else "dim"),
            ]
            for p in snap.pods
        ),
        title="pods",
    )
    parts: list[RenderableType] = [head, deployments, pods]
    parts.extend(Text(f"hint: {name_program(h)}", style="yellow") for h in snap.hints)
    parts.append(Text(f"taken {snap.taken_at}", style="dim"))
    return Group(*parts)
