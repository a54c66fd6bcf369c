"""env.status --inspect: db.inspect's per-store report, read beside the rest of the snapshot.

The same readers as db.inspect (tasks/core/insight/run.py), so both commands always agree; only the
stores whose probe answered are read, each in its own thread, and a store that has not finished
within ``DEADLINE_S`` is reported with that in its ``error`` instead of holding the snapshot up
(db.inspect waits for it). Past the deadline a reader goes on in its daemon thread until its
connection ends or the command exits; nothing waits for it.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from tasks.core.stack import workers

if TYPE_CHECKING:
    from tasks.core.insight.model import InspectReport, StoreInsight
    from tasks.core.session import Session

# About three times what db.inspect takes on the seeded test stack on a busy 2-core machine: long
# enough for a branch's development data, short beside env.status's own budget on a slow store.
DEADLINE_S = 1.0


def kind_of(store: str) -> str:
    return "postgres" if store in ("auth", "main") else store


def inspect(session: Session, healthy: set[str], *, deadline_s: float = DEADLINE_S) -> InspectReport | None:
    """Every store of the branch as db.inspect reports it; None without the db package."""
    try:
        from tasks.core.db import target as db_target
        from tasks.core.insight.model import InspectReport, StoreInsight
        from tasks.core.insight.run import reader
    except ImportError:  # the db package is not part of this installation
        return None
    began = time.monotonic()
    t = db_target.for_session(session)
    files = t.migrations()
    jobs = {s: workers.start(f"inspect:{s}", reader(t, s, files)) for s in t.stores if kind_of(s) in healthy}
    end = began + deadline_s
    for running in jobs.values():
        running.done.wait(max(0.0, end - time.monotonic()))
    out: list[StoreInsight] = []
    for store in t.stores:
        job = jobs.get(store)
        kind = kind_of(store)
        if job is None:
            found = StoreInsight(store, kind, t.name_of(store), exists=False)
            found.error = f"not read: {kind} did not answer env.status's probe (see databases)"
        elif not job.done.is_set():
            found = StoreInsight(store, kind, t.name_of(store), exists=False)
            found.error = f"not read within {deadline_s:g} s: inv db.inspect --stores {store} waits for it"
        elif job.error is not None or job.result is None:
            # the readers report a store's failure in its error; what is raised is a bug in clikd
            found = StoreInsight(store, kind, t.name_of(store), exists=False)
            found.error = f"{type(job.error).__name__}: {job.error}"[:200]
        else:
            found = job.result
        out.append(found)
    return InspectReport(t.branch, out, round(time.monotonic() - began, 3))
