"""How stack results and progress look to a person (Rich), registered with the console layer."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from tasks.core import console
from tasks.core.console import Column
from tasks.core.humanize import human_age, human_bytes
from tasks.core.stack import grpc_health
from tasks.core.stack.grpc_health import GrpcHealth
from tasks.core.stack.model import (
    ComponentEvent,
    EnvironmentList,
    Event,
    PruneResult,
    PullEvent,
    StartResult,
    StatusSnapshot,
    StepEvent,
    StopResult,
)
from tasks.core.tasking import name_program

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from tasks.core.stack.logs import LogLine  # its regexes cost env.start and env.status 14 ms

PHASE_STYLE = {
    "healthy": "green",
    "failed": "bold red",
    "skipped": "yellow",
    "creating": "cyan",
    "starting": "cyan",
    "waiting": "dim",
    "provisioning": "magenta",
}


class LiveReporter:
    """Renders progress events on stderr: a bar per pulled image, a line per component change."""

    def __init__(self, *, quiet_phases: tuple[str, ...] = ("pending", "waiting", "kept")) -> None:
        # The bars are made on the first pull that takes time: a start that pulls nothing (a no-op,
        # images up to date) prints its lines without Rich's live display, its thread or its import.
        self._bars: Progress | None = None
        self.tasks: dict[str, TaskID] = {}
        self.quiet = quiet_phases

    def __enter__(self) -> LiveReporter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._bars is not None:
            self._bars.stop()

    def _progress(self) -> Progress:
        if self._bars is None:
            from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

            self._bars = Progress(
                TextColumn("{task.description}"),
                BarColumn(bar_width=28),
                DownloadColumn(),
                TextColumn("[dim]{task.fields[status]}"),
                TimeElapsedColumn(),
                console=console.err,
                transient=True,
            )
            self._bars.start()
        return self._bars

    def __call__(self, event: Event) -> None:
        if isinstance(event, PullEvent):
            self._pull(event)
        elif isinstance(event, ComponentEvent):
            self._component(event)
        elif isinstance(event, StepEvent) and event.done:
            console.err.print(Text(f"  {event.message}", style="dim"))

    def _pull(self, event: PullEvent) -> None:
        task = self.tasks.get(event.image)
        if task is None and event.done:  # answered at once (up to date, or refused): a line, no bar
            self._pulled(event)
            return
        progress = self._progress()
        if task is None:
            task = progress.add_task(f"pull {event.image}", total=None, status="")
            self.tasks[event.image] = task
        progress.update(task, completed=event.current, total=event.total, status=event.status[:40])
        if event.done:
            progress.remove_task(task)
            del self.tasks[event.image]
            self._pulled(event)

    def _pulled(self, event: PullEvent) -> None:
        if event.error:
            console.err.print(Text(f"✗ pull {event.image}: {event.error}", style="red"))
        else:
            line = f"  pulled {event.image} ({pull_outcome(event)})"
            console.err.print(Text(line, style="dim", no_wrap=True, overflow="ellipsis"))

    def _component(self, event: ComponentEvent) -> None:
        if event.phase in self.quiet:
            return
        style = PHASE_STYLE.get(event.phase, "")
        mark = {"healthy": "✓", "failed": "✗"}.get(event.phase, "•")
        when = f" [{event.seconds:.1f}s]" if event.seconds is not None else ""
        detail = f" ({event.detail})" if event.detail else ""
        console.err.print(Text(f"{mark} {event.name} {event.phase}{detail}{when}", style=style))


def pull_outcome(event: PullEvent) -> str:
    """A few words for a finished pull instead of the engine's last status line, which repeats the
    image name ("Status: Image is up to date for …")."""
    status = event.status.lower()
    if "up to date" in status:
        return "up to date"
    if "downloaded newer" in status or event.current:
        size = f", {human_bytes(event.total or event.current)}" if (event.total or event.current) else ""
        return f"new image{size}"
    return event.status.removeprefix("Status: ").split(" for ", 1)[0][:40]


@console.renders(StartResult)
def _start(result: StartResult) -> RenderableType:
    rows: list[list[str | Text]] = []
    actions = {a.name: a for a in result.actions}
    for comp in result.components:
        action = actions.get(comp.name)
        rows.append(
            [
                comp.name,
                f"{comp.action}"
                + (f" ({action.reason})" if action and comp.action not in ("keep", "check") else ""),
                Text("healthy", style="green") if comp.healthy else Text("unhealthy", style="red"),
                f"{comp.seconds:.1f}s",
                f"{comp.probe_ms:.0f} ms" if comp.probe_ms is not None else "—",
                comp.url,
            ]
        )
    columns = [
        Column("component", "name"),
        Column("action", "text", drop=2),
        Column("health", "status"),
        Column("ready at", "number", drop=3),
        Column("probe", "number", drop=4),
        Column("url", "path", drop=1),
    ]
    table = console.table(columns, rows, title=f"branch {result.branch} · network {result.network}")
    if result.changed:
        head = Text(
            f"✓ stack of {result.branch} is up and healthy in {result.seconds:.1f}s", style="bold green"
        )
    else:
        head = Text(
            f"✓ nothing changed: all {len(result.components)} components of {result.branch} were already up "
            f"and healthy ({result.seconds:.1f}s)",
            style="bold green",
        )
    parts: list[RenderableType] = [table]
    grpc = grpc_health.summary((c.name, c.grpc) for c in result.components)
    if grpc:
        parts.append(_grpc_line(grpc))
    parts.append(head)
    parts.extend(Text(f"  {n}", style="dim") for n in result.notes)
    return Group(*parts)


def _grpc_line(summary: str) -> Text:
    """The gRPC health of every service with a grpc port, in one line."""
    line = Text("gRPC  ", style="bold")
    line.append(summary, style="green" if summary == "all serving" else "red")
    return line


def _grpc_cell(health: GrpcHealth | None) -> Text:
    if health is None:
        return Text("—", style="dim")
    if health.serving:
        return Text("serving", style="green")
    return Text(health.status or "no answer", style="red")


@console.renders(StopResult)
def _stop(result: StopResult) -> RenderableType:
    lines: list[RenderableType] = []
    if not result.removed_containers and not result.removed_volumes and not result.removed_network:
        lines.append(Text(f"nothing to stop for branch {result.branch}", style="dim"))
    else:
        lines.append(
            Text(
                f"✓ stopped {len(result.stopped)} and removed {len(result.removed_containers)} containers of "
                f"{result.branch} in {result.seconds:.1f}s",
                style="bold green",
            )
        )
    if result.removed_network:
        lines.append(Text(f"  removed network {result.removed_network}", style="dim"))
    for vol in result.removed_volumes:
        lines.append(Text(f"  removed volume {vol}", style="dim"))
    for item in result.dropped:
        lines.append(Text(f"  dropped {item}", style="dim"))
    for tag in result.removed_images:
        lines.append(Text(f"  removed dev image {tag}", style="dim"))
    if result.kept_volumes:
        lines.append(
            Text(
                f"  data kept in {len(result.kept_volumes)} volumes (env.stop --purge removes them)",
                style="dim",
            )
        )
    lines.extend(Text(f"  {n}", style="yellow") for n in result.notes)
    return Group(*lines)


def _health_text(health: str) -> Text:
    style = {"healthy": "green", "unhealthy": "red", "starting": "yellow"}.get(health, "dim")
    return Text(health, style=style)


def _dev_lines(snap: StatusSnapshot) -> list[Text]:
    """Auto-reload: ON per service in dev mode, with its source and last cycle (env.dev)."""
    lines = []
    for mode in snap.dev:
        last = f"; last: {mode.last_action} {mode.last_result} at {mode.last_at}" if mode.last_action else ""
        lines.append(
            Text(f"{mode.service}: dev mode (Auto-reload: ON) from {mode.source}{last}", style="cyan")
        )
    return lines


@console.renders(StatusSnapshot)
def _status(snap: StatusSnapshot) -> RenderableType:
    head = Table.grid(padding=(0, 2))
    head.add_column(no_wrap=True)
    head.add_column(overflow="fold")
    git = snap.git
    commit = f"{git.commit} {git.subject or ''} ({human_age(git.age_s)} ago)" if git.commit else "no commits"
    head.add_row("branch", Text(snap.branch, style="bold"))
    head.add_row("last commit", commit)
    eng = snap.engine
    head.add_row(
        "docker",
        f"{eng.version} (API {eng.api_version}) at {eng.host}, {eng.containers_running} running"
        if eng.reachable
        else Text("not reachable", style="red"),
    )
    services = console.table(
        [
            Column("service", "name"),
            Column("state", "status"),
            Column("health", "status"),
            Column("gRPC", "status", drop=8),
            Column("port", "number", drop=3),
            Column("probe", "number", drop=5),
            Column("uptime", "number", drop=4),
            Column("memory", "number", drop=6),
            Column("cpu", "number", drop=7),
            Column("url", "path", drop=2),
        ],
        (
            [
                s.name,
                s.state,
                _health_text(s.health),
                _grpc_cell(s.grpc),
                str(s.host_port or "—"),
                f"{s.probe_ms:.0f} ms" if s.probe_ms is not None else "—",
                human_age(s.uptime_s),
                human_bytes(s.memory_bytes),
                f"{s.cpu_percent:.1f}%" if s.cpu_percent is not None else "—",
                s.url,
            ]
            for s in snap.services
        ),
        title="services",
    )
    dbs = console.table(
        [
            Column("database", "name"),
            Column("mode", "status", drop=3),
            Column("state", "status"),
            Column("health", "status"),
            Column("probe", "number", drop=4),
            Column("size", "number", drop=5),
            Column("connection", "path", drop=2),
        ],
        (
            [
                f"{d.name} ({d.kind})",
                d.mode,
                d.state,
                _health_text(d.health),
                f"{d.probe_ms:.0f} ms" if d.probe_ms is not None else "—",
                d.size,
                d.connection,
            ]
            for d in snap.databases
        ),
        title="databases",
    )
    parts: list[RenderableType] = [head, services]
    if snap.grpc:
        parts.append(_grpc_line(snap.grpc))
    parts.append(dbs)
    if snap.clients:
        line = Text("clients  ")
        for lang, state in snap.clients.items():
            style = {"current": "green", "stale": "yellow"}.get(state, "dim")
            line.append(f"{lang} ", style="bold")
            line.append(f"{state}   ", style=style)
        parts.append(line)
    parts.extend(_database_lines(snap))
    parts.extend(_dev_lines(snap))
    parts.extend(Text(f"hint: {name_program(h)}", style="yellow") for h in snap.hints)
    parts.append(Text(f"taken {snap.taken_at} in {snap.seconds * 1000:.0f} ms", style="dim"))
    return Group(*parts)


MIGRATION_STYLE = {"up to date": "green", "drift": "bold red", "failed": "bold red", "unreachable": "red"}


def _database_lines(snap: StatusSnapshot) -> list[RenderableType]:
    """The migrations of each store and the queries per second of each database, a line each."""
    lines: list[RenderableType] = []
    if snap.migrations:
        line = Text("migrations  ")
        for m in snap.migrations:
            style = MIGRATION_STYLE.get(m.state, "yellow")
            line.append(f"{m.store} ", style="bold")
            line.append(m.state, style=style)
            line.append("   ")
        lines.append(line)
    if snap.activity:
        line = Text("queries     ")
        for a in snap.activity:
            line.append(f"{a.database} ", style="bold")
            if a.total is None:
                line.append(f"— ({a.error or 'unknown'})", style="dim")
            else:
                line.append(f"{a.total:,}")
                if a.per_second is not None:
                    over = f" over {human_age(a.window_s)}" if a.window_s and a.window_s >= 10 else ""
                    line.append(f" (+{a.per_second:g}/sec{over})", style="cyan" if a.per_second else "dim")
            line.append("   ")
        lines.append(line)
    return lines


@console.renders(EnvironmentList)
def _list(envs: EnvironmentList) -> RenderableType:
    if not envs.environments:
        return Text(f"no {envs.project} environments on this machine", style="dim")
    rows: list[list[str | Text]] = []
    for env in envs.environments:
        exists: Text | str = (
            "—"
            if env.branch_exists is None
            else "exists"
            if env.branch_exists
            else Text("deleted", style="yellow")
        )
        rows.append(
            [
                env.branch,
                env.state,
                f"{env.running}/{env.containers} running",
                str(len(env.volumes)),
                human_bytes(env.volume_bytes),
                _ports(env.ports),
                exists,
            ]
        )
    columns = [
        Column("branch", "name"),
        Column("state", "status"),
        Column("containers", "number", drop=3),
        Column("volumes", "number", drop=4),
        Column("disk", "number", drop=2),
        Column("ports", "text", drop=5),
        Column("git branch", "status", drop=1),
    ]
    return console.table(columns, rows, title=f"{envs.project} environments on this machine")


def _ports(ports: list[int]) -> str:
    if not ports:
        return "—"
    if len(ports) > 3:
        return f"{min(ports)}-{max(ports)} ({len(ports)})"
    return ", ".join(map(str, ports))


@console.renders(PruneResult)
def _prune(result: PruneResult) -> RenderableType:
    if not result.candidates:
        return Text("nothing to prune: every environment's branch still exists", style="dim")
    lines: list[RenderableType] = []
    for stop in result.removed:
        lines.append(
            Text(
                f"✓ removed the environment of {stop.branch} "
                f"({len(stop.removed_containers)} containers, {len(stop.removed_volumes)} volumes)",
                style="green",
            )
        )
    for kept in result.kept:
        lines.append(Text(f"  kept {kept}", style="dim"))
    return Group(*lines)


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def render(result: StatusSnapshot) -> RenderableType:
    """The person-facing view of a snapshot (for env.status --watch)."""
    return _status(result)


SERVICE_COLOURS = (36, 33, 32, 35, 34, 31, 96, 93, 92, 95, 94, 91)  # compose's rainbow, then bright
LEVEL_COLOURS = {"TRACE": 2, "DEBUG": 2, "INFO": 0, "WARN": 33, "ERROR": 31, "FATAL": 41}


class LogPrinter:
    """Writes log lines to stdout (coloured prefix per service in a terminal) and to an export file.

    Lines are written with one ``write`` per batch, bypassing Rich: following a chatty service
    must cost little CPU.
    """

    def __init__(self, services: list[str], *, colour: bool, as_json: bool = False, export: str = "") -> None:
        import sys

        self.out = sys.stdout
        self.colour = colour and not as_json
        self.as_json = as_json
        width = max((len(s) for s in services), default=4)
        self.prefix = {}
        for i, svc in enumerate(sorted(services)):
            label = f"{svc:<{width}} |"
            code = SERVICE_COLOURS[i % len(SERVICE_COLOURS)]
            self.prefix[svc] = f"\x1b[{code}m{label}\x1b[0m" if self.colour else label
        self.export = None
        self.export_json = export.endswith(".jsonl")
        if export:
            self.export = Path(export).open("w", encoding="utf-8")  # noqa: SIM115  (closed in close())
        self.count = 0

    def _person(self, line: LogLine) -> str:
        prefix = self.prefix.get(line.service) or f"{line.service} |"
        when = line.ts[11:23] if len(line.ts) >= 23 else line.ts
        level = line.level
        if self.colour:
            code = LEVEL_COLOURS.get(level, 0)
            level = f"\x1b[{code}m{level:<5}\x1b[0m" if code else f"{level:<5}"
        else:
            level = f"{level:<5}"
        return f"{prefix} {when} {level} {line.text}\n"

    def __call__(self, lines: list[LogLine]) -> None:
        import json

        if self.as_json:
            self.out.write("".join(json.dumps(ln.to_dict(), ensure_ascii=False) + "\n" for ln in lines))
        else:
            self.out.write("".join(self._person(ln) for ln in lines))
        self.out.flush()
        if self.export is not None:
            if self.export_json:
                self.export.write(
                    "".join(json.dumps(ln.to_dict(), ensure_ascii=False) + "\n" for ln in lines)
                )
            else:
                self.export.write(
                    "".join(f"{ln.service} | {ln.ts} {ln.level:<5} {ln.text}\n" for ln in lines)
                )
            self.export.flush()
        self.count += len(lines)

    def close(self) -> None:
        if self.export is not None:
            self.export.close()
