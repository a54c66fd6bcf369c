"""db.inspect for a branch's KeyDB keys: per namespace key counts and memory, the server's uptime.

A namespace is the first segment after the branch's prefix (``auth`` of ``<prefix>auth:42``); a key
with no further colon counts under ``(none)``. clikd's bookkeeping keys (``<prefix>_clikd:*``) are
left out. Only keys under the branch's prefix are read, never another branch's.
"""

from __future__ import annotations

from tasks.core.db.files import Migration
from tasks.core.db.keydb import META, history_key
from tasks.core.insight.model import NamespaceInsight, StoreInsight
from tasks.core.insight.resp import Client, RespError
from tasks.core.stores import Endpoint

# MEMORY USAGE is asked of this many keys at most; past it a namespace's memory is its measured
# keys' average times its count (said as an estimate).
SCAN_LIMIT = 20_000
BATCH = 1000
NO_NAMESPACE = "(none)"
Counts = dict[str, int]


def inspect(ep: Endpoint, prefix: str, pattern: str, migrations: list[Migration]) -> StoreInsight:
    out = StoreInsight("keydb", "keydb", prefix, exists=False, total=len(migrations))
    try:
        conn = Client(ep.host, ep.port, user=ep.user, password=ep.password)
    except (OSError, RespError) as error:
        out.error = f"KeyDB at {ep.host}:{ep.port} does not answer: {error}"
        return out
    try:
        versions = {m.version for m in migrations}
        done = [int(v) for v in conn.call("HKEYS", history_key(prefix)) or [] if int(v) in versions]
        out.applied, out.version = len(done), max(done, default=None)
        out.uptime_s = int(conn.info("server").get("uptime_in_seconds", "0")) or None
        counts, memory, measured = _namespaces(conn, prefix, pattern)
    except (OSError, RespError) as error:
        out.error = f"KeyDB at {ep.host}:{ep.port} failed: {error}"
        return out
    finally:
        conn.close()
    out.exists = bool(counts) or out.applied > 0
    for name in sorted(counts):
        keys, used, seen = counts[name], memory.get(name, 0), measured.get(name, 0)
        exact = seen == keys
        estimate = used if exact else (round(used / seen * keys) if seen else None)
        out.namespaces.append(NamespaceInsight(name, keys, estimate, exact))
    out.keys = sum(counts.values())
    out.bytes = sum(n.bytes for n in out.namespaces if n.bytes is not None)
    return out


def _namespaces(conn: Client, prefix: str, pattern: str) -> tuple[Counts, Counts, Counts]:
    """Key counts, memory of the measured keys and how many were measured, per namespace."""
    counts: Counts = {}
    memory: Counts = {}
    measured: Counts = {}
    pending: list[tuple[str, bytes]] = []
    asked = 0

    def measure() -> None:
        answers = conn.many([("MEMORY", "USAGE", key, "SAMPLES", 0) for _, key in pending])
        for (name, _), used in zip(pending, answers, strict=True):
            if isinstance(used, int):  # None: gone between SCAN and MEMORY USAGE
                memory[name] = memory.get(name, 0) + used
                measured[name] = measured.get(name, 0) + 1
        pending.clear()

    meta = (prefix + META).encode()
    for raw in conn.scan_iter(match=pattern, count=BATCH):
        if raw.startswith(meta):
            continue
        rest = raw[len(prefix.encode()) :].decode(errors="replace")
        name = rest.split(":", 1)[0] if ":" in rest else NO_NAMESPACE
        counts[name] = counts.get(name, 0) + 1
        if asked < SCAN_LIMIT:
            pending.append((name, raw))
            asked += 1
            if len(pending) >= BATCH:
                measure()
    if pending:
        measure()
    return counts, memory, measured
