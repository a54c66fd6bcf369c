"""env.dev's output: one line per cycle (or one JSON event), a panel when a cycle fails."""

from __future__ import annotations

import sys
from dataclasses import asdict

from rich.console import RenderableType
from rich.table import Table

from tasks.core import console
from tasks.core.dev.model import Cycle, DevResult

COLOURS = {"ok": "green", "failed": "red", "ignored": "yellow"}


class CyclePrinter:
    def __init__(self, *, as_json: bool) -> None:
        self.as_json = as_json

    def __call__(self, cycle: Cycle) -> None:
        if self.as_json:
            import json

            sys.stdout.write(json.dumps(asdict(cycle)) + "\n")
            sys.stdout.flush()
            return
        from rich.text import Text

        colour = COLOURS.get(cycle.result, "white")
        line = Text.assemble(
            (cycle.ts, "dim"),
            " ",
            (cycle.service, "bold"),
            f" {cycle.action} {cycle.files} file(s) {cycle.seconds:.2f}s ",
            (cycle.result, colour),
        )
        if cycle.trigger:
            line.append(f" ({cycle.trigger})", style="dim")
        console.err.print(line)
        if cycle.unmatched:
            shown = ", ".join(cycle.unmatched[:5]) + (" ..." if len(cycle.unmatched) > 5 else "")
            console.note(f"  no rule matches {shown}: ignored (add a rule to act on it)")
        if cycle.result == "failed":
            from rich.panel import Panel

            body = Text(cycle.error)
            for detail in cycle.details:
                body.append("\n" + detail, style="dim")
            body.append("\n\nthe old version still serves; the watcher goes on", style="bold cyan")
            console.err.print(
                Panel(body, title=f"[bold red]{cycle.service} {cycle.action} failed[/]", border_style="red")
            )


@console.renders(DevResult)
def _result(result: DevResult) -> RenderableType:
    table = Table(title=f"env.dev on branch {result.branch}", title_justify="left")
    for column in ("service", "source", "container", "in", "cycles", "last"):
        table.add_column(column)
    for service in result.services:
        last = service.cycles[-1] if service.cycles else None
        table.add_row(
            service.name,
            service.source,
            service.container,
            service.destination,
            str(len(service.cycles)),
            f"{last.action} {last.result}" if last else "",
        )
    return table
