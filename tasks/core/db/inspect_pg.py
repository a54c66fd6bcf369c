"""Read a Postgres database's schema from the catalogs into plain, comparable data.

Kinds: enums, sequences, functions, tables (columns: type, default, nullability), constraints,
indexes, views, triggers; schema ``public`` only, clikd's own history table left out, objects that
belong to an extension skipped.
"""

# ruff: noqa: S608, E501  (catalog queries: no input reaches them; each reads best on its own lines)
from __future__ import annotations

from typing import Any

from tasks.core.db.postgres import HISTORY

NOT_EXTENSION = "NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = {oid} AND d.deptype = 'e')"


def schema(conn: Any) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {k: {} for k in KINDS}
    for name, labels in conn.execute(
        "SELECT t.typname, array_agg(e.enumlabel ORDER BY e.enumsortorder) FROM pg_type t "
        "JOIN pg_enum e ON e.enumtypid = t.oid JOIN pg_namespace n ON n.oid = t.typnamespace "
        f"WHERE n.nspname = 'public' AND {NOT_EXTENSION.format(oid='t.oid')} GROUP BY t.typname"
    ).fetchall():
        out["enum"][name] = list(labels)
    for name, start, inc, minv, maxv, cycle, owned in conn.execute(
        "SELECT c.relname, s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcycle, "
        "(SELECT d.deptype FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('a', 'i') LIMIT 1) "
        "FROM pg_class c JOIN pg_sequence s ON s.seqrelid = c.oid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public'"
    ).fetchall():
        if owned == "i":
            continue  # identity columns' sequences come with their column
        out["sequence"][name] = {"start": start, "increment": inc, "min": minv, "max": maxv, "cycle": cycle}
    for sig, definition in conn.execute(
        "SELECT p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')', pg_get_functiondef(p.oid) "
        "FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        f"WHERE n.nspname = 'public' AND p.prokind IN ('f', 'p') AND {NOT_EXTENSION.format(oid='p.oid')}"
    ).fetchall():
        out["function"][sig] = definition.strip()
    for table, column, typ, default, notnull, identity in conn.execute(
        "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), pg_get_expr(d.adbin, d.adrelid), "
        "a.attnotnull, a.attidentity FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
        "LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum "
        "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relname <> %s ORDER BY c.relname, a.attnum",
        (HISTORY,),
    ).fetchall():
        cols = out["table"].setdefault(table, {"columns": {}})["columns"]
        cols[column] = {
            "type": typ,
            "default": default,
            "nullable": not notnull,
            "identity": {"a": "always", "d": "by default"}.get(identity or ""),
        }
    for table, name, definition, contype in conn.execute(
        "SELECT c.relname, k.conname, pg_get_constraintdef(k.oid), k.contype FROM pg_constraint k "
        "JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relname <> %s",
        (HISTORY,),
    ).fetchall():
        out["constraint"][f"{table}.{name}"] = {
            "table": table,
            "name": name,
            "def": definition,
            "type": contype,
        }
    for name, table, definition in conn.execute(
        "SELECT i.relname, t.relname, pg_get_indexdef(i.oid) FROM pg_index x "
        "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
        "JOIN pg_namespace n ON n.oid = i.relnamespace WHERE n.nspname = 'public' AND t.relname <> %s "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.oid AND k.contype IN ('p', 'u', 'x'))",
        (HISTORY,),
    ).fetchall():
        out["index"][name] = {"table": table, "def": definition}
    for name, definition, kind in conn.execute(
        "SELECT c.relname, pg_get_viewdef(c.oid, true), c.relkind FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind IN ('v', 'm')"
    ).fetchall():
        out["view"][name] = {"def": definition.strip(), "materialized": kind == "m"}
    for table, name, definition in conn.execute(
        "SELECT c.relname, t.tgname, pg_get_triggerdef(t.oid) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND NOT t.tgisinternal"
    ).fetchall():
        out["trigger"][f"{table}.{name}"] = {"table": table, "name": name, "def": definition}
    return out


KINDS = ("enum", "sequence", "function", "table", "constraint", "index", "view", "trigger")
