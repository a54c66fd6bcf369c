"""Results of the db tasks, as plain data (rendered by tasks/core/db/views.py or as JSON)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from tasks.core.db.files import Migration

# progress(store, done, total, what): called by the engines as they go; the task draws it.
Progress = Callable[[str, int, int, str], None]


def no_progress(store: str, done: int, total: int, what: str) -> None:
    return None


@dataclass(frozen=True)
class Applied:
    """A history row as a store keeps it."""

    version: int
    description: str
    checksum: bytes
    applied_at: dt.datetime | None
    execution_ms: float | None
    success: bool = True


@dataclass
class MigrationState:
    version: int
    description: str
    file: str | None
    state: str  # applied | pending | drift | missing | failed
    applied_at: dt.datetime | None = None
    execution_ms: float | None = None
    out_of_order: bool = False


@dataclass
class StoreStatus:
    store: str  # auth | main | scylla | keydb
    target: str  # database, keyspace or key prefix
    exists: bool
    migrations: list[MigrationState] = field(default_factory=list)

    def count(self, state: str) -> int:
        return sum(1 for m in self.migrations if m.state == state)


@dataclass
class StatusReport:
    branch: str
    stores: list[StoreStatus]

    @property
    def drift(self) -> bool:
        return any(s.count("drift") or s.count("missing") for s in self.stores)


@dataclass
class StoreMigration:
    store: str
    target: str
    applied: list[MigrationState] = field(default_factory=list)
    drift: list[MigrationState] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    created: bool = False
    seconds: float = 0.0


@dataclass
class MigrateReport:
    branch: str
    stores: list[StoreMigration]
    seconds: float = 0.0


def plan(store: str, migrations: list[Migration], history: dict[int, Applied]) -> list[MigrationState]:
    """Compare files with history: applied, pending (maybe out of order), drift, missing, failed."""
    states: list[MigrationState] = []
    newest = max((v for v, a in history.items() if a.success), default=0)
    by_version = {m.version: m for m in migrations}
    for version in sorted(set(by_version) | set(history)):
        m = by_version.get(version)
        row = history.get(version)
        if row is None and m is not None:
            states.append(
                MigrationState(version, m.description, m.path, "pending", out_of_order=version < newest)
            )
        elif row is not None and m is None:
            states.append(
                MigrationState(version, row.description, None, "missing", row.applied_at, row.execution_ms)
            )
        elif row is not None and m is not None:
            state = "failed" if not row.success else ("drift" if row.checksum != m.checksum else "applied")
            states.append(
                MigrationState(version, m.description, m.path, state, row.applied_at, row.execution_ms)
            )
    return states
