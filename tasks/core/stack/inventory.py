"""env.list and env.prune: every environment of this project on this machine, found by labels."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tasks.core.stack.engine import connect, label_filters
from tasks.core.stack.model import (
    LABEL_BRANCH,
    Environment,
    EnvironmentList,
    EventSink,
    PruneResult,
    ignore_events,
)

if TYPE_CHECKING:
    from tasks.core.session import Session


def git_branches(root: Path, remote: str) -> set[str] | None:
    """Local branches plus ``remote``'s branches (without the remote prefix); None outside git."""
    try:
        import git

        repo = git.Repo(root, search_parent_directories=True)
    except Exception:  # not a repository: existence is unknown
        return None
    names = {h.name for h in repo.heads}
    prefix = f"{remote}/"
    for ref in repo.refs:
        path = str(ref.path)
        if path.startswith("refs/remotes/") and ref.name.startswith(prefix):
            names.add(ref.name[len(prefix) :])
    try:
        current = None if repo.head.is_detached else repo.head.reference.name
    except Exception:  # an empty repository has no current branch
        current = None
    if current:
        names.add(current)  # an unborn current branch exists too
    return names


def environments(session: Session) -> EnvironmentList:
    settings = session.config.settings
    project = settings.project.name
    client = connect()
    filters = label_filters(project)
    envs: dict[str, dict[str, Any]] = {}

    def entry(branch: str) -> dict[str, Any]:
        return envs.setdefault(branch, {"containers": 0, "running": 0, "volumes": [], "ports": set()})

    for summary in client.api.containers(all=True, filters=filters):
        branch = (summary.get("Labels") or {}).get(LABEL_BRANCH, "?")
        e = entry(branch)
        e["containers"] += 1
        if summary.get("State") == "running":
            e["running"] += 1
        for port in summary.get("Ports") or []:
            if port.get("PublicPort"):
                e["ports"].add(int(port["PublicPort"]))
    sizes: dict[str, int] = {}
    volumes = client.api.volumes(filters=filters).get("Volumes") or []
    if volumes:
        for vol in client.api.df().get("Volumes") or []:
            usage = (vol.get("UsageData") or {}).get("Size")
            if usage is not None and usage >= 0:
                sizes[str(vol["Name"])] = int(usage)
    for vol in volumes:
        branch = (vol.get("Labels") or {}).get(LABEL_BRANCH, "?")
        entry(branch)["volumes"].append(str(vol["Name"]))
    for net in client.api.networks(filters=filters):
        entry((net.get("Labels") or {}).get(LABEL_BRANCH, "?"))
    existing = git_branches(session.root, settings.git.remote)
    out: list[Environment] = []
    for branch, e in sorted(envs.items()):
        state = _state(e["containers"], e["running"], bool(e["volumes"]))
        vols = sorted(e["volumes"])
        out.append(
            Environment(
                branch=branch,
                state=state,
                containers=e["containers"],
                running=e["running"],
                volumes=vols,
                volume_bytes=sum(sizes.get(v, 0) for v in vols) if vols else 0,
                ports=sorted(e["ports"]),
                branch_exists=None if existing is None else branch in existing,
            )
        )
    return EnvironmentList(project, out)


def _state(containers: int, running: int, has_volumes: bool) -> str:
    if containers and running == containers:
        return "running"
    if running:
        return "partial"
    if containers:
        return "stopped"
    return "data only" if has_volumes else "network only"


def prune(
    session: Session,
    *,
    confirm: Callable[[list[Environment]], None],
    on_event: EventSink = ignore_events,
    wait: bool = True,
    on_wait: Callable[[str], None] | None = None,
) -> PruneResult:
    """Remove (with their data) the environments whose git branch no longer exists.

    Each branch is removed under its lock (tasks/core/locking.py): ``wait`` and ``on_wait`` as there.
    """
    from tasks.core.locking import branch_lock
    from tasks.core.session import Session as NewSession
    from tasks.core.stack.teardown import stop

    listing = environments(session)
    main = session.config.settings.git.main_branch
    gone = [e for e in listing.environments if e.branch_exists is False and e.branch != main]
    kept = [e.branch for e in listing.environments if e not in gone]
    if not gone:
        return PruneResult([], [], kept)
    confirm(gone)
    removed = []
    for e in gone:
        other = NewSession(branch=e.branch, cwd=session.cwd)
        with branch_lock(other.ident, "env.prune", wait=wait, on_wait=on_wait):
            removed.append(stop(other, force=True, purge=True, on_event=on_event))
    return PruneResult(gone, removed, kept)
