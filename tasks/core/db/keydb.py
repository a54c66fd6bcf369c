"""The KeyDB side: the branch's key prefix, migrations of Redis commands, deletion by prefix.

KeyDB has no schema; its migrations set up what the services expect under the branch's prefix
(namespace markers, configuration hashes, stream groups). A migration file holds one command per
line, shell-quoted, with ``{prefix}`` standing for the branch's prefix; every command must name a key
under it. A migration and its history entry (field ``version`` of the hash ``{prefix}_clikd:migrations``)
run in one MULTI/EXEC, so both land or neither does; a command rejected when queued aborts the
whole file. Concurrent runs are serialised with a ``SET NX PX`` lock key.
Keys are deleted with SCAN MATCH (the prefix glob-escaped) and UNLINK in batches, never FLUSHDB:
branches share the database.
"""

from __future__ import annotations

import datetime as dt
import json
import shlex
import time
import uuid
from collections.abc import Callable
from typing import Any

from tasks.core.db.errors import LockTimeout, MigrationFailed, StoreUnavailable
from tasks.core.db.files import Migration
from tasks.core.db.models import Applied, MigrationState, Progress, StoreMigration, StoreStatus, plan
from tasks.core.stores import Endpoint

META = "_clikd:"  # bookkeeping keys under the prefix; not data
LOCK_TIMEOUT = 120.0
BATCH = 1000


def history_key(prefix: str) -> str:
    return f"{prefix}{META}migrations"


def lock_key(prefix: str) -> str:
    return f"{prefix}{META}lock"


def client(ep: Endpoint) -> Any:
    import inspect

    import redis

    # KeyDB (Redis 6) does not know CLIENT SETINFO, which redis-py >= 5 sends on connect: switch it off.
    quiet: dict[str, Any] = (
        {"driver_info": None}
        if "driver_info" in inspect.signature(redis.Redis.__init__).parameters
        else {"lib_name": None, "lib_version": None}
    )
    conn = redis.Redis(
        host=ep.host,
        port=ep.port,
        password=ep.password or None,
        username=ep.user or None,
        socket_connect_timeout=5,
        socket_timeout=60,
        **quiet,
    )
    try:
        conn.ping()
    except redis.exceptions.ConnectionError as exc:
        raise StoreUnavailable(
            f"KeyDB at {ep.host}:{ep.port} does not answer ({exc})",
            hint="start the branch's databases (inv env.start) or check [databases.keydb] in clikd.toml",
        ) from None
    return conn


def commands(m: Migration, prefix: str) -> list[tuple[int, list[str]]]:
    """(line, argv) of each command in ``m``, with ``{prefix}`` replaced; refuses commands off-prefix."""
    out: list[tuple[int, list[str]]] = []
    for number, line in enumerate(m.text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            argv = shlex.split(line)
        except ValueError as exc:
            raise MigrationFailed(
                f"{m.path} line {number}: {exc}", hint="fix the quoting of that line"
            ) from None
        if not any(a.startswith("{prefix}") for a in argv[1:]):
            raise MigrationFailed(
                f"{m.path} line {number}: {argv[0]} names no key under {{prefix}}",
                hint="every KeyDB migration command must act on a key starting with {prefix}",
            )
        out.append((number, [a.replace("{prefix}", prefix) for a in argv]))
    return out


def read_history(conn: Any, prefix: str) -> dict[int, Applied]:
    out: dict[int, Applied] = {}
    for field, raw in conn.hgetall(history_key(prefix)).items():
        row = json.loads(raw)
        version = int(field)
        out[version] = Applied(
            version,
            row["description"],
            bytes.fromhex(row["checksum"]),
            dt.datetime.fromisoformat(row["applied_at"]),
            row.get("execution_ms"),
        )
    return out


def status(ep: Endpoint, prefix: str, migrations: list[Migration]) -> StoreStatus:
    conn = client(ep)
    history = read_history(conn, prefix)
    return StoreStatus("keydb", prefix, bool(history), plan("keydb", migrations, history))


def apply(conn: Any, prefix: str, m: Migration) -> float:
    import redis

    argvs = commands(m, prefix)
    started = time.perf_counter()
    pipe = conn.pipeline(transaction=True)
    for _, argv in argvs:
        pipe.execute_command(*argv)
    entry = {
        "description": m.description,
        "checksum": m.checksum.hex(),
        "applied_at": dt.datetime.now(dt.UTC).isoformat(),
        "execution_ms": None,  # the commands run at EXEC, together with this entry
    }
    pipe.hset(history_key(prefix), str(m.version), json.dumps(entry))
    try:
        results = pipe.execute(raise_on_error=False)
    except redis.exceptions.ResponseError as exc:  # EXECABORT: a command was rejected when queued
        raise MigrationFailed(
            f"{m.path}: {exc}",
            hint="nothing of this file was applied; fix the command and run db.migrate again",
            details=[f"line {n}: {' '.join(a)}" for n, a in argvs],
        ) from None
    for (number, argv), res in zip(argvs, results, strict=False):
        if isinstance(res, Exception):
            conn.hdel(history_key(prefix), str(m.version))
            raise MigrationFailed(
                f"{m.path} line {number}: {res}",
                hint="the file's other commands ran (Redis has no rollback); fix it and run db.migrate again",
                details=[f"statement (line {number}): {shlex.join(argv)}"],
            )
    return (time.perf_counter() - started) * 1000


def migrate(
    ep: Endpoint,
    prefix: str,
    migrations: list[Migration],
    *,
    progress: Progress,
    on_wait: Callable[[str], None],
    conn: Any = None,
) -> StoreMigration:
    started = time.perf_counter()
    conn = conn or client(ep)
    result = StoreMigration("keydb", prefix)
    owner = uuid.uuid4().hex
    deadline = time.monotonic() + LOCK_TIMEOUT
    told = False
    while not conn.set(lock_key(prefix), owner, nx=True, px=int(LOCK_TIMEOUT * 1000)):
        if not told:
            on_wait(f"waiting for the migration lock of {prefix}* (held by {conn.get(lock_key(prefix))!r})")
            told = True
        if time.monotonic() > deadline:
            raise LockTimeout(
                f"the migration lock of {prefix}* is held by another run", hint="try again later"
            )
        time.sleep(0.05)
    try:
        history = read_history(conn, prefix)
        result.created = not history
        states = plan("keydb", migrations, history)
        by_version = {m.version: m for m in migrations}
        todo = [s for s in states if s.state == "pending"]
        result.drift = [s for s in states if s.state in ("drift", "missing")]
        progress("keydb", 0, len(todo), prefix)
        for i, s in enumerate(todo):
            m = by_version[s.version]
            if s.out_of_order:
                result.warnings.append(
                    f"{m.path} is older than the newest applied migration; applying it anyway"
                )
            ms = apply(conn, prefix, m)
            result.applied.append(
                MigrationState(
                    m.version, m.description, m.path, "applied", dt.datetime.now(dt.UTC), ms, s.out_of_order
                )
            )
            progress("keydb", i + 1, len(todo), m.name)
    finally:
        # release only our own lock
        conn.eval(
            "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0",
            1,
            lock_key(prefix),
            owner,
        )
    result.seconds = time.perf_counter() - started
    return result


def delete_prefix(conn: Any, pattern: str) -> int:
    """UNLINK every key matching ``pattern`` (an escaped prefix glob) in batches; returns the count.

    SCAN may return a key twice and miss keys written during the scan, so passes repeat until one
    finds nothing.
    """
    total = 0
    while True:
        found = 0
        batch: list[bytes] = []
        for key in conn.scan_iter(match=pattern, count=BATCH):
            batch.append(key)
            if len(batch) >= BATCH:
                found += conn.unlink(*batch)
                batch = []
        if batch:
            found += conn.unlink(*batch)
        total += found
        if found == 0:
            return total
