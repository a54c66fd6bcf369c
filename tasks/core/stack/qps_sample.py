"""env.status: the last counter sample of each branch, kept between runs.

The queries-per-second figure of a one-shot ``env.status`` compares the counters read at the start of
the snapshot with the sample the previous run left here, when that sample is of the same servers and
between ``status_db.QPS_SAMPLE_S`` and ``MAX_AGE_S`` old: no wait at all. Otherwise the snapshot
samples twice itself. The file holds, per database, the counter, the wall-clock time it was read
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

if TYPE_CHECKING:
    from tasks.core.branch import BranchIdentity
    from tasks.core.stack.status_db import Reading

FORMAT = 1
MAX_AGE_S = 300.0  # an older sample says little about now: sample afresh instead


def path(ident: BranchIdentity) -> Path:
    """Where the branch's last sample is kept: ``$XDG_CACHE_HOME/clikd/status/<project>-<slug>.json``."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "clikd" / "status" / f"{ident.project}-{ident.slug}.json"


def load(ident: BranchIdentity) -> dict[str, Reading]:
    """The readings the previous run kept for this branch (empty when none or unreadable)."""
    from tasks.core.stack.status_db import Reading

    try:
        data: Any = json.loads(path(ident).read_text())
        if data.get("format") != FORMAT or data.get("branch") != ident.branch:
            return {}
        out: dict[str, Reading] = {}
        for name, raw in dict(data["readings"]).items():
            reading = Reading(
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
            out[str(name)] = reading
        return out
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return {}


def save(ident: BranchIdentity, readings: dict[str, Reading]) -> None:
    """Keep the readings that can be compared later (a value and a known server); best effort."""
    kept = {
        name: {k: v for k, v in asdict(r).items() if k not in ("at", "error")}
        for name, r in readings.items()
        if r.value is not None and r.server and r.wall > 0
    }
    target = path(ident)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        body = json.dumps({"format": FORMAT, "branch": ident.branch, "readings": kept}, indent=1)
        fd, tmp = tempfile.mkstemp(prefix=".sample-", dir=target.parent)
        with os.fdopen(fd, "w") as fh:
            fh.write(body)
        Path(tmp).replace(target)  # a concurrent run reads the old or the new file, never half of one
    except OSError:
        pass  # only the next run's shortcut is lost
