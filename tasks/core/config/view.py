"""How config results look to a person."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from tasks.core.config.report import ConfigReport, NamesReport
from tasks.core.console import Column, renders, table


@renders(ConfigReport)
def _config(report: ConfigReport) -> RenderableType:
    head = Table.grid(padding=(0, 2))
    head.add_column(no_wrap=True)
    head.add_column(overflow="fold")
    head.add_row("config file", report.config_file or "(none: built-in defaults)")
    head.add_row("project root", report.project_root)
    head.add_row("layers", " < ".join(["defaults", *report.layers]))
    head.add_row("start order", " → ".join(", ".join(w) for w in report.start_order))
    rows = []
    for name, svc in report.settings["services"].items():
        health = svc["health"]
        probe = health["path"] if health["kind"] == "http" else ""
        rows.append(
            [
                name,
                svc["image"],
                ", ".join(f"{k}={v}" for k, v in svc["ports"].items()),
                ", ".join(svc["depends_on"]),
                f"{health['kind']} {probe} ≤{health['timeout']:g}s",
            ]
        )
    services = table(
        [
            Column("name", "name"),
            Column("image", "path"),
            Column("ports", "text", drop=2),
            Column("depends on", "text", drop=1),
            Column("health", "text", drop=3),
        ],
        rows,
        title="services",
    )
    db_rows = []
    for name, db in report.settings["databases"].items():
        where = db["image"] if db["mode"] == "container" else db["host"]
        db_rows.append([name, db["kind"], db["mode"], where, str(db["port"]), db["user"]])
    dbs = table(
        [
            Column("name", "name"),
            Column("kind", "name", drop=3),
            Column("mode", "status", drop=2),
            Column("image / host", "path"),
            Column("port", "number"),
            Column("user", "name", drop=1),
        ],
        db_rows,
        title="databases",
    )
    return Group(head, Text(""), services, dbs)


@renders(NamesReport)
def _names(report: NamesReport) -> RenderableType:
    rows = [[key, value] for key, value in report.names.items()]
    rows.extend([f"host port {key}", str(port)] for key, port in report.host_ports.items())
    return table(
        [Column("what", "name"), Column("name", "path")],
        rows,
        title=f"names of branch {report.branch!r} ({report.origin})",
    )
