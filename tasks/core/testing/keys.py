"""Content keys: what a test's result depends on, hashed, so an unchanged rerun can skip it.

A test's key covers the bytes of the spec (contract tests), the service's ``[services.NAME.test]``
table, the flags that change what runs (budget, seed), and what the service runs: its source tree
at the commit (plus any uncommitted change under it) when it runs from source under env.dev, else
the image ID of its container. The *inputs* digest is the same without the service identity: it is
what a deploy, which does not look at the local containers, compares with the commit's records.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import msgspec

from tasks.core.testing.model import Planned

KEY_VERSION = 1  # bump when what a key covers changes: every record turns stale at once


@dataclass(frozen=True)
class Keyed:
    """A planned test with its content key and the repository-side part of it."""

    planned: Planned
    key: str
    inputs: str  # spec + test config + budget: comparable at deploy time, without the stack
    identity: str  # image:<id> or tree:<git tree id>[+<hash of uncommitted changes>]


def _digest(doc: object) -> str:
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


def spec_bytes_digest(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return "missing"


def inputs_digest(planned: Planned, spec_digest: str, budget: dict[str, int]) -> str:
    """Spec, test table and budget of one test: what the repository decides about it."""
    doc = {
        "v": KEY_VERSION,
        "service": planned.service,
        "suite": planned.suite,
        "kind": planned.kind,
        "config": msgspec.to_builtins(planned.config),
        "spec": spec_digest if planned.kind == "contract" else "",
        "budget": budget if planned.kind == "contract" else {},
    }
    return _digest(doc)


def content_key(inputs: str, identity: str, extra: dict[str, str]) -> str:
    """``inputs`` plus what the service runs and the environment the test sees."""
    return _digest({"inputs": inputs, "identity": identity, "extra": extra})


def source_identity(source: Path) -> str:
    """``tree:<id>`` of ``source`` at HEAD, with a hash of its uncommitted changes when there are any."""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=source, capture_output=True, text=True, check=False, timeout=30
        )
        return done.stdout.strip() if done.returncode == 0 else ""

    tree = git("rev-parse", "HEAD:./") or "untracked"
    changed = git("status", "--porcelain", "--untracked-files=all", "--", ".")
    if not changed:
        return f"tree:{tree}"
    digest = hashlib.sha256(changed.encode())
    top = Path(git("rev-parse", "--show-toplevel") or source)
    for line in sorted(changed.splitlines()):
        path = top / line[3:].split(" -> ")[-1]
        try:
            digest.update(path.read_bytes() if path.is_file() else b"-")
        except OSError:
            digest.update(b"?")
    return f"tree:{tree}+{digest.hexdigest()[:16]}"


def head_commit(root: Path) -> tuple[str, bool]:
    """(HEAD commit, whether the tree has changes) of the project; ("", False) outside git."""

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, check=False, timeout=30
        )

    head = git("rev-parse", "HEAD")
    if head.returncode != 0:
        return "", False
    status = git("status", "--porcelain", "--untracked-files=normal")
    return head.stdout.strip(), bool(status.stdout.strip())
