"""How config results look to a person."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from tasks.core.config.report import ConfigReport, NamesReport
from tasks.core.console import renders


@renders(ConfigReport)
def _config(report: ConfigReport) -> RenderableType:
    head = Table.grid(padding=(0, 2))
    head.add_row("config file", report.config_file or "(none: built-in defaults)")
    head.add_row("project root", report.project_root)
    head.add_row("layers", " < ".join(["defaults", *report.layers]))
    head.add_row("start order", " → ".join(", ".join(w) for w in report.start_order))
    services = Table(title="services", title_justify="left")
    for col in ("name", "image", "ports", "depends on", "health"):
        services.add_column(col)
    for name, svc in report.settings["services"].items():
        health = svc["health"]
        services.add_row(
            name,
            svc["image"],
            ", ".join(f"{k}={v}" for k, v in svc["ports"].items()),
            ", ".join(svc["depends_on"]),
            f"{health['kind']} {health['path'] if health['kind'] == 'http' else ''} ≤{health['timeout']:g}s",
        )
    dbs = Table(title="databases", title_justify="left")
    for col in ("name", "kind", "mode", "image / host", "port", "user"):
        dbs.add_column(col)
    for name, db in report.settings["databases"].items():
        where = db["image"] if db["mode"] == "container" else db["host"]
        dbs.add_row(name, db["kind"], db["mode"], where, str(db["port"]), db["user"])
    return Group(head, Text(""), services, dbs)


@renders(NamesReport)
def _names(report: NamesReport) -> RenderableType:
    table = Table(title=f"names of branch {report.branch!r} ({report.origin})", title_justify="left")
    table.add_column("what")
    table.add_column("name")
    for key, value in report.names.items():
        table.add_row(key, value)
    for key, port in report.host_ports.items():
        table.add_row(f"host port {key}", str(port))
    return table
