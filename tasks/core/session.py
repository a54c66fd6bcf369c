"""What one task run knows: its configuration and the branch it acts on, worked out once."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tasks.core import console
from tasks.core.branch import BranchIdentity, BranchSource, detect, identity

if TYPE_CHECKING:
    # The loader pulls in pydantic; tasks import this module at --list time.
    from tasks.core.config.loader import LoadedConfig


class Session:
    """Lazily loads settings and the branch identity, so a task pays only for what it uses."""

    def __init__(
        self, *, branch: str | None = None, overrides: dict[str, Any] | None = None, cwd: Path | None = None
    ):
        self.cwd = (cwd or Path.cwd()).resolve()
        self._branch_flag = branch or None
        self._overrides = overrides

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
