"""env.status: the branch's last commit.

The branch's ref is read from the repository's files (loose ref, then packed-refs), and a commit's
subject and date are kept per commit id in the user's cache: a commit never changes, so a run
whose ref points at a known commit needs neither GitPython (about 0.1 s to import) nor a git
process. Anything unusual (a ref it cannot read, a commit not seen yet) goes through GitPython.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from tasks.core.stack.model import GitStatus

KEEP = 64  # commits kept in the cache


def _git_dir(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        dot = folder / ".git"
        if dot.is_dir():
            return dot
        if dot.is_file():  # a worktree or submodule: "gitdir: PATH"
            text = dot.read_text().strip()
            if text.startswith("gitdir:"):
                found = Path(text.partition(":")[2].strip())
                return found if found.is_absolute() else (folder / found).resolve()
            return None
    return None


def ref_sha(start: Path, branch: str) -> str | None:
    """The commit ``refs/heads/<branch>`` points at, from the files; "" when the repository has no
    such branch (or there is no repository); None when the files do not say (ask GitPython)."""
    git_dir = _git_dir(start)
    if git_dir is None:
        return "" if not any((f / ".git").exists() for f in (start, *start.parents)) else None
    common = git_dir
    if (git_dir / "commondir").is_file():
        common = (git_dir / (git_dir / "commondir").read_text().strip()).resolve()
    try:
        loose = (common / "refs" / "heads" / branch).read_text().strip()
        return loose if len(loose) == 40 else None
    except (OSError, ValueError):
        pass
    try:
        for line in (common / "packed-refs").read_text().splitlines():
            sha, _, name = line.partition(" ")
            if name == f"refs/heads/{branch}" and len(sha) == 40:
                return sha
    except FileNotFoundError:
        pass
    except OSError:
        return None
    return ""  # neither a loose nor a packed ref: no such branch


def _cache_path() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "clikd" / "status" / "commits.json"


def _load() -> dict[str, Any]:
    try:
        data = json.loads(_cache_path().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _keep(sha: str, subject: str, committed: float) -> None:
    known = _load()
    known.pop(sha, None)
    known = {sha: [subject, committed], **dict(list(known.items())[: KEEP - 1])}
    path = _cache_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        import tempfile  # only when a commit not seen before is kept: not on every env.status

        fd, tmp = tempfile.mkstemp(prefix=".commits-", dir=path.parent)
        with os.fdopen(fd, "w") as fh:
            json.dump(known, fh)
        Path(tmp).replace(path)
    except OSError:
        pass


def _from_gitpython(root: Path, branch: str) -> tuple[str, str, float] | None:
    try:
        import git

        repo = git.Repo(root, search_parent_directories=True)
        commit = repo.heads[branch].commit if branch in repo.heads else None
        if commit is None and not repo.head.is_detached and repo.head.is_valid():
            commit = repo.head.commit if repo.active_branch.name == branch else None
    except Exception:  # no repository, no such branch: shown as "no commits"
        return None
    if commit is None:
        return None
    subject = str(commit.message).strip().splitlines()[0] if commit.message else ""
    return commit.hexsha, subject[:72], float(commit.committed_date)


def status(root: Path, branch: str) -> GitStatus:
    sha = ref_sha(root, branch)
    if sha == "":
        return GitStatus(branch, None, None, None)
    hit = _load().get(sha) if sha else None
    if isinstance(hit, list) and len(hit) == 2:
        subject, committed = str(hit[0]), float(hit[1])
    else:
        found = _from_gitpython(root, branch)
        if found is None:
            return GitStatus(branch, None, None, None)
        sha, subject, committed = found
        _keep(sha, subject, committed)
    assert sha is not None  # noqa: S101  (set by one branch or the other)
    return GitStatus(branch, sha[:10], subject, max(0.0, time.time() - committed))
