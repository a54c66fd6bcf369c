"""db.diff: this branch's schemas against another branch's, store by store.

Postgres (auth, main) is compared object by object from the catalogs (inspect_pg); ``--sql`` gives
the statements that turn the other branch's schema into this one's, destructive ones flagged.
Scylla is compared from ``system_schema`` (tables, columns with their key kind, position and
clustering order, table options, indexes, materialized views). KeyDB is compared by namespace
(the first segment after the prefix): key counts per type.
When the other branch's stores do not exist, they are built from that branch's migration files,
read through git, in throwaway databases that are removed afterwards.
"""

# ruff: noqa: E501, PLR0912, PLR0915
# (one comparison per object kind, written in the order its SQL must run; the DDL templates read best
#  on one line each)
from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tasks.core.db import inspect_pg, keydb, postgres, scylla
from tasks.core.db.files import POSTGRES_ROLES, STORES, Source, load
from tasks.core.db.models import no_progress
from tasks.core.db.target import Target, parallel


@dataclass
class Change:
    store: str
    kind: str  # table, column, constraint, index, view, function, enum, sequence, trigger, namespace...
    name: str
    op: str  # "+" only in this branch, "-" only in the other, "~" in both but different
    detail: str = ""
    destructive: bool = False
    sql: list[str] = field(default_factory=list)


@dataclass
class DiffReport:
    this: str
    other: str
    other_source: str  # "live" or "built from git <rev>"
    stores: dict[str, str]  # store -> "this-name vs other-name"
    changes: list[Change]
    seconds: float = 0.0
    with_sql: bool = False

    @property
    def destructive(self) -> int:
        return sum(1 for c in self.changes if c.destructive)

    def sql(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for c in self.changes:
            if c.sql:
                out.setdefault(c.store, []).extend(c.sql)
        return out


# --------------------------------------------------------------------------------------- postgres

q = postgres.quote_ident


def _column_sql(name: str, col: dict[str, Any]) -> str:
    text = f"{q(name)} {col['type']}"
    if col.get("identity"):
        text += f" GENERATED {col['identity'].upper()} AS IDENTITY"
    elif col.get("default") is not None:
        text += f" DEFAULT {col['default']}"
    if not col["nullable"]:
        text += " NOT NULL"
    return text


def diff_postgres(
    store: str, this: dict[str, dict[str, Any]], other: dict[str, dict[str, Any]]
) -> list[Change]:
    """Changes that turn ``other`` into ``this``, in an order the SQL can run in."""
    out: list[Change] = []

    def both(kind: str) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
        a, b = this[kind], other[kind]
        return a, b, sorted(set(a) | set(b))

    a, b, names = both("enum")
    for n in names:
        if n not in b:
            labels = ", ".join(postgres.quote_literal(x) for x in a[n])
            out.append(
                Change(
                    store,
                    "enum",
                    n,
                    "+",
                    f"({', '.join(a[n])})",
                    sql=[f"CREATE TYPE {q(n)} AS ENUM ({labels});"],
                )
            )
        elif n in a and a[n] != b[n]:
            if a[n][: len(b[n])] == b[n]:
                sql = [f"ALTER TYPE {q(n)} ADD VALUE {postgres.quote_literal(x)};" for x in a[n][len(b[n]) :]]
                out.append(Change(store, "enum", n, "~", f"+ {', '.join(a[n][len(b[n]) :])}", sql=sql))
            else:
                out.append(
                    Change(
                        store,
                        "enum",
                        n,
                        "~",
                        f"{b[n]} -> {a[n]}",
                        True,
                        [f"-- enum {n}: labels removed or reordered; recreate the type by hand"],
                    )
                )
    a, b, names = both("sequence")
    for n in names:
        if n not in b:
            s = a[n]
            out.append(
                Change(
                    store,
                    "sequence",
                    n,
                    "+",
                    sql=[
                        f"CREATE SEQUENCE {q(n)} INCREMENT BY {s['increment']} MINVALUE {s['min']} MAXVALUE {s['max']} "
                        f"START WITH {s['start']}{' CYCLE' if s['cycle'] else ''};"
                    ],
                )
            )
        elif n not in a:
            out.append(Change(store, "sequence", n, "-", destructive=True, sql=[f"DROP SEQUENCE {q(n)};"]))
        elif a[n] != b[n]:
            s = a[n]
            out.append(
                Change(
                    store,
                    "sequence",
                    n,
                    "~",
                    f"{b[n]} -> {s}",
                    sql=[
                        f"ALTER SEQUENCE {q(n)} INCREMENT BY {s['increment']} MINVALUE {s['min']} MAXVALUE {s['max']};"
                    ],
                )
            )
    a, b, names = both("function")
    for n in names:
        if n not in b:
            out.append(Change(store, "function", n, "+", sql=[a[n] + ";"]))
        elif n not in a:
            out.append(Change(store, "function", n, "-", destructive=True, sql=[f"DROP FUNCTION {n};"]))
        elif a[n] != b[n]:
            out.append(Change(store, "function", n, "~", "body or attributes changed", sql=[a[n] + ";"]))
    a, b, names = both("table")
    dropped_tables: set[str] = set()
    for n in names:
        if n not in b:
            cols = ",\n    ".join(_column_sql(c, col) for c, col in a[n]["columns"].items())
            out.append(
                Change(
                    store,
                    "table",
                    n,
                    "+",
                    f"{len(a[n]['columns'])} columns",
                    sql=[f"CREATE TABLE {q(n)} (\n    {cols}\n);"],
                )
            )
            continue
        if n not in a:
            dropped_tables.add(n)
            out.append(
                Change(
                    store, "table", n, "-", f"{len(b[n]['columns'])} columns", True, [f"DROP TABLE {q(n)};"]
                )
            )
            continue
        ca, cb = a[n]["columns"], b[n]["columns"]
        for c in sorted(set(ca) | set(cb)):
            name = f"{n}.{c}"
            if c not in cb:
                out.append(
                    Change(
                        store,
                        "column",
                        name,
                        "+",
                        ca[c]["type"] + ("" if ca[c]["nullable"] else " not null"),
                        sql=[f"ALTER TABLE {q(n)} ADD COLUMN {_column_sql(c, ca[c])};"],
                    )
                )
            elif c not in ca:
                out.append(
                    Change(
                        store,
                        "column",
                        name,
                        "-",
                        cb[c]["type"],
                        True,
                        [f"ALTER TABLE {q(n)} DROP COLUMN {q(c)};"],
                    )
                )
            elif ca[c] != cb[c]:
                x, y = ca[c], cb[c]
                parts, sql, hazard = [], [], False
                if x["type"] != y["type"]:
                    parts.append(f"type {y['type']} -> {x['type']}")
                    sql.append(
                        f"ALTER TABLE {q(n)} ALTER COLUMN {q(c)} TYPE {x['type']} USING {q(c)}::{x['type']};"
                    )
                    hazard = True
                if x["default"] != y["default"]:
                    parts.append(f"default {y['default']} -> {x['default']}")
                    sql.append(
                        f"ALTER TABLE {q(n)} ALTER COLUMN {q(c)} "
                        + (f"SET DEFAULT {x['default']};" if x["default"] is not None else "DROP DEFAULT;")
                    )
                if x["nullable"] != y["nullable"]:
                    parts.append("nullable" if x["nullable"] else "not null")
                    sql.append(
                        f"ALTER TABLE {q(n)} ALTER COLUMN {q(c)} {'DROP' if x['nullable'] else 'SET'} NOT NULL;"
                    )
                if x["identity"] != y["identity"]:
                    parts.append(f"identity {y['identity']} -> {x['identity']}")
                    sql.append(f"-- {n}.{c}: identity changed; adjust by hand")
                out.append(Change(store, "column", name, "~", ", ".join(parts), hazard, sql))
    a, b, names = both("constraint")
    # primary keys, unique and check constraints before foreign keys, which may reference them
    for n in sorted(names, key=lambda k: ((a.get(k) or b.get(k) or {}).get("type") == "f", k)):
        x, y = a.get(n), b.get(n)
        if x and not y:
            out.append(
                Change(
                    store,
                    "constraint",
                    n,
                    "+",
                    x["def"],
                    sql=[f"ALTER TABLE {q(x['table'])} ADD CONSTRAINT {q(x['name'])} {x['def']};"],
                )
            )
        elif y and not x:
            if y["table"] in dropped_tables:
                continue
            out.append(
                Change(
                    store,
                    "constraint",
                    n,
                    "-",
                    y["def"],
                    True,
                    [f"ALTER TABLE {q(y['table'])} DROP CONSTRAINT {q(y['name'])};"],
                )
            )
        elif x and y and x["def"] != y["def"]:
            out.append(
                Change(
                    store,
                    "constraint",
                    n,
                    "~",
                    f"{y['def']} -> {x['def']}",
                    True,
                    [
                        f"ALTER TABLE {q(x['table'])} DROP CONSTRAINT {q(x['name'])};",
                        f"ALTER TABLE {q(x['table'])} ADD CONSTRAINT {q(x['name'])} {x['def']};",
                    ],
                )
            )
    a, b, names = both("index")
    for n in names:
        x, y = a.get(n), b.get(n)
        if x and not y:
            out.append(Change(store, "index", n, "+", x["def"], sql=[x["def"] + ";"]))
        elif y and not x:
            if y["table"] in dropped_tables:
                continue
            out.append(Change(store, "index", n, "-", y["def"], True, [f"DROP INDEX {q(n)};"]))
        elif x and y and x["def"] != y["def"]:
            out.append(
                Change(
                    store,
                    "index",
                    n,
                    "~",
                    f"{y['def']} -> {x['def']}",
                    True,
                    [f"DROP INDEX {q(n)};", x["def"] + ";"],
                )
            )
    a, b, names = both("view")
    for n in names:
        x, y = a.get(n), b.get(n)
        word = "MATERIALIZED VIEW" if (x or y or {}).get("materialized") else "VIEW"
        if x and not y:
            out.append(Change(store, "view", n, "+", sql=[f"CREATE {word} {q(n)} AS\n{x['def']}"]))
        elif y and not x:
            out.append(Change(store, "view", n, "-", destructive=True, sql=[f"DROP {word} {q(n)};"]))
        elif x and y and x != y:
            replace = "CREATE OR REPLACE VIEW" if word == "VIEW" else f"DROP {word} {q(n)}; CREATE {word}"
            out.append(
                Change(store, "view", n, "~", "definition changed", sql=[f"{replace} {q(n)} AS\n{x['def']}"])
            )
    a, b, names = both("trigger")
    for n in names:
        x, y = a.get(n), b.get(n)
        if x and not y:
            out.append(Change(store, "trigger", n, "+", sql=[x["def"] + ";"]))
        elif y and not x:
            if y["table"] in dropped_tables:
                continue
            out.append(
                Change(
                    store,
                    "trigger",
                    n,
                    "-",
                    destructive=True,
                    sql=[f"DROP TRIGGER {q(y['name'])} ON {q(y['table'])};"],
                )
            )
        elif x and y and x["def"] != y["def"]:
            out.append(
                Change(
                    store,
                    "trigger",
                    n,
                    "~",
                    sql=[f"DROP TRIGGER {q(x['name'])} ON {q(x['table'])};", x["def"] + ";"],
                )
            )
    return out


# --------------------------------------------------------------------------------------- scylla

TABLE_OPTIONS = ("comment", "default_time_to_live", "gc_grace_seconds")


def scylla_schema(sess: Any, keyspace: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {"table": {}, "index": {}, "view": {}}
    for r in sess.execute("SELECT * FROM system_schema.tables WHERE keyspace_name = %s", (keyspace,)):
        if r.table_name in scylla.BOOKKEEPING:
            continue
        out["table"][r.table_name] = {
            "columns": {},
            "options": {o: getattr(r, o, None) for o in TABLE_OPTIONS},
        }
    views = {
        r.view_name: r
        for r in sess.execute("SELECT * FROM system_schema.views WHERE keyspace_name = %s", (keyspace,))
    }
    for name, r in views.items():
        out["view"][name] = {"base": r.base_table_name, "where": r.where_clause, "columns": {}}
    for r in sess.execute("SELECT * FROM system_schema.columns WHERE keyspace_name = %s", (keyspace,)):
        col = {"type": r.type, "kind": r.kind, "position": r.position, "order": r.clustering_order}
        if r.table_name in out["table"]:
            out["table"][r.table_name]["columns"][r.column_name] = col
        elif r.table_name in out["view"]:
            out["view"][r.table_name]["columns"][r.column_name] = col
    for r in sess.execute("SELECT * FROM system_schema.indexes WHERE keyspace_name = %s", (keyspace,)):
        out["index"][r.index_name] = {
            "table": r.table_name,
            "kind": r.kind,
            "target": dict(r.options or {}).get("target"),
        }
    return out


def _key(cols: dict[str, Any]) -> str:
    pk = [c for c, v in sorted(cols.items(), key=lambda i: i[1]["position"]) if v["kind"] == "partition_key"]
    ck = [
        f"{c} {v['order']}"
        for c, v in sorted(cols.items(), key=lambda i: i[1]["position"])
        if v["kind"] == "clustering"
    ]
    return f"(({', '.join(pk)}){', ' + ', '.join(ck) if ck else ''})"


def diff_scylla(this: dict[str, dict[str, Any]], other: dict[str, dict[str, Any]]) -> list[Change]:
    out: list[Change] = []
    for kind in ("table", "view"):
        a, b = this[kind], other[kind]
        for n in sorted(set(a) | set(b)):
            if n not in b:
                out.append(
                    Change(
                        "scylla",
                        kind,
                        n,
                        "+",
                        f"primary key {_key(a[n]['columns'])}, {len(a[n]['columns'])} columns",
                    )
                )
            elif n not in a:
                out.append(Change("scylla", kind, n, "-", f"{len(b[n]['columns'])} columns", True))
            else:
                ca, cb = a[n]["columns"], b[n]["columns"]
                if _key(ca) != _key(cb):
                    out.append(Change("scylla", kind, n, "~", f"primary key {_key(cb)} -> {_key(ca)}", True))
                for c in sorted(set(ca) | set(cb)):
                    if c not in cb:
                        out.append(Change("scylla", "column", f"{n}.{c}", "+", ca[c]["type"]))
                    elif c not in ca:
                        out.append(Change("scylla", "column", f"{n}.{c}", "-", cb[c]["type"], True))
                    elif ca[c]["type"] != cb[c]["type"]:
                        out.append(
                            Change(
                                "scylla",
                                "column",
                                f"{n}.{c}",
                                "~",
                                f"{cb[c]['type']} -> {ca[c]['type']}",
                                True,
                            )
                        )
                for key in ("options", "base", "where"):
                    if key in a[n] and a[n][key] != b[n].get(key):
                        out.append(Change("scylla", kind, n, "~", f"{key}: {b[n].get(key)} -> {a[n][key]}"))
    a, b = this["index"], other["index"]
    for n in sorted(set(a) | set(b)):
        if n not in b:
            out.append(Change("scylla", "index", n, "+", f"on {a[n]['table']} ({a[n]['target']})"))
        elif n not in a:
            out.append(Change("scylla", "index", n, "-", f"on {b[n]['table']} ({b[n]['target']})", True))
        elif a[n] != b[n]:
            out.append(Change("scylla", "index", n, "~", f"{b[n]} -> {a[n]}"))
    return out


# --------------------------------------------------------------------------------------- keydb


def keydb_census(conn: Any, t: Target) -> dict[str, dict[str, int]]:
    """namespace -> type -> key count, for the keys under the branch's prefix (bookkeeping excluded)."""
    keys = [k for k in conn.scan_iter(match=t.pattern, count=1000)]
    pipe = conn.pipeline(transaction=False)
    for k in keys:
        pipe.type(k)
    types = pipe.execute() if keys else []
    census: dict[str, Counter[str]] = {}
    for k, typ in zip(keys, types, strict=True):
        rest = k.decode("utf-8", "replace")[len(t.prefix) :]
        if rest.startswith(keydb.META):
            continue
        ns = rest.split(":", 1)[0]
        census.setdefault(ns, Counter())[typ.decode() if isinstance(typ, bytes) else str(typ)] += 1
    return {ns: dict(c) for ns, c in census.items()}


def diff_keydb(this: dict[str, dict[str, int]], other: dict[str, dict[str, int]]) -> list[Change]:
    out: list[Change] = []

    def fmt(c: dict[str, int]) -> str:
        return ", ".join(f"{t} {n}" for t, n in sorted(c.items()))

    for ns in sorted(set(this) | set(other)):
        if ns not in other:
            out.append(Change("keydb", "namespace", f"{ns}:", "+", fmt(this[ns])))
        elif ns not in this:
            out.append(Change("keydb", "namespace", f"{ns}:", "-", fmt(other[ns])))
        elif this[ns] != other[ns]:
            out.append(Change("keydb", "namespace", f"{ns}:", "~", f"{fmt(other[ns])} -> {fmt(this[ns])}"))
    return out


# -------------------------------------------------------------------------------------------- s3


def s3_listing(t: Target) -> dict[str, tuple[int, str]]:
    """key -> (size, etag) of the branch's bucket (empty when it has none)."""
    from tasks.core.stores.s3 import buckets

    return {k: (o.size, o.etag) for k, o in buckets.listing(t.object_store(), t.bucket).items()}


def diff_s3(this: dict[str, tuple[int, str]], other: dict[str, tuple[int, str]]) -> list[Change]:
    """Objects by key: only here (+), only there (-), or different content (~, with the sizes)."""
    from tasks.core.humanize import human_bytes as size

    out: list[Change] = []
    for key in sorted(set(this) | set(other)):
        if key not in other:
            out.append(Change("s3", "object", key, "+", size(this[key][0])))
        elif key not in this:
            out.append(Change("s3", "object", key, "-", size(other[key][0])))
        elif this[key] != other[key]:
            out.append(Change("s3", "object", key, "~", f"{size(other[key][0])} -> {size(this[key][0])}"))
    return out


# --------------------------------------------------------------------------------------- whole


def other_exists(o: Target) -> bool:
    with postgres.admin(o.postgres) as conn:
        for role in POSTGRES_ROLES:
            if (
                conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (o.database(role),)).fetchone()
                is None
            ):
                return False
    with scylla.session(o.scylla) as sess:
        if not scylla.keyspace_exists(sess, o.keyspace):
            return False
    return bool(keydb.client(o.keydb).exists(keydb.history_key(o.prefix)))


def snapshot(t: Target) -> dict[str, Any]:
    def pg(role: str) -> Any:
        with postgres.connect(t.postgres, t.database(role)) as conn:
            return inspect_pg.schema(conn)

    def cql() -> Any:
        with scylla.session(t.scylla) as sess:
            if not scylla.keyspace_exists(sess, t.keyspace):
                return {"table": {}, "index": {}, "view": {}}
            return scylla_schema(sess, t.keyspace)

    jobs: dict[str, Callable[[], Any]] = {
        "auth": lambda: pg("auth"),
        "main": lambda: pg("main"),
        "scylla": cql,
        "keydb": lambda: keydb_census(keydb.client(t.keydb), t),
    }
    if t.s3:
        jobs["s3"] = lambda: s3_listing(t)
    return parallel(jobs)


def diff(this: Target, other: Target, *, throwaway: Target | None = None) -> DiffReport:
    """Compare ``this`` with ``other``; if the other's stores are missing, build them from git into ``throwaway``."""
    from tasks.core.db import destroy, migrate

    started = time.perf_counter()
    source = "live"
    compare_to = other
    if not other_exists(other):
        if throwaway is None:
            raise ValueError("a throwaway target is needed to build the other branch")
        src = Source(this.root, rev=other.branch)
        files = {s: load(src, s) for s in STORES}
        migrate.migrate(throwaway, migrations=files, progress=no_progress)
        compare_to = throwaway
        source = f"built from git {other.branch} ({sum(len(v) for v in files.values())} migrations)"
    try:
        mine, theirs = parallel(
            {"this": lambda: snapshot(this), "other": lambda: snapshot(compare_to)}
        ).values()
    finally:
        if compare_to is not other:
            destroy.destroy(compare_to)
    changes: list[Change] = []
    for role in POSTGRES_ROLES:
        changes += diff_postgres(role, mine[role], theirs[role])
    changes += diff_scylla(mine["scylla"], theirs["scylla"])
    changes += diff_keydb(mine["keydb"], theirs["keydb"])
    # Buckets are compared where both sides have one (a remote target's is not reached).
    both = [s for s in this.stores if s in mine and s in theirs]
    if "s3" in both:
        changes += diff_s3(mine["s3"], theirs["s3"])
    names = {s: f"{this.name_of(s)} vs {other.name_of(s)}" for s in both}
    return DiffReport(this.branch, other.branch, source, names, changes, time.perf_counter() - started)


def throwaway_name() -> str:
    return f"clikd-diff-{uuid.uuid4().hex[:10]}"
