"""What env.dev reports: one record per cycle, and the session's services."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Cycle:
    """One sync/restart/exec/rebuild of one service (one output line, one --json event)."""

    ts: str  # HH:MM:SS local time
    service: str
    action: str  # enter, sync, sync+exec, sync+restart, restart, rebuild, ignored
    files: int
    seconds: float
    result: str  # ok, failed, ignored
    error: str = ""
    details: list[str] = field(default_factory=list)
    trigger: str = ""  # the path that chose the action
    unmatched: list[str] = field(default_factory=list)  # paths no rule matches (named once)


@dataclass
class DevService:
    name: str
    source: str
    container: str
    destination: str
    cycles: list[Cycle] = field(default_factory=list)


@dataclass
class DevResult:
    """An env.dev session: what it did, and why it ended."""

    branch: str
    services: list[DevService]
    ended: str = "once"  # once, interrupted, head-moved


@dataclass
class DevMode:
    """A service of the branch that runs from source (for env.status)."""

    service: str
    source: str
    last_action: str = ""
    last_result: str = ""
    last_at: str = ""
