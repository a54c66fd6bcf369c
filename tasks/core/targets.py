"""Which target a task acts on: local development, staging or production.

``env.switch`` keeps the choice per checkout in ``.clikd/target`` next to clikd.toml (gitignored), so two
worktrees of the same repository can point at different targets. For one run, ``--env`` on a task wins,
then ``CLIKD_TARGET`` (what CI scripts set), then the switched target, then local.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tasks.core.errors import ConfigError, UsageError

TARGETS = ("local", "staging", "production")
STATE_FILE = Path(".clikd") / "target"
ORIGINS = {
    "flag": "from --env",
    "env": "from CLIKD_TARGET",
    "switch": "from env.switch",
    "default": "the default",
}


@dataclass(frozen=True)
class Choice:
    """The chosen target and where the choice came from."""

    name: str
    origin: str  # flag | env | switch | default

    @property
    def remote(self) -> bool:
        return self.name != "local"

    def describe(self) -> str:
        return f"{self.name} ({ORIGINS[self.origin]})"


def parse(raw: str, where: str) -> str:
    """``raw`` as a target name; a clear error with the nearest name when it is none."""
    name = raw.strip().lower()
    if name in TARGETS:
        return name
    import difflib

    near = difflib.get_close_matches(name, TARGETS, n=1, cutoff=0.5)
    hint = f"did you mean {near[0]!r}? " if near else ""
    raise UsageError(
        f"{raw!r} ({where}) is not a target",
        hint=f"{hint}the targets are {', '.join(TARGETS)}",
    )


def state_path(root: Path) -> Path:
    return root / STATE_FILE


def switched(root: Path) -> str | None:
    """The target ``env.switch`` recorded for this checkout, if any."""
    path = state_path(root)
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(
            f"cannot read {path}: {exc.strerror}", hint="remove it, then inv env.switch"
        ) from None
    if not text:
        return None
    try:
        return parse(text, str(path))
    except UsageError as exc:
        raise ConfigError(exc.message, hint=f"inv env.switch --target local rewrites {path}") from None


def record(root: Path, name: str) -> Path:
    """Keep ``name`` as this checkout's target (written atomically)."""
    path = state_path(root)
    path.parent.mkdir(exist_ok=True)
    ignore = path.parent / ".gitignore"
    if not ignore.exists():
        # The folder ignores itself, so a checkout without our .gitignore line does not commit it.
        ignore.write_text("*\n", encoding="utf-8")
    partial = path.with_suffix(".partial")
    partial.write_text(name + "\n", encoding="utf-8")
    partial.replace(path)
    return path


def choose(root: Path, flag: str | None = None) -> Choice:
    """The target of this run: --env, then CLIKD_TARGET, then env.switch, then local."""
    if flag:
        return Choice(parse(flag, "--env"), "flag")
    env = os.environ.get("CLIKD_TARGET", "").strip()
    if env:
        return Choice(parse(env, "CLIKD_TARGET"), "env")
    recorded = switched(root)
    if recorded:
        return Choice(recorded, "switch")
    return Choice("local", "default")
