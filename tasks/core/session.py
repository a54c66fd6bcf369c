"""What one task run knows: its configuration and the branch it acts on, worked out once."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tasks.core import console
from tasks.core.branch import BranchIdentity, BranchSource, detect, identity
from tasks.core.targets import Choice, choose

if TYPE_CHECKING:
    # The loader pulls in msgspec and tomllib; tasks import this module at --list time.
    from tasks.core.config.loader import LoadedConfig


class Session:
    """Lazily loads settings and the branch identity, so a task pays only for what it uses."""

    def __init__(
        self,
        *,
        branch: str | None = None,
        overrides: dict[str, Any] | None = None,
        cwd: Path | None = None,
        env: str | None = None,
    ):
        self.cwd = (cwd or Path.cwd()).resolve()
        self._branch_flag = branch or None
        self._overrides = overrides
        self._env_flag = env or None

    @cached_property
    def config(self) -> LoadedConfig:
        from tasks.core.config.loader import load_cached

        return load_cached(self.cwd, overrides=self._overrides)

    @property
    def root(self) -> Path:
        return self.config.root

    @cached_property
    def branch(self) -> BranchSource:
        source = detect(self.cwd, flag=self._branch_flag, main_branch=self.config.settings.git.main_branch)
        if source.note and source.origin not in ("git",):
            console.note(source.note)
        return source

    @cached_property
    def ident(self) -> BranchIdentity:
        settings = self.config.settings
        return identity(self.branch.name, project=settings.project.name, main_branch=settings.git.main_branch)

    @cached_property
    def target(self) -> Choice:
        """Local development, staging or production; said once on stderr, as every target-bound task does."""
        choice = choose(self.root, self._env_flag)
        if choice.remote:
            console.note(f"target: {choice.describe()}")
        else:
            console.note(f"target: local (branch {self.branch.name})")
        return choice

    def require_local(self, what: str) -> None:
        """Refuse ``what`` unless the target is local development."""
        from tasks.core.errors import NotLocal

        choice = self.target
        if choice.remote:
            raise NotLocal(
                f"{what} only runs against local development, and the target is {choice.describe()}",
                hint="pass --env local for this run, or inv env.switch --target local",
            )

    def local_only(self, what: str) -> None:
        """Say that ``what`` acts on this machine; refuse only an explicit --env naming a remote target."""
        from tasks.core.errors import NotLocal

        choice = choose(self.root, self._env_flag)
        if choice.remote and choice.origin == "flag":
            raise NotLocal(
                f"{what} runs the stack on this machine; it cannot act on {choice.name}",
                hint=f"to ship to {choice.name}: inv deploy.{choice.name}",
            )
        aside = f"; the switched target {choice.describe()} applies to db, env.status and env.logs"
        console.note(f"target: local (branch {self.branch.name}){aside if choice.remote else ''}")
