"""db.keys: the branch's KeyDB keys matching a pattern, with type, TTL and (asked for) value.

The pattern is matched under the branch's prefix, which is escaped and always prepended: it can
never reach another branch's keys. clikd's bookkeeping keys are left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tasks.core.branch import glob_escape
from tasks.core.db import keydb
from tasks.core.db.target import Target

PREVIEW = 200  # characters of a value shown


@dataclass
class KeyInfo:
    key: str  # without the branch's prefix
    type: str
    ttl_s: int | None  # None: no expiry
    value: Any = None  # with --values: a string, a list, a mapping (shortened)


@dataclass
class KeysReport:
    branch: str
    prefix: str
    pattern: str
    keys: list[KeyInfo] = field(default_factory=list)
    more: bool = False  # stopped at the limit


def _text(raw: Any) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return text if len(text) <= PREVIEW else text[:PREVIEW] + "…"


def _value(conn: Any, key: bytes, kind: str) -> Any:
    if kind == "string":
        return _text(conn.get(key))
    if kind == "hash":
        return {_text(k): _text(v) for k, v in list(conn.hgetall(key).items())[:50]}
    if kind == "list":
        return [_text(v) for v in conn.lrange(key, 0, 49)]
    if kind == "set":
        return sorted(_text(v) for v in conn.srandmember(key, 50))
    if kind == "zset":
        return [[_text(m), s] for m, s in conn.zrange(key, 0, 49, withscores=True)]
    if kind == "stream":
        return f"{conn.xlen(key):,} entries"
    return None


def keys(t: Target, pattern: str, *, values: bool, limit: int) -> KeysReport:
    report = KeysReport(t.branch, t.prefix, pattern)
    conn = keydb.client(t.keydb)
    meta = (t.prefix + keydb.META).encode()
    found: list[bytes] = []
    try:
        for raw in conn.scan_iter(match=glob_escape(t.prefix) + (pattern or "*"), count=1000):
            if raw.startswith(meta):
                continue
            if len(found) == limit:
                report.more = True
                break
            found.append(raw)
        found.sort()
        pipe = conn.pipeline(transaction=False)
        for raw in found:
            pipe.type(raw)
            pipe.ttl(raw)
        answers = pipe.execute() if found else []
        for i, raw in enumerate(found):
            kind = answers[2 * i].decode() if isinstance(answers[2 * i], bytes) else str(answers[2 * i])
            ttl = int(answers[2 * i + 1])
            if kind == "none":
                continue  # expired between SCAN and TYPE
            info = KeyInfo(raw.decode("utf-8", "replace")[len(t.prefix) :], kind, ttl if ttl >= 0 else None)
            if values:
                info.value = _value(conn, raw, kind)
            report.keys.append(info)
    finally:
        conn.close()
    return report
