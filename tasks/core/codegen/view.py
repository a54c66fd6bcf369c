"""How generation results look to a person: one summary table."""

from __future__ import annotations

from pathlib import Path

from rich.console import Group, RenderableType
from rich.text import Text

from tasks.core.codegen.run import GenReport
from tasks.core.console import Column, renders
from tasks.core.console import table as table_of

NOTES_SHOWN = 5  # per language; a large document can have hundreds

_STYLE = {
    "generated": "green",
    "unchanged": "dim",
    "current": "green",
    "differs": "bold red",
    "failed": "bold red",
}


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB"):
        if value < 1024 or unit == "MB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} MB"


def _short(path: str) -> str:
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return path


@renders(GenReport)
def gen_report(report: GenReport) -> RenderableType:
    numeric = ("models", "endpoints", "services", "files", "size", "time")
    drop = {"models": 2, "endpoints": 3, "services": 4, "files": 5, "size": 6, "time": 1}
    columns = [
        Column("language", "name"),
        Column("status", "status"),
        *(Column(name, "number", drop=drop[name]) for name in numeric),
        Column("output", "path"),
    ]
    rows = []
    for r in report.results:
        fresh = r.status in ("generated", "current", "differs")
        rows.append(
            [
                r.language,
                Text(r.status, style=_STYLE.get(r.status, "")),
                str(r.models) if fresh else "",
                str(r.endpoints) if fresh else "",
                str(r.services) if fresh else "",
                str(r.files),
                human_size(r.size) if fresh else "",
                f"{r.seconds:.2f} s" if fresh else "",
                _short(r.output),
            ]
        )
    table = table_of(columns, rows, title=f"clients from {report.spec}", show_edge=False)
    lines: list[RenderableType] = [table]
    for r in report.results:
        if r.status == "failed":
            lines.append(Text.assemble((f"{r.language}: ", "bold red"), r.error))
        lines.extend(Text(f"{r.language}: {note}", style="dim") for note in r.notes[:NOTES_SHOWN])
        if len(r.notes) > NOTES_SHOWN:
            more = len(r.notes) - NOTES_SHOWN
            lines.append(Text(f"{r.language}: ... and {more} more (--json lists them all)", style="dim"))
    lines.append(Text(f"total {report.seconds:.2f} s", style="dim"))
    return Group(*lines)
