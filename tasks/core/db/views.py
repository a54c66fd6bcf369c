"""How db results look to a person (imported by tasks/db.py; JSON needs none of this)."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text

from tasks.core.console import Column, renders, table
from tasks.core.db.branching import BranchReport
from tasks.core.db.diff import DiffReport
from tasks.core.db.dump import DumpReport, RestoreReport
from tasks.core.db.models import MigrateReport, StatusReport
from tasks.core.db.reset import ResetReport
from tasks.core.db.seeds import SeedReport
from tasks.core.humanize import human_bytes

STATE_STYLE = {
    "applied": "green",
    "pending": "yellow",
    "drift": "bold red",
    "missing": "red",
    "failed": "red",
}


@renders(StatusReport)
def status_view(report: StatusReport) -> RenderableType:
    parts: list[RenderableType] = []
    summary = table(
        [
            Column("store", "name"),
            Column("target", "name"),
            Column("applied", "number"),
            Column("pending", "number"),
            Column("drift", "number"),
            Column("missing", "number"),
        ],
        (
            [
                s.store,
                s.target + ("" if s.exists else " (not created)"),
                str(s.count("applied")),
                Text(str(s.count("pending")), style="yellow" if s.count("pending") else ""),
                Text(str(s.count("drift")), style="bold red" if s.count("drift") else ""),
                Text(str(s.count("missing") + s.count("failed")), style="red" if s.count("missing") else ""),
            ]
            for s in report.stores
        ),
        title=f"migrations of branch {report.branch}",
    )
    parts.append(summary)
    detail = table(
        [
            Column("store", "name"),
            Column("version", "number"),
            Column("state", "status"),
            Column("description", "text", drop=1),
            Column("applied at", "number", drop=2),
            Column("ms", "number", drop=3),
        ],
        (
            [
                s.store,
                str(m.version),
                Text(
                    m.state + (" (out of order)" if m.out_of_order else ""),
                    style=STATE_STYLE.get(m.state, ""),
                ),
                m.description,
                m.applied_at.strftime("%Y-%m-%d %H:%M:%S") if m.applied_at else "",
                f"{m.execution_ms:.1f}" if m.execution_ms is not None else "",
            ]
            for s in report.stores
            for m in s.migrations
        ),
        show_header=True,
        box=None,
        pad_edge=False,
    )
    parts.append(detail)
    if report.drift:
        parts.append(
            Text(
                "drift: an applied migration's file changed or vanished; it is not re-run. "
                "Restore the file, or reset the branch (inv db.reset).",
                style="bold red",
            )
        )
    return Group(*parts)


@renders(MigrateReport)
def migrate_view(report: MigrateReport) -> RenderableType:
    return table(
        [
            Column("store", "name"),
            Column("target", "name"),
            Column("applied", "text"),
            Column("drift", "text"),
            Column("seconds", "number", drop=1),
        ],
        (
            [
                s.store,
                s.target + (" (created)" if s.created else ""),
                (
                    f"{len(s.applied)}: {s.applied[0].version}..{s.applied[-1].version}"
                    if len(s.applied) > 1
                    else str(s.applied[0].version)
                    if s.applied
                    else "up to date"
                ),
                Text(", ".join(f"{m.version} {m.state}" for m in s.drift), style="bold red"),
                f"{s.seconds:.2f}",
            ]
            for s in report.stores
        ),
        title=f"db.migrate on branch {report.branch} ({report.seconds:.2f} s)",
    )


@renders(SeedReport)
def seed_view(report: SeedReport) -> RenderableType:
    rows = []
    for store, counts in report.counts.items():
        shown = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()) if v)
        rows.append([store, shown, f"{report.seconds.get(store, 0):.2f}"])
    columns = [Column("store", "name"), Column("rows", "text"), Column("seconds", "number", drop=1)]
    return table(columns, rows, title=f"db.seed on branch {report.branch}")


@renders(ResetReport)
def reset_view(report: ResetReport) -> RenderableType:
    title = f"db.reset on branch {report.branch}: {report.seconds:.2f} s" + (
        "" if report.seeded else " (no seeds)"
    )
    rows = []
    for s in report.stores:
        phases = " ".join(f"{k} {v:.2f}" for k, v in s.phases.items())
        rows.append([s.store, s.target, s.how, f"{s.seconds:.2f}" + (f"  ({phases})" if phases else "")])
    columns = [
        Column("store", "name"),
        Column("target", "name"),
        Column("how", "text"),
        Column("seconds", "text", drop=1),
    ]
    return table(columns, rows, title=title)


OP_STYLE = {"+": "green", "-": "red", "~": "yellow"}


@renders(DiffReport)
def diff_view(report: DiffReport) -> RenderableType:
    parts: list[RenderableType] = [
        Text(f"{report.this} vs {report.other} ({report.other_source}, {report.seconds:.2f} s)", style="bold")
    ]
    for store, names in report.stores.items():
        changes = [c for c in report.changes if c.store == store]
        parts.append(Text(f"{store:<7} {names}" + ("  (same)" if not changes else ""), style="bold"))
        for c in changes:
            line = Text(f"  {c.op} {c.kind:<10} {c.name}", style=OP_STYLE[c.op])
            if c.detail:
                line.append(f"  {c.detail}", style="dim")
            if c.destructive:
                line.append("  [destructive]", style="bold red")
            parts.append(line)
    total = len(report.changes)
    summary = f"{total} change(s), {report.destructive} destructive" if total else "no differences"
    parts.append(Text(summary + ("  (re-run with --sql for Postgres DDL)" if total else ""), style="bold"))
    return Group(*parts)


def sql_text(report: DiffReport) -> str:
    lines = [f"-- turns {report.other}'s schema into {report.this}'s (clikd db.diff --sql)"]
    for store, statements in report.sql().items():
        lines.append(f"\n-- {store}: {report.stores[store]}")
        for c in [c for c in report.changes if c.store == store and c.sql]:
            if c.destructive:
                lines.append(f"-- WARNING destructive: {c.op} {c.kind} {c.name}")
            lines.extend(c.sql)
        del statements
    if len(lines) == 1:
        lines.append("-- no Postgres differences")
    return "\n".join(lines)


@renders(DumpReport)
def dump_view(report: DumpReport) -> RenderableType:
    stores = report.manifest["stores"]
    rows = [
        [
            role,
            stores[role]["database"],
            f"{sum(stores[role]['rows'].values())} rows, {len(stores[role]['rows'])} tables",
        ]
        for role in ("auth", "main")
    ]
    rows.append(
        [
            "scylla",
            stores["scylla"]["keyspace"],
            f"{sum(stores['scylla']['rows'].values())} rows, {len(stores['scylla']['rows'])} tables",
        ]
    )
    rows.append(["keydb", stores["keydb"]["prefix"] + "*", f"{stores['keydb']['keys']} keys"])
    if "s3" in stores:
        s3 = stores["s3"]
        rows.append(["s3", s3["bucket"], f"{s3['objects']} objects, {human_bytes(s3['bytes'])}"])
    return table(
        [Column("store", "name"), Column("what", "name"), Column("contents", "text")],
        rows,
        title=f"db.dump of branch {report.branch} in {report.seconds:.2f} s -> {report.path}",
    )


@renders(RestoreReport)
def restore_view(report: RestoreReport) -> RenderableType:
    return table(
        [Column("store", "name"), Column("done", "text")],
        ([store, what] for store, what in report.stores.items()),
        title=f"db.restore of {report.path} (from {report.from_branch}) into {report.branch}: "
        f"{report.seconds:.2f} s",
    )


@renders(BranchReport)
def branch_view(report: BranchReport) -> RenderableType:
    return table(
        [Column("store", "name"), Column("how", "text")],
        ([store, how] for store, how in report.stores.items()),
        title=f"db.branch: {report.branch} <- {report.source} ({report.seconds:.2f} s)",
    )
