"""env.logs: the branch's container logs, multiplexed, levelled, filtered and ordered by timestamp.

Docker gives each line with an RFC 3339 timestamp (``timestamps=True``); clikd parses a level from
JSON logs (``level``, ``lvl``, ``severity``, ``levelname``), logfmt (``level=warn``), bracketed and
bare tokens (``[error]``, ``WARN``), Postgres (``ERROR:``) and Redis (``#``/``*``) formats; a line
without one counts as INFO. Following uses one thread per container feeding a queue, and a short
re-ordering window so lines from different services come out in timestamp order.
"""

from __future__ import annotations

import datetime as dt
import heapq
import json
import queue
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from tasks.core.errors import UsageError
from tasks.core.stack.engine import branch_containers, connect, container_name
from tasks.core.stack.model import LABEL_SERVICE

if TYPE_CHECKING:
    import docker

    from tasks.core.session import Session

LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
RANK = {name: i for i, name in enumerate(LEVELS)}
ALIASES = {
    "TRACE": "TRACE",
    "DEBUG": "DEBUG",
    "DEBUG1": "DEBUG",
    "DEBUG2": "DEBUG",
    "DEBUG3": "DEBUG",
    "DEBUG4": "DEBUG",
    "DEBUG5": "DEBUG",
    "VERBOSE": "DEBUG",
    "INFO": "INFO",
    "INFORMATION": "INFO",
    "NOTICE": "INFO",
    "LOG": "INFO",
    "STATEMENT": "INFO",
    "DETAIL": "INFO",
    "HINT": "INFO",
    "WARN": "WARN",
    "WARNING": "WARN",
    "ERR": "ERROR",
    "ERROR": "ERROR",
    "FATAL": "FATAL",
    "CRITICAL": "FATAL",
    "CRIT": "FATAL",
    "PANIC": "FATAL",
    "EMERG": "FATAL",
    "ALERT": "FATAL",
}
JSON_KEYS = ("level", "lvl", "severity", "levelname", "log.level", "loglevel")
_TOKEN = re.compile(
    r"(?:^|[\s\[(|])(TRACE|DEBUG[1-5]?|INFO|NOTICE|WARN(?:ING)?|ERR(?:OR)?|FATAL|CRIT(?:ICAL)?|PANIC|LOG)"
    r"(?=[\s\]):|]|$)"
)
_LOGFMT = re.compile(r"\b(?:level|lvl|severity)=\"?([A-Za-z]+)")
_BRACKET = re.compile(r"\[(trace|debug|info|notice|warn|warning|error|fatal|critical)\]", re.IGNORECASE)
_REDIS = re.compile(r"^\d+:[MCSX] \d{2} \w{3} \d{4} [\d:.]+ ([.\-*#]) ")
_REDIS_LEVEL = {".": "DEBUG", "-": "DEBUG", "*": "INFO", "#": "WARN"}
HEAD = 80  # a level token is looked for in the first characters of a text line


@dataclass(frozen=True, order=True)
class LogLine:
    ts: str  # RFC 3339 with nanoseconds, as Docker gives it (sorts as text)
    service: str
    level: str
    text: str

    def to_dict(self) -> dict[str, str]:
        return {"ts": self.ts, "service": self.service, "level": self.level, "message": self.text}


def normalize(raw: Any) -> str | None:
    if isinstance(raw, int):  # pino/bunyan numbers
        return (
            "TRACE"
            if raw <= 10
            else "DEBUG"
            if raw <= 20
            else "INFO"
            if raw <= 30
            else ("WARN" if raw <= 40 else "ERROR" if raw <= 50 else "FATAL")
        )
    if not isinstance(raw, str):
        return None
    return ALIASES.get(raw.strip().upper())


def parse_level(text: str) -> str:
    """The level of one log line; INFO when it states none."""
    stripped = text.lstrip()
    if stripped.startswith("{"):
        try:
            doc = json.loads(stripped)
        except ValueError:
            doc = None
        if isinstance(doc, dict):
            for key in JSON_KEYS:
                found = normalize(doc.get(key))
                if found:
                    return found
            log = doc.get("log")
            if isinstance(log, dict) and normalize(log.get("level")):
                return normalize(log.get("level")) or "INFO"
            return "INFO"
    head = stripped[:HEAD]
    match = _LOGFMT.search(head) or _BRACKET.search(head)
    if match and normalize(match.group(1)):
        return normalize(match.group(1)) or "INFO"
    redis = _REDIS.match(head)
    if redis:
        return _REDIS_LEVEL[redis.group(1)]
    token = _TOKEN.search(head)
    if token:
        return ALIASES.get(token.group(1), "INFO")
    return "INFO"


def parse_min_level(raw: str) -> str | None:
    if not raw:
        return None
    level = normalize(raw)
    if level is None:
        raise UsageError(f"--level {raw!r} is not a level", hint=f"use one of {', '.join(LEVELS).lower()}")
    return level


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h|d)$")


def parse_since(raw: str, now: dt.datetime | None = None) -> float | None:
    """``--since``: a duration (``90s``, ``10m``, ``2h``, ``1d``) or a timestamp; as UNIX seconds."""
    if not raw:
        return None
    now = now or dt.datetime.now(dt.UTC)
    match = _DURATION.match(raw.strip())
    if match:
        seconds = float(match.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]
        return (now - dt.timedelta(seconds=seconds)).timestamp()
    try:
        when = dt.datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"--since {raw!r} is neither a duration nor a timestamp",
            hint="use e.g. 30s, 10m, 2h, 1d or 2026-11-25T10:00:00",
        ) from None
    if when.tzinfo is None:
        when = when.astimezone()
    return when.timestamp()


@dataclass(frozen=True)
class Filters:
    services: frozenset[str]  # empty: all
    level: str | None
    grep: re.Pattern[str] | None

    def keep(self, line: LogLine) -> bool:
        if self.level is not None and RANK.get(line.level, 2) < RANK[self.level]:
            return False
        return self.grep is None or self.grep.search(line.text) is not None


def make_filters(service: str, level: str, grep: str) -> Filters:
    try:
        pattern = re.compile(grep) if grep else None
    except re.error as exc:
        raise UsageError(f"--grep {grep!r} is not a valid regular expression: {exc}") from None
    services = frozenset(s.strip() for s in service.split(",") if s.strip())
    return Filters(services, parse_min_level(level), pattern)


def split_line(raw: str, service: str) -> LogLine:
    ts, _, text = raw.partition(" ")
    if not ts[:4].isdigit():  # no timestamp prefix (should not happen with timestamps=True)
        ts, text = "", raw
    return LogLine(ts, service, parse_level(text), text)


def targets(
    client: docker.DockerClient, project: str, branch: str, filters: Filters
) -> list[tuple[str, str]]:
    """(service, container name) of the branch, restricted to ``--service``; unknown names are an error."""
    found = {
        (s.get("Labels") or {}).get(LABEL_SERVICE, container_name(s)): container_name(s)
        for s in branch_containers(client, project, branch)
    }
    unknown = sorted(filters.services - set(found))
    if unknown:
        raise UsageError(
            f"branch {branch!r} has no container for {', '.join(unknown)}",
            hint=f"its containers: {', '.join(sorted(found)) or 'none (inv env.start)'}",
        )
    chosen = filters.services or set(found)
    return sorted((svc, name) for svc, name in found.items() if svc in chosen)


def _lines_of(chunks: Iterable[bytes]) -> Iterable[str]:
    pending = b""
    for chunk in chunks:
        pending += chunk
        *whole, pending = pending.split(b"\n")
        for line in whole:
            yield line.decode(errors="replace").rstrip("\r")
    if pending:
        yield pending.decode(errors="replace").rstrip("\r")


def collect(session: Session, *, filters: Filters, since: float | None, tail: int | None) -> list[LogLine]:
    """Every matching line (the last ``tail`` per service), ordered by timestamp."""
    from tasks.core.stack import workers

    client = connect()
    chosen = targets(client, session.config.settings.project.name, session.ident.branch, filters)
    filtering = filters.level is not None or filters.grep is not None

    def fetch(service: str, name: str) -> list[LogLine]:
        raw = client.api.logs(
            name,
            stdout=True,
            stderr=True,
            timestamps=True,
            since=since,
            tail="all" if (tail is None or filtering) else tail,
        )
        lines = [split_line(text, service) for text in _lines_of([raw]) if text]
        kept = [ln for ln in lines if filters.keep(ln)]
        return kept[-tail:] if tail is not None and tail >= 0 else kept

    got = workers.run_all({svc: partial(fetch, svc, name) for svc, name in chosen}, limit=8)
    return list(heapq.merge(*[sorted(v) for v in got.values() if v]))


REORDER_S = 0.2


class _Follower:
    """One thread per container feeding a queue; the caller's thread re-orders and hands out batches."""

    def __init__(self, client: docker.DockerClient, filters: Filters, stop: threading.Event) -> None:
        self.client = client
        self.filters = filters
        self.stop = stop
        self.inbox: queue.SimpleQueue[LogLine] = queue.SimpleQueue()

    def pump(self, service: str, name: str, since: float | None, tail: int | None) -> None:
        last_ts = ""
        while not self.stop.is_set():
            try:
                stream = self.client.api.logs(
                    name,
                    stdout=True,
                    stderr=True,
                    timestamps=True,
                    stream=True,
                    follow=True,
                    since=since,
                    tail="all" if tail is None else tail,
                )
                last_ts = self._read(stream, service, last_ts)
            except Exception as exc:  # gone, or the engine hung up: wait for it below
                _ = exc
            if self.stop.is_set():
                return
            # The container stopped or went away: wait for it (or its recreation) to run again.
            tail = 0 if last_ts else tail
            since = _ts_seconds(last_ts) if last_ts else since
            while not self.stop.wait(1.0) and not self._running(name):
                pass

    def _read(self, stream: Iterable[bytes], service: str, last_ts: str) -> str:
        for text in _lines_of(stream):
            if self.stop.is_set():
                break
            if not text:
                continue
            line = split_line(text, service)
            if line.ts and line.ts <= last_ts:
                continue  # seen before a re-attach
            last_ts = line.ts or last_ts
            if self.filters.keep(line):
                self.inbox.put(line)
        return last_ts

    def _running(self, name: str) -> bool:
        try:
            return bool(self.client.api.inspect_container(name)["State"].get("Running"))
        except Exception:  # not there (yet): keep waiting
            return False

    def deliver(self, on_lines: Callable[[list[LogLine]], None]) -> None:
        pending: list[LogLine] = []
        arrived: dict[LogLine, float] = {}
        try:
            while not self.stop.is_set():
                now = time.monotonic()
                for line in self._drain():
                    heapq.heappush(pending, line)
                    arrived[line] = now
                ready: list[LogLine] = []
                while pending and now - arrived.get(pending[0], now) >= REORDER_S:
                    line = heapq.heappop(pending)
                    arrived.pop(line, None)
                    ready.append(line)
                if ready:
                    on_lines(ready)
        finally:
            self.stop.set()
            if pending:
                on_lines(sorted(pending))

    def _drain(self) -> list[LogLine]:
        try:
            batch = [self.inbox.get(timeout=0.1)]
        except queue.Empty:
            return []
        while True:
            try:
                batch.append(self.inbox.get_nowait())
            except queue.Empty:
                return batch


def follow(
    session: Session,
    *,
    filters: Filters,
    since: float | None,
    tail: int | None,
    on_lines: Callable[[list[LogLine]], None],
    stop: threading.Event | None = None,
) -> None:
    """Stream matching lines until ``stop`` is set (or Ctrl+C); batches go to ``on_lines`` in order.

    A container that stops and comes back (restart, recreate by env.start) is picked up again.
    """
    from tasks.core.stack import workers

    client = connect()
    project, branch = session.config.settings.project.name, session.ident.branch
    follower = _Follower(client, filters, stop or threading.Event())
    for service, name in targets(client, project, branch, filters):
        workers.start(f"logs-{service}", partial(follower.pump, service, name, since, tail))
    follower.deliver(on_lines)


def _ts_seconds(ts: str) -> float:
    head, _, frac = ts.rstrip("Z").partition(".")
    try:
        base = dt.datetime.fromisoformat(head).replace(tzinfo=dt.UTC).timestamp()
    except ValueError:
        return time.time()
    return base + float(f"0.{frac[:6] or '0'}")
