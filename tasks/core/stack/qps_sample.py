"""env.status: the last counter samples of each branch, kept between runs.

The queries-per-second figure of a one-shot ``env.status`` compares the counters read at the start of
the snapshot with a sample earlier runs left here, when that sample is of the same servers and
between ``QPS_SAMPLE_S`` and ``MAX_AGE_S`` old: no wait at all. ``readings`` holds the last run's,
``older`` those of a few runs before it, so a run less than ``QPS_SAMPLE_S`` after the previous one
still finds one old enough instead of waiting. Without any, the snapshot samples twice itself.
The file holds, per database, the counter, the wall-clock time it was read
(a monotonic clock means nothing to another process) and the server's identity (Postgres start time,
database oid and stats reset; KeyDB run_id; CQL host id and gossip generation), so a restarted or
different server is never compared across. It lives in the per-user cache, named after the branch's
identity; losing it only costs the next run its wait.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tasks.core.stack.readings import MAX_AGE_S, Reading

if TYPE_CHECKING:
    from tasks.core.branch import BranchIdentity

FORMAT = 1
KEEP_RUNS = 6  # earlier runs' samples kept beside the last one


def path(ident: BranchIdentity) -> Path:
    """Where the branch's last sample is kept: ``$XDG_CACHE_HOME/clikd/status/<project>-<slug>.json``."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "clikd" / "status" / f"{ident.project}-{ident.slug}.json"


def _reading(raw: Any) -> Reading:
    return Reading(
        database=str(raw["database"]),
        kind=str(raw["kind"]),
        counter=str(raw["counter"]),
        scope=str(raw["scope"]),
        value=int(raw["value"]),
        at=0.0,  # another process's monotonic clock: never compared
        own=int(raw["own"]),
        wall=float(raw["wall"]),
        server=str(raw["server"]),
    )


def _raw(ident: BranchIdentity) -> dict[str, Any]:
    try:
        data: Any = json.loads(path(ident).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("branch") != ident.branch:
        return {}
    return data


def load(ident: BranchIdentity) -> list[dict[str, Reading]]:
    """The samples earlier runs kept for this branch, newest first (empty when none or unreadable)."""
    data = _raw(ident)
    runs: list[dict[str, Reading]] = []
    for kept in [data.get("readings") or {}, *(data.get("older") or [])]:
        try:
            runs.append({str(name): _reading(raw) for name, raw in dict(kept).items()})
        except (ValueError, TypeError, KeyError, AttributeError):
            continue  # one unreadable run costs only itself
    return [run for run in runs if run]


def _keepable(readings: dict[str, Reading]) -> dict[str, dict[str, Any]]:
    return {
        name: {k: v for k, v in asdict(r).items() if k not in ("at", "error")}
        for name, r in readings.items()
        if r.value is not None and r.server and r.wall > 0
    }


def _young(run: dict[str, Any], newest: float) -> bool:
    return all(isinstance(r, dict) and newest - float(r.get("wall", 0)) <= MAX_AGE_S for r in run.values())


def save(ident: BranchIdentity, readings: dict[str, Reading]) -> None:
    """Keep the readings that can be compared later (a value and a known server); best effort.

    The previous run's become the first of ``older``; runs past ``KEEP_RUNS`` or ``MAX_AGE_S`` go.
    """
    kept = _keepable(readings)
    data = _raw(ident)
    newest = max((r["wall"] for r in kept.values()), default=0.0)
    older = [run for run in [data.get("readings") or {}, *(data.get("older") or [])] if isinstance(run, dict)]
    older = [run for run in older if run and _young(run, newest)][:KEEP_RUNS]
    target = path(ident)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        body = json.dumps(
            {"format": FORMAT, "branch": ident.branch, "readings": kept, "older": older}, indent=1
        )
        fd, tmp = tempfile.mkstemp(prefix=".sample-", dir=target.parent)
        with os.fdopen(fd, "w") as fh:
            fh.write(body)
        Path(tmp).replace(target)  # a concurrent run reads the old or the new file, never half of one
    except OSError:
        pass  # only the next run's shortcut is lost
