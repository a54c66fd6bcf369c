"""Test hook: stop at a named phase so that a test can interrupt clikd exactly there.

A no-op unless ``CLIKD_TEST_PAUSE_AT`` is set (read once, at import). It holds phase names or
patterns (``fnmatch``, comma-separated: ``create:postgres``, ``start:*``). On reaching a matching
phase, clikd appends its pid to ``$CLIKD_TEST_PAUSE_DIR/<phase>.reached`` and waits until
``<phase>.go`` exists there, so the test decides what happens next (a signal, another run) without
any timing. Phases of env.start: ``pull`` (before images are checked), ``pulling`` (in a pull's
stream, or on the registry's digest answer for an image that is up to date), ``network``,
``volumes:<component>``, ``create:<component>``, ``start:<component>``, ``probe:<component>``,
``migrate``, ``seed``; of db.reset: ``reset:<store>`` (in its workers) and ``template:<role>``
(the template is there, not yet copied).
"""

from __future__ import annotations

import os
import time
from fnmatch import fnmatchcase
from pathlib import Path

_AT = [p.strip() for p in os.environ.get("CLIKD_TEST_PAUSE_AT", "").split(",") if p.strip()]
_DIR = os.environ.get("CLIKD_TEST_PAUSE_DIR", "")
GIVE_UP = 900  # seconds: a paused run whose test died goes on by itself instead of holding its lock


def reached(phase: str) -> None:
    """Mark ``phase`` and wait for the test's go-file, when a test asked for it; else nothing."""
    if not _AT or not any(fnmatchcase(phase, p) for p in _AT):
        return
    folder = Path(_DIR or ".")
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / f"{phase}.reached").open("a") as marker:
        marker.write(f"{os.getpid()}\n")
    go = folder / f"{phase}.go"
    give_up = time.monotonic() + GIVE_UP
    while not go.exists() and time.monotonic() < give_up:
        time.sleep(0.02)  # a test hook: waits for a file, not for time to pass
