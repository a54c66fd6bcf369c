"""Pre-deployment checks as data: each passes, warns or fails, with what to do about it.

Staging deploys with warnings; production needs every check to pass unless ``--force`` (which the
release records). A check that cannot look (no Docker, no database) warns rather than guesses.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tasks.core.deploy.model import Check, ChecksReport, CheckState
from tasks.core.errors import ClikdError
from tasks.core.session import Session

CheckFn = Callable[[Session], Check]


def git_clean(session: Session) -> Check:
    import git

    try:
        repo = git.Repo(session.root, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return Check("git tree clean", CheckState.FAIL, f"{session.root} is not a git repository")
    if not repo.head.is_valid():
        return Check("git tree clean", CheckState.FAIL, "no commit yet", hint="commit before deploying")
    dirty = [str(item.a_path) for item in repo.index.diff(None)] + [
        str(item.a_path) for item in repo.index.diff("HEAD")
    ]
    untracked = repo.untracked_files
    if dirty or untracked:
        listed = sorted(set(dirty))[:5] + [f"{p} (untracked)" for p in untracked[:3]]
        return Check(
            "git tree clean",
            CheckState.FAIL,
            f"{len(set(dirty))} changed, {len(untracked)} untracked: {', '.join(listed)}",
            hint="commit or stash: the release records the commit, and it must be what is deployed",
        )
    return Check("git tree clean", CheckState.PASS, f"at {repo.head.commit.hexsha[:12]}")


def services_healthy(session: Session) -> Check:
    name = "services healthy locally"
    try:
        import docker

        client = docker.from_env(timeout=5)
        client.ping()
    except Exception as exc:
        return Check(name, CheckState.WARN, f"not checked: Docker does not answer ({type(exc).__name__})")
    settings = session.config.settings
    bad: list[str] = []
    for svc in settings.services:
        try:
            container = client.containers.get(session.ident.container(svc))
        except Exception:
            bad.append(f"{svc} not running")
            continue
        health = container.attrs.get("State", {}).get("Health", {}).get("Status")
        if container.status != "running" or health not in (None, "healthy"):
            bad.append(f"{svc} {container.status}/{health}")
    if bad:
        return Check(
            name, CheckState.WARN, "; ".join(bad), hint="inv env.start, then check the branch locally"
        )
    return Check(name, CheckState.PASS, f"{len(settings.services)} services up")


def migrations_current(session: Session) -> Check:
    name = "migrations up to date"
    try:
        from tasks.core.db import migrate, target

        report = migrate.status(target.for_session(session))
    except (ClikdError, ImportError, OSError) as exc:
        return Check(name, CheckState.WARN, f"not checked: {getattr(exc, 'message', exc)}")
    pending = sum(s.count("pending") for s in report.stores)
    if report.drift:
        return Check(
            name, CheckState.FAIL, "applied migrations were edited or are missing", hint="inv db.status"
        )
    if pending:
        return Check(name, CheckState.FAIL, f"{pending} pending locally", hint="inv db.migrate, and commit")
    return Check(name, CheckState.PASS, "none pending")


def clients_generated(session: Session) -> Check:
    name = "clients generated from the current spec"
    settings = session.config.settings
    spec = session.root / settings.codegen.spec
    if not spec.is_file():
        return Check(name, CheckState.WARN, f"no spec at {settings.codegen.spec}")
    stale: list[str] = []
    for lang in ("swift", "kotlin", "typescript", "python"):
        out = session.root / getattr(settings.clients, lang).output
        newest = _newest(out)
        if newest is None:
            stale.append(f"{lang} missing")
        elif newest < spec.stat().st_mtime:
            stale.append(f"{lang} older than the spec")
    if stale:
        return Check(name, CheckState.WARN, "; ".join(stale), hint="inv gen.all")
    return Check(name, CheckState.PASS, "all four newer than the spec")


def _newest(folder: Path) -> float | None:
    if not folder.is_dir():
        return None
    times = [p.stat().st_mtime for p in folder.rglob("*") if p.is_file()]
    return max(times) if times else None


DEFAULT: list[CheckFn] = [git_clean, services_healthy, migrations_current, clients_generated]


def run(session: Session, checks: list[CheckFn] | None = None, *, forced: bool = False) -> ChecksReport:
    """Run the checks side by side (each may wait on a server), reported in their order."""
    from concurrent.futures import ThreadPoolExecutor

    chosen = DEFAULT if checks is None else checks
    session.config  # noqa: B018  (load the settings once, before the threads share them)
    with ThreadPoolExecutor(max_workers=max(len(chosen), 1)) as pool:
        results = list(pool.map(lambda fn: fn(session), chosen))
    return ChecksReport(results, forced=forced)
