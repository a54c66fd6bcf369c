"""What one task run knows: its configuration and the branch it acts on, worked out once."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from tasks.core import console
from tasks.core.branch import BranchIdentity, BranchSource, detect, identity
from tasks.core.config.loader import LoadedConfig, Tree, load_cached


class Session:
    """Lazily loads settings and the branch identity, so a task pays only for what it uses."""

    def __init__(self, *, branch: str | None = None, overrides: Tree | None = None, cwd: Path | None = None):
        self.cwd = (cwd or Path.cwd()).resolve()
        self._branch_flag = branch or None
        self._overrides = overrides

    @cached_property
    def config(self) -> LoadedConfig:
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
