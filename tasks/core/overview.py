"""What bare ``clikd`` shows: the branch, the target, whether the stack runs, the namespaces."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tasks.core.errors import ClikdError

if TYPE_CHECKING:
    from tasks.core.session import Session

# The tasks a newcomer reaches for first, per namespace (the rest are in --list).
MOST_USED = {
    "env": ["env.start", "env.status", "env.logs", "env.stop", "env.switch"],
    "db": ["db.migrate", "db.reset", "db.status", "db.diff"],
    "gen": ["gen.all", "gen.typescript"],
    "test": ["test.all", "test.contract", "test.suites"],
    "deploy": ["deploy.staging", "deploy.status", "deploy.production", "deploy.rollback"],
    "config": ["config.show", "config.check"],
}

# The quick-actions menu of bare `clikd` in a terminal: label -> task.
QUICK_ACTIONS = {
    "Show the stack's status": "env.status",
    "Start the stack": "env.start",
    "Reset the databases (migrations + seeds)": "db.reset",
    "Apply pending migrations": "db.migrate",
    "Generate the API clients": "gen.all",
    "Run tests": "test.all",
    "Show the logs": "env.logs",
    "Deploy to staging": "deploy.staging",
}


@dataclass(frozen=True)
class Overview:
    branch: str
    target: str
    config: str
    stack: str  # "running (N/M containers)", "stopped", "not started", or why it is unknown
    namespaces: dict[str, list[str]] = field(default_factory=dict)


def overview(cwd: Path, namespaces: dict[str, list[str]]) -> Overview:
    """Gather the overview; a part that cannot be read says so instead of failing."""
    from tasks.core.session import Session

    session = Session(cwd=cwd)
    try:
        branch = session.branch.name
        config = str(session.config.path) if session.config.path else "built-in defaults"
        from tasks.core.targets import choose

        target = choose(session.root).describe()
    except ClikdError as error:
        return Overview("?", "?", f"unreadable: {error.message}", "unknown", namespaces)
    return Overview(branch, target, config, _stack(session), namespaces)


def _stack(session: Session) -> str:
    try:
        from tasks.core.stack.engine import branch_containers, connect

        client = connect(timeout=3)
        found = branch_containers(client, session.config.settings.project.name, session.ident.branch)
    except ClikdError:
        return "unknown (Docker does not answer)"
    except Exception as error:  # the overview never fails on the engine
        return f"unknown ({type(error).__name__})"
    if not found:
        return "not started"
    running = sum(1 for c in found if c.get("State") == "running")
    return f"running ({running}/{len(found)} containers)" if running else f"stopped ({len(found)} containers)"
