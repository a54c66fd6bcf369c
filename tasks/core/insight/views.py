"""How the insight tasks look to a person (db.inspect, db.schema, db.keys, db.flush, db.connect)."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text

from tasks.core.console import Column, dumps, renders, table
from tasks.core.humanize import human_age, human_bytes
from tasks.core.insight.connect import ConnectInfo
from tasks.core.insight.flush import FlushReport
from tasks.core.insight.keys import KeysReport
from tasks.core.insight.model import InspectReport, StoreInsight
from tasks.core.insight.schema import SchemaReport


def _rows(n: int | None, exact: bool) -> str:
    if n is None:
        return "—"
    return f"{n:,}" if exact else f"~{n:,}"


def _summary(s: StoreInsight) -> list[str | Text]:
    if s.error:
        return [s.store, s.target, Text(s.error, style="red"), "", "", ""]
    if not s.exists:
        none_yet = "—" if s.kind == "s3" else f"0/{s.total}"
        return [s.store, s.target, Text("not created", style="yellow"), "", "", none_yet]
    if s.kind == "s3":
        return [s.store, s.target, f"{s.keys or 0:,} object(s)", human_bytes(s.bytes), "", "—"]
    if s.kind == "keydb":
        held = f"{s.keys or 0:,} keys in {len(s.namespaces)} namespace(s)"
        extra = f"up {human_age(s.uptime_s)}" if s.uptime_s else ""
    else:
        rows = sum(t.rows or 0 for t in s.tables)
        approx = "" if all(t.exact for t in s.tables) else "~"
        held = f"{len(s.tables)} table(s), {approx}{rows:,} rows"
        extra = f"schema v{s.version}" if s.version is not None else "no migrations"
    pending = s.total - s.applied
    migrations = Text(f"{s.applied}/{s.total}", style="yellow" if pending > 0 else "green")
    return [s.store, s.target, held, human_bytes(s.bytes), extra, migrations]


def _detail(s: StoreInsight) -> RenderableType | None:
    if s.error or not s.exists:
        return None
    if s.kind == "s3":
        if not s.namespaces:
            return None
        return table(
            [Column("prefix", "name"), Column("objects", "number"), Column("size", "number")],
            (
                [n.name if n.name.startswith("(") else f"{n.name}/", f"{n.keys:,}", human_bytes(n.bytes)]
                for n in s.namespaces
            ),
            title=f"{s.store} {s.target}",
        )
    if s.kind == "keydb":
        if not s.namespaces:
            return None
        return table(
            [Column("namespace", "name"), Column("keys", "number"), Column("memory", "number")],
            (
                [f"{n.name}:*", f"{n.keys:,}", ("" if n.exact else "~") + human_bytes(n.bytes)]
                for n in s.namespaces
            ),
            title=f"{s.store} {s.target}",
        )
    if not s.tables:
        return None
    return table(
        [Column("table", "name"), Column("rows", "number"), Column("size", "number")],
        ([t.name, _rows(t.rows, t.exact), human_bytes(t.bytes)] for t in s.tables),
        title=f"{s.store} {s.target}",
    )


@renders(InspectReport)
def inspect_view(report: InspectReport) -> RenderableType:
    summary = table(
        [
            Column("store", "name"),
            Column("target", "name"),
            Column("holds", "text"),
            Column("size", "number"),
            Column("", "text", drop=1),
            Column("migrations", "number"),
        ],
        (_summary(s) for s in report.stores),
        title=f"stores of branch {report.branch}",
    )
    parts: list[RenderableType] = [summary]
    parts.extend(d for d in (_detail(s) for s in report.stores) if d is not None)
    parts.append(Text(f"read in {report.seconds * 1000:.0f} ms; ~ marks an estimate", style="dim"))
    return Group(*parts)


@renders(SchemaReport)
def schema_view(report: SchemaReport) -> RenderableType:
    comment = {"sql": "--", "cql": "--", "text": "#"}
    parts: list[RenderableType] = []
    for s in report.stores:
        mark = comment[s.language]
        head = f"{mark} {s.store}: {s.target}"
        if s.error:
            parts.append(Text(f"{head}: {s.error}", style="red"))
        elif not s.exists:
            parts.append(Text(f"{head}: not created (inv db.migrate creates it)", style="yellow"))
        else:
            body = "\n\n".join(s.statements) if s.language != "text" else "\n".join(s.statements)
            parts.append(Text(f"{head}\n", style="dim") + Text(body or f"{mark} (empty)"))
        parts.append(Text(""))
    return Group(*parts)


@renders(KeysReport)
def keys_view(report: KeysReport) -> RenderableType:
    if not report.keys:
        return Text(f"no key of branch {report.branch} matches {report.pattern!r} (under {report.prefix})")
    columns = [Column("key", "name"), Column("type", "name"), Column("ttl", "number")]
    with_values = any(k.value is not None for k in report.keys)
    if with_values:
        columns.append(Column("value", "text"))
    rows = []
    for k in report.keys:
        row: list[str] = [k.key, k.type, human_age(k.ttl_s) if k.ttl_s is not None else "—"]
        if with_values:
            row.append("" if k.value is None else k.value if isinstance(k.value, str) else dumps(k.value))
        rows.append(row)
    more = f"; more match (raise --limit, now {len(report.keys)})" if report.more else ""
    return Group(
        table(columns, rows, title=f"keys of branch {report.branch} under {report.prefix}"),
        Text(f"{len(report.keys)} key(s){more}", style="dim"),
    )


@renders(FlushReport)
def flush_view(report: FlushReport) -> RenderableType:
    if report.store == "s3":
        return Text.assemble(
            ("flushed ", "green"),
            f"bucket {report.target}: {report.deleted:,} object(s) deleted in {report.seconds * 1000:.0f} ms",
        )
    return Text.assemble(
        ("flushed ", "green"),
        f"{report.target}*: {report.deleted:,} key(s) deleted, "
        f"{report.migrations} migration(s) applied again in {report.seconds * 1000:.0f} ms",
    )


@renders(ConnectInfo)
def connect_view(found: ConnectInfo) -> RenderableType:
    rows = [
        ["store", found.store],
        ["host", found.host],
        ["port", str(found.port)],
        ["user", found.user or "—"],
        [
            "keyspace" if found.kind == "scylla" else "prefix" if found.kind == "keydb" else "database",
            found.name,
        ],
        ["url", found.url],
        ["shell", " ".join(found.argv) + ("" if found.installed else "  (not installed)")],
    ]
    return table([Column("", "name"), Column("", "text")], rows, show_header=False)
