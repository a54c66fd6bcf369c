"""db.dump and db.restore: a backup of every store of a branch, and back.

A dump is a folder::

    manifest.json             what is in it: branch, time, server versions, files, row/key counts
    postgres/auth.dump        pg_dump's custom format (--no-owner --no-privileges), one per database
    postgres/main.dump
    scylla/schema.cql         CREATE statements of the keyspace's tables, indexes and views, the keyspace
                              name replaced by a placeholder so the dump restores into any branch
    scylla/<table>.jsonl      every row, as SELECT JSON gives it (views are rebuilt from their tables)
    keydb/keys.jsonl          every key under the prefix (name without the prefix), its PTTL and DUMP
    s3/index.jsonl, s3/<n>    the bucket's objects (when an object store is configured): key, size, file

Each Postgres dump is a consistent snapshot of its database; the three stores are read one after
the other, so stop writers (inv env.stop) when they must agree with each other to the second.
Restoring replaces the target branch's stores: the databases are recreated with pg_restore, the
keyspace is dropped and recreated from schema.cql and its rows inserted (``INSERT ... JSON``; row
write times and per-row TTLs are not kept, table default TTLs apply), and the prefix's keys are
removed and RESTOREd with their remaining TTL; the bucket is emptied and its objects put back.
"""

# ruff: noqa: S608  (statements name only tables read from the catalog, quoted)
from __future__ import annotations

import base64
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tasks.core.db import keydb, postgres, scylla, seeds
from tasks.core.db.errors import StoreUnavailable
from tasks.core.db.files import fingerprint
from tasks.core.db.target import Target, parallel
from tasks.core.errors import ClikdError, UsageError

FORMAT = 1
PLACEHOLDER = "__CLIKD_KEYSPACE__"


@dataclass
class DumpReport:
    branch: str
    path: str
    manifest: dict[str, Any]
    seconds: float = 0.0


@dataclass
class RestoreReport:
    branch: str
    path: str
    from_branch: str
    stores: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


class DumpError(ClikdError):
    title = "dump failed"


# --------------------------------------------------------------------------------------- postgres


def pg_tool(ep: Any, name: str) -> str:
    """pg_dump / pg_restore of the server's major version when installed, else the one on PATH."""
    with postgres.admin(ep) as conn:
        row = conn.execute("SHOW server_version_num").fetchone()
    major = int(row[0]) // 10000 if row else 0
    exact = Path(f"/usr/lib/postgresql/{major}/bin/{name}")
    if exact.is_file():
        return str(exact)
    found = shutil.which(name)
    if not found:
        raise StoreUnavailable(
            f"{name} is not installed",
            hint=f"install the PostgreSQL {major} client (apt-get install postgresql-client-{major})",
        )
    return found


def _pg_env(ep: Any) -> dict[str, str]:
    env = dict(os.environ)
    env.update(PGPASSWORD=ep.password, PGCONNECT_TIMEOUT="10")
    return env


def _pg_args(ep: Any, dbname: str) -> list[str]:
    return ["--host", ep.host, "--port", str(ep.port), "--username", ep.user, "--dbname", dbname]


def dump_postgres(t: Target, role: str, out: Path) -> dict[str, Any]:
    db = t.database(role)
    target = out / "postgres" / f"{role}.dump"
    target.parent.mkdir(parents=True, exist_ok=True)
    argv = [
        pg_tool(t.postgres, "pg_dump"),
        "--format=custom",
        "--no-owner",
        "--no-privileges",
        "--file",
        str(target),
    ]
    done = subprocess.run(
        argv + _pg_args(t.postgres, db), env=_pg_env(t.postgres), capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise DumpError(
            f"pg_dump of {db} failed: {done.stderr.strip()}", hint="is the branch migrated? (inv db.status)"
        )
    with postgres.connect(t.postgres, db) as conn:
        counts = seeds.table_counts(conn)
    return {"database": db, "file": f"postgres/{role}.dump", "rows": counts}


def restore_postgres(t: Target, role: str, folder: Path) -> str:
    db = t.database(role)
    with postgres.admin(t.postgres) as conn:
        postgres.drop_database(conn, db)
        postgres.create_database(conn, db)
    argv = [
        pg_tool(t.postgres, "pg_restore"),
        "--no-owner",
        "--no-privileges",
        "--exit-on-error",
        "--single-transaction",
    ]
    done = subprocess.run(
        [*argv, *_pg_args(t.postgres, db), str(folder / "postgres" / f"{role}.dump")],
        env=_pg_env(t.postgres),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise DumpError(f"pg_restore into {db} failed: {done.stderr.strip()}")
    return f"{db} recreated with pg_restore"


# --------------------------------------------------------------------------------------- scylla


def _unqualify(cql: str, keyspace: str) -> str:
    return re.sub(rf'(?<![A-Za-z0-9_"])"?{re.escape(keyspace)}"?\.', PLACEHOLDER + ".", cql)


_TTL_SELECTED = re.compile(r', "' + seeds.TTL_KEY + r'\d+": (null|\d+)')


def _select_with_ttl(keyspace: str, table: Any) -> str:
    """SELECT JSON of every column, then the remaining TTL of each column that can carry one.

    The TTL selectors come last, so the server puts them at the end of each row's JSON object,
    where :func:`_fold_ttl` replaces them by one ``__clikd_ttl`` (the row's longest remaining TTL).
    The row's own text is never re-encoded, so decimals and big integers stay exactly as sent.
    """
    keys = {c.name for c in table.primary_key}
    columns = list(table.columns)
    timed = [
        c
        for c in columns
        if c not in keys
        and table.columns[c].cql_type != "counter"
        and ("<" not in table.columns[c].cql_type or table.columns[c].cql_type.startswith("frozen<"))
    ]
    selectors = [f'"{c}"' for c in columns]
    selectors += [f'TTL("{c}") AS "{seeds.TTL_KEY}{i}"' for i, c in enumerate(timed)]
    return f'SELECT JSON {", ".join(selectors)} FROM "{keyspace}"."{table.name}"'


def _fold_ttl(line: str) -> str:
    ttls = [int(v) for v in _TTL_SELECTED.findall(line) if v != "null"]
    line = _TTL_SELECTED.sub("", line)
    return line[:-1] + f', "{seeds.TTL_KEY}": {max(ttls)}}}' if ttls else line


def dump_scylla(t: Target, out: Path) -> dict[str, Any]:
    folder = out / "scylla"
    folder.mkdir(parents=True, exist_ok=True)
    with scylla.session(t.scylla, metadata=True) as sess:
        sess.cluster.refresh_keyspace_metadata(t.keyspace)
        meta = sess.cluster.metadata.keyspaces.get(t.keyspace)
        if meta is None:
            raise DumpError(
                f"keyspace {t.keyspace} does not exist", hint="migrate the branch first (inv db.migrate)"
            )
        statements: list[str] = []
        for name in sorted(meta.tables):
            table = meta.tables[name]
            statements.append(table.as_cql_query(formatted=True))
            statements += [ix.as_cql_query() for _, ix in sorted(table.indexes.items())]
        statements += [v.as_cql_query(formatted=True) for _, v in sorted(meta.views.items())]
        (folder / "schema.cql").write_text(
            "".join(_unqualify(s, t.keyspace).rstrip().rstrip(";") + ";\n\n" for s in statements),
            encoding="utf-8",
        )
        rows: dict[str, int] = {}
        for name in sorted(meta.tables):
            n = 0
            with (folder / f"{name}.jsonl").open("w", encoding="utf-8") as fh:
                for row in sess.execute(_select_with_ttl(t.keyspace, meta.tables[name])):
                    fh.write(_fold_ttl(row[0]) + "\n")
                    n += 1
            rows[name] = n
        version = sess.execute("SELECT release_version FROM system.local").one()[0]
    return {"keyspace": t.keyspace, "schema": "scylla/schema.cql", "rows": rows, "server": version}


def restore_scylla(t: Target, folder: Path, manifest: dict[str, Any]) -> str:
    schema = (
        (folder / "scylla" / "schema.cql").read_text(encoding="utf-8").replace(PLACEHOLDER, f'"{t.keyspace}"')
    )
    from tasks.core.db import sqlsplit

    with scylla.session(t.scylla) as sess:
        scylla.drop_keyspace(sess, t.keyspace)
        scylla.create_keyspace(sess, t.keyspace)
        for stmt in sqlsplit.split(schema, cql=True):
            sess.execute(stmt.text)
        sess.cluster.control_connection.wait_for_schema_agreement()
        files = [
            (f"scylla/{name}.jsonl", (folder / "scylla" / f"{name}.jsonl").read_text(encoding="utf-8"))
            for name in manifest["rows"]
        ]
        seeds.load_scylla(sess, t.keyspace, files)
    return f"{t.keyspace} recreated, {sum(manifest['rows'].values())} rows"


# --------------------------------------------------------------------------------------- keydb


def dump_keydb(t: Target, out: Path) -> dict[str, Any]:
    conn = keydb.client(t.keydb)
    keys = sorted(conn.scan_iter(match=t.pattern, count=1000))
    pipe = conn.pipeline(transaction=False)
    for k in keys:
        pipe.dump(k)
        pipe.pttl(k)
    answers = pipe.execute() if keys else []
    (out / "keydb").mkdir(parents=True, exist_ok=True)
    n = 0
    with (out / "keydb" / "keys.jsonl").open("w", encoding="utf-8") as fh:
        for i, k in enumerate(keys):
            payload, pttl = answers[2 * i], answers[2 * i + 1]
            if payload is None:  # expired between SCAN and DUMP
                continue
            suffix = k[len(t.prefix.encode()) :]
            fh.write(
                json.dumps(
                    {
                        "key": base64.b64encode(suffix).decode(),
                        "pttl": pttl if pttl and pttl > 0 else 0,
                        "dump": base64.b64encode(payload).decode(),
                    }
                )
                + "\n"
            )
            n += 1
    info = conn.info("server")
    return {"prefix": t.prefix, "file": "keydb/keys.jsonl", "keys": n, "server": info.get("redis_version")}


def restore_keydb(t: Target, folder: Path) -> str:
    conn = keydb.client(t.keydb)
    removed = keydb.delete_prefix(conn, t.pattern)
    pipe = conn.pipeline(transaction=False)
    n = 0
    for line in (folder / "keydb" / "keys.jsonl").read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        doc = json.loads(line)
        key = t.prefix.encode() + base64.b64decode(doc["key"])
        pipe.restore(key, int(doc["pttl"]), base64.b64decode(doc["dump"]), replace=True)
        n += 1
    pipe.execute()
    return f"{removed} key(s) removed, {n} restored"


# -------------------------------------------------------------------------------------------- s3


def dump_s3(t: Target, out: Path) -> dict[str, Any]:
    from tasks.core.stores.s3 import transfer

    return transfer.dump(t.object_store(), t.bucket, out)


def restore_s3(t: Target, folder: Path) -> str:
    from tasks.core.stores.s3 import transfer

    return transfer.restore(t.object_store(), t.bucket, folder)


def empty_s3(t: Target) -> str:
    from tasks.core.stores.s3 import buckets

    ep = t.object_store()
    buckets.ensure(ep, t.bucket)
    return f"{buckets.empty(ep, t.bucket)} object(s) removed, none in the dump"


# --------------------------------------------------------------------------------------- whole


def dump(t: Target, out: Path) -> DumpReport:
    """Dump every store (the object store too, when configured) into ``out``, which appears only once whole.

    The files are written into a hidden sibling folder and renamed into place after the manifest,
    so a dump cut short (an error, a dropped tunnel, Ctrl+C) never leaves a folder that looks complete.
    """
    started = time.perf_counter()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(f"{out} is not empty", hint="pick a new folder with --output")
    out.parent.mkdir(parents=True, exist_ok=True)
    work = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    try:
        jobs: dict[str, Callable[[], dict[str, Any]]] = {
            "auth": lambda: dump_postgres(t, "auth", work),
            "main": lambda: dump_postgres(t, "main", work),
            "scylla": lambda: dump_scylla(t, work),
            "keydb": lambda: dump_keydb(t, work),
        }
        if t.s3:
            jobs["s3"] = lambda: dump_s3(t, work)
        parts = parallel(jobs)
        files = sorted(p for p in work.rglob("*") if p.is_file())
        manifest = {
            "format": FORMAT,
            "tool": "clikd db.dump",
            "branch": t.branch,
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "stores": parts,
            "checksum": fingerprint(
                [(str(p.relative_to(work)), base64.b64encode(p.read_bytes()).decode()) for p in files]
            ),
        }
        (work / "manifest.json").write_text(
            json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
        if out.exists():
            out.rmdir()  # empty, checked above
        work.rename(out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return DumpReport(t.branch, str(out), manifest, time.perf_counter() - started)


def read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / "manifest.json"
    if not path.is_file():
        raise UsageError(
            f"{folder} holds no manifest.json", hint="point db.restore at a folder db.dump wrote"
        )
    manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    if manifest.get("format") != FORMAT:
        raise UsageError(f"{path} has format {manifest.get('format')!r}; this clikd reads format {FORMAT}")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "manifest.json")
    actual = fingerprint(
        [(str(p.relative_to(folder)), base64.b64encode(p.read_bytes()).decode()) for p in files]
    )
    if actual != manifest.get("checksum"):
        raise UsageError(f"the files in {folder} do not match its manifest (changed or incomplete)")
    return manifest


def restore(t: Target, folder: Path) -> RestoreReport:
    started = time.perf_counter()
    manifest = read_manifest(folder)
    stores = manifest["stores"]
    jobs: dict[str, Callable[[], str]] = {
        "auth": lambda: restore_postgres(t, "auth", folder),
        "main": lambda: restore_postgres(t, "main", folder),
        "scylla": lambda: restore_scylla(t, folder, stores["scylla"]),
        "keydb": lambda: restore_keydb(t, folder),
    }
    if "s3" in stores and t.s3 is None:
        raise UsageError(
            f"{folder} holds objects of an object store, and this project configures none",
            hint='add [databases.<name>] with kind = "s3" to clikd.toml, or restore where one is configured',
        )
    if t.s3:
        # A dump from before the object store existed restores it empty.
        jobs["s3"] = lambda: restore_s3(t, folder) if "s3" in stores else empty_s3(t)
    done = parallel(jobs)
    return RestoreReport(t.branch, str(folder), manifest["branch"], done, time.perf_counter() - started)
