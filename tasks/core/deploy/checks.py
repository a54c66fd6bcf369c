"""Pre-deployment checks as data: each passes, warns or fails, with what to do about it.

Staging deploys with warnings; production needs every check to pass unless ``--force`` (which the
release records). A check that cannot look (no Docker, no database) warns rather than guesses.
Each result says what it looked at (``checked``) and how long it took (``seconds``, filled in by
:func:`run`); a failure or warning names the exact items and the command that fixes them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from tasks.core.deploy.model import Check, ChecksReport, CheckState
from tasks.core.errors import CheckFailed, ClikdError
from tasks.core.session import Session

CheckFn = Callable[[Session], Check]
SHOWN = 5  # items named in a detail before "and N more"


def _listed(items: list[str]) -> str:
    more = f" and {len(items) - SHOWN} more" if len(items) > SHOWN else ""
    return ", ".join(items[:SHOWN]) + more


def git_clean(session: Session) -> Check:
    import git

    name = "git tree clean"
    checked = f"git status of {session.root}"
    try:
        repo = git.Repo(session.root, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return Check(
            name,
            CheckState.FAIL,
            f"{session.root} is not a git repository",
            hint="deploy from a clone of the project (the release records the commit)",
            checked=checked,
        )
    checked = f"git status of {repo.working_dir}"
    if not repo.head.is_valid():
        return Check(name, CheckState.FAIL, "no commit yet", hint="git add -A && git commit", checked=checked)
    changed = sorted(
        {str(d.a_path) for d in repo.index.diff(None)} | {str(d.a_path) for d in repo.index.diff("HEAD")}
    )
    untracked = list(repo.untracked_files)
    if changed or untracked:
        listed = changed + [f"{p} (untracked)" for p in untracked]
        return Check(
            name,
            CheckState.FAIL,
            f"{len(changed)} changed, {len(untracked)} untracked: {_listed(listed)}",
            hint="commit them (git add -A && git commit) or put them aside (git stash -u): "
            "the release records the commit, and it must be what is deployed",
            checked=checked,
        )
    return Check(name, CheckState.PASS, f"at {repo.head.commit.hexsha[:12]}", checked=checked)


def services_healthy(session: Session) -> Check:
    from tasks.core.errors import Unavailable
    from tasks.core.stack import engine

    name = "services healthy locally"
    settings = session.config.settings
    checked = f"the branch's {len(settings.services)} service containers on Docker"
    try:
        client = engine.connect(timeout=5)
    except Unavailable as exc:
        return Check(
            name,
            CheckState.WARN,
            f"not checked: {exc.message}",
            hint=(exc.hint or "start Docker")
            + "; with Docker up, the branch is checked locally before deploying",
            checked=checked,
        )
    stopped: list[str] = []
    unhealthy: list[str] = []
    for svc in settings.services:
        container_name = session.ident.container(svc)
        try:
            container = client.containers.get(container_name)
        except Exception:
            stopped.append(f"{svc} (no container {container_name})")
            continue
        health = container.attrs.get("State", {}).get("Health", {}).get("Status")
        if container.status != "running":
            stopped.append(f"{svc} ({container.status})")
        elif health not in (None, "healthy"):
            unhealthy.append(f"{svc} ({health})")
    if stopped or unhealthy:
        parts = ([f"not running: {_listed(stopped)}"] if stopped else []) + (
            [f"not healthy: {_listed(unhealthy)}"] if unhealthy else []
        )
        hints = (["inv env.start"] if stopped else []) + (
            [f"inv env.logs {unhealthy[0].split(' ')[0]}"] if unhealthy else []
        )
        return Check(
            name,
            CheckState.WARN,
            "; ".join(parts),
            hint=f"{' then '.join(hints)}; try the branch locally before deploying it",
            checked=checked,
        )
    return Check(name, CheckState.PASS, f"{len(settings.services)} services up", checked=checked)


def migrations_current(session: Session) -> Check:
    name = "migrations up to date"
    checked = f"the branch's databases against {session.root / 'migrations'}"
    try:
        from tasks.core.db import migrate, target

        report = migrate.status(target.for_session(session))
    except (ClikdError, ImportError, OSError) as exc:
        return Check(
            name,
            CheckState.WARN,
            f"not checked: {getattr(exc, 'message', exc)}",
            hint="inv env.start (the databases), then inv db.status",
            checked=checked,
        )
    drifted = [
        f"{s.store} {m.version} ({m.state})"
        for s in report.stores
        for m in s.migrations
        if m.state in ("drift", "missing")
    ]
    if drifted:
        return Check(
            name,
            CheckState.FAIL,
            f"applied migrations were edited or are missing: {_listed(drifted)}",
            hint="restore the applied files from git (git log -- migrations/), or inv db.status for details",
            checked=checked,
        )
    pending = [f"{s.store} {m.version}" for s in report.stores for m in s.migrations if m.state == "pending"]
    if pending:
        return Check(
            name,
            CheckState.FAIL,
            f"{len(pending)} pending locally: {_listed(pending)}",
            hint="inv db.migrate to try them on the branch, then commit",
            checked=checked,
        )
    return Check(name, CheckState.PASS, "none pending", checked=checked)


LANGUAGES = ("swift", "kotlin", "typescript", "python")


def clients_generated(session: Session) -> Check:
    name = "clients generated from the current spec"
    settings = session.config.settings
    spec = session.root / settings.codegen.spec
    checked = f"{settings.codegen.spec} against the {len(LANGUAGES)} client folders"
    if not spec.is_file():
        return Check(
            name,
            CheckState.WARN,
            f"no spec at {settings.codegen.spec}",
            hint="set [codegen] spec in clikd.toml, or inv gen.all to fetch it",
            checked=checked,
        )
    missing: list[str] = []
    older: list[str] = []
    for lang in LANGUAGES:
        newest = _newest(session.root / getattr(settings.clients, lang).output)
        if newest is None:
            missing.append(lang)
        elif newest < spec.stat().st_mtime:
            older.append(lang)
    stale = missing + older
    if stale:
        parts = ([f"missing: {', '.join(missing)}"] if missing else []) + (
            [f"older than the spec: {', '.join(older)}"] if older else []
        )
        fix = "inv gen.all" if len(stale) > 1 else f"inv gen.{stale[0]}"
        return Check(name, CheckState.WARN, "; ".join(parts), hint=f"{fix}, then commit", checked=checked)
    return Check(name, CheckState.PASS, f"all {len(LANGUAGES)} newer than the spec", checked=checked)


def _newest(folder: Path) -> float | None:
    if not folder.is_dir():
        return None
    times = [p.stat().st_mtime for p in folder.rglob("*") if p.is_file()]
    return max(times) if times else None


DEFAULT: list[CheckFn] = [git_clean, services_healthy, migrations_current, clients_generated]


def _timed(fn: CheckFn, session: Session) -> Check:
    """Run one check, timed; a check that breaks warns (saying what broke) rather than stop the deploy."""
    started = time.perf_counter()
    try:
        check = fn(session)
    except Exception as exc:
        check = Check(
            fn.__name__.replace("_", " "),
            CheckState.WARN,
            f"not checked: the check failed ({type(exc).__name__}: {exc})",
            hint="run it again; report it if it persists",
        )
    return replace(check, seconds=round(time.perf_counter() - started, 4))


class ChecksFailed(CheckFailed):
    """Failed pre-deployment checks; ``--json`` carries every check (state, detail, hint, time)."""

    def __init__(self, report: ChecksReport, message: str) -> None:
        super().__init__(
            message,
            hint="fix them as each says, or pass --force (recorded in the release)",
            details=[
                f"{c.name}: {c.detail}" + (f" (to do: {c.hint})" if c.hint else "") for c in report.failed
            ],
        )
        self.report = report

    def to_dict(self) -> dict[str, object]:
        from dataclasses import asdict

        checks = [{**asdict(c), "state": c.state.value} for c in self.report.checks]
        return {**super().to_dict(), "checks": checks}


def run(session: Session, checks: list[CheckFn] | None = None, *, forced: bool = False) -> ChecksReport:
    """Run the checks side by side (each may wait on a server), reported in their order."""
    from concurrent.futures import ThreadPoolExecutor

    chosen = DEFAULT if checks is None else checks
    session.config  # noqa: B018  (load the settings once, before the threads share them)
    with ThreadPoolExecutor(max_workers=max(len(chosen), 1)) as pool:
        results = list(pool.map(lambda fn: _timed(fn, session), chosen))
    return ChecksReport(results, forced=forced)
