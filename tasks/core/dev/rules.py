"""Which action a batch of changed paths needs: rule matching, ignores and precedence (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from tasks.core.config.schema import Dev, DevRule

# Paths never synced: version control and the temp files editors write next to the real one.
BUILTIN_IGNORE = (
    ".git/",
    "**/.git/",
    "*.swp",
    "*.swx",
    "*.swo",
    "*~",
    ".#*",
    "4913",
    "*___jb_tmp___",
    "*___jb_old___",
)
# Folders kept out of the watcher (and out of syncs): build output and installed dependencies.
HEAVY = ("target", "node_modules", ".next", "_build", "deps")
PRECEDENCE = {"sync": 0, "sync+exec": 1, "sync+restart": 2, "restart": 3, "rebuild": 4}


@lru_cache(maxsize=512)
def _compile(pattern: str) -> re.Pattern[str]:
    """A glob as a regular expression: ``**`` spans folders, ``*`` and ``?`` stay within one."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def matches(pattern: str, path: str) -> bool:
    """``path`` (relative, with /) matches the glob; a pattern ending in / also covers what is below."""
    if pattern.endswith("/"):
        folder = pattern.rstrip("/")
        return matches(folder, path) or matches(folder + "/**", path)
    return bool(_compile(pattern).match(path))


def ignored(path: str, patterns: tuple[str, ...]) -> bool:
    """Ignored by a pattern; one without a / applies to the file name at any depth."""
    name = path.rsplit("/", 1)[-1]
    parts = path.split("/")
    if any(part in HEAVY for part in parts[:-1]):
        return True
    for pattern in (*BUILTIN_IGNORE, *patterns):
        if matches(pattern, path):
            return True
        if "/" not in pattern.rstrip("/") and (matches(pattern, name) or pattern.rstrip("/") in parts[:-1]):
            return True
    return False


def effective_rules(dev: Dev) -> list[DevRule]:
    """The configured rules, or the default: the Dockerfile rebuilds, everything else syncs."""
    if dev.rules:
        return list(dev.rules)
    return [DevRule(paths=[dev.dockerfile], action="rebuild"), DevRule(paths=["**"], action="sync")]


@dataclass
class Decision:
    """What one cycle does for one service."""

    action: str  # sync, sync+exec, sync+restart, restart, rebuild; "" when nothing matched
    sync: list[str] = field(default_factory=list)  # changed paths that exist: copy them
    delete: list[str] = field(default_factory=list)  # changed paths that are gone: remove them
    execs: list[list[str]] = field(default_factory=list)  # sync+exec commands, in rule order
    unmatched: list[str] = field(default_factory=list)  # named once, never acted on
    trigger: str = ""  # the path that chose the action


def decide(changed: dict[str, bool], dev: Dev) -> Decision:
    """The action for a batch: ``changed`` maps each relative path to whether it still exists.

    Each path takes the first rule that matches; the batch takes the strongest action among its
    paths (rebuild > restart > sync+restart > sync+exec > sync). Paths no rule matches are listed
    and left alone.
    """
    rules = effective_rules(dev)
    decision = Decision("")
    for path in sorted(changed):
        rule = next((r for r in rules if any(matches(p, path) for p in r.paths)), None)
        if rule is None:
            decision.unmatched.append(path)
            continue
        if rule.action.startswith("sync"):
            (decision.sync if changed[path] else decision.delete).append(path)
        if rule.action == "sync+exec" and rule.exec and rule.exec not in decision.execs:
            decision.execs.append(list(rule.exec))
        if not decision.action or PRECEDENCE[rule.action] > PRECEDENCE[decision.action]:
            decision.action = rule.action
            decision.trigger = path
    return decision
