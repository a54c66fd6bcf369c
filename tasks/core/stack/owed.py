"""Work an interrupted env.start still owes (migrations, seeds), kept in a file per branch.

Written before acting, cleared once paid, so a start killed between creating a database and
seeding it seeds on the next run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tasks.core.session import Session


def _owed_path(session: Session) -> Path:
    from tasks.core.locking import state_dir

    return state_dir() / "owed" / session.ident.pending_file


def owed_work(session: Session) -> dict[str, Any] | None:
    """What an earlier env.start of the branch began and did not finish (migrate, seed), if anything."""
    try:
        data = json.loads(_owed_path(session).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else {}


def owe(session: Session, *, seed: bool, kinds: set[str]) -> None:
    """Record, before acting, that this start owes migrations (and seeds) to the stores of ``kinds``:
    a rerun that starts one of them pays them if this run dies."""
    before = owed_work(session) or {}
    _write_owed(session, seed=seed or bool(before.get("seed")), kinds=kinds | set(before.get("kinds") or []))


def _write_owed(session: Session, *, seed: bool, kinds: set[str]) -> None:
    path = _owed_path(session)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_suffix(f".{os.getpid()}.tmp")
    temp.write_text(json.dumps({"branch": session.ident.branch, "seed": seed, "kinds": sorted(kinds)}))
    temp.replace(path)


def paid(session: Session, kinds: set[str]) -> None:
    """This run migrated (and seeded) the stores of ``kinds``; what others are owed stays owed."""
    owed = owed_work(session)
    left = set(owed.get("kinds") or []) - kinds if owed else set()
    if owed and left:
        _write_owed(session, seed=bool(owed.get("seed")), kinds=left)
    else:
        _owed_path(session).unlink(missing_ok=True)


def kind_of_store(store: str) -> str:
    return "postgres" if store in ("auth", "main") else store
