"""The db.inspect report: per store what it holds (plain data; --json prints it as is)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TableInsight:
    name: str
    rows: int | None  # None: the server could not say
    exact: bool  # counted; otherwise the server's estimate (planner statistics, size estimates)
    bytes: int | None  # on disk with its indexes (CQL: SSTables; rows still in memtables count 0)


@dataclass
class NamespaceInsight:
    # KeyDB: the key's first segment after the branch's prefix (`auth` of `<prefix>auth:42`);
    # s3: the object key's first path segment (`avatars` of `avatars/1.png`)
    name: str
    keys: int  # keys, or objects
    bytes: int | None  # MEMORY USAGE summed (estimated past SCAN_LIMIT keys); the objects' sizes
    exact: bool = True


@dataclass
class StoreInsight:
    store: str  # auth | main | scylla | keydb | s3
    kind: str  # postgres | scylla | keydb | s3
    target: str  # database, keyspace, key prefix or bucket
    exists: bool
    applied: int = 0  # migrations applied (successfully) of ``total`` files
    total: int = 0
    version: int | None = None  # the newest applied migration: the schema's version
    bytes: int | None = None  # the database's or keyspace's size, the prefix's keys' memory
    tables: list[TableInsight] = field(default_factory=list)
    namespaces: list[NamespaceInsight] = field(default_factory=list)
    keys: int | None = None  # keydb: every key under the prefix (bookkeeping ones aside); s3: objects
    uptime_s: int | None = None  # keydb: the server's
    error: str = ""  # the store did not answer: what it said


@dataclass
class InspectReport:
    branch: str
    stores: list[StoreInsight]
    seconds: float = 0.0
