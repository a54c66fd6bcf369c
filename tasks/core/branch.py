"""Branch identity: which git branch we act on, and every name derived from it.

Every name that depends on the branch (containers, networks, volumes, databases, the CQL keyspace,
the KeyDB prefix, the Kubernetes namespace, the host-port block) comes from :func:`identity`.
A name that had to be changed or shortened to be valid for its target gets a short stable hash of
the original branch appended, so two different branches never share a name.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from tasks.core.errors import UsageError

HASH_LEN = 10
PG_MAX = 63  # bytes, NAMEDATALEN - 1
CQL_MAX = 48
K8S_MAX = 63
DOCKER_SLUG_MAX = 48
BUCKET_MAX = 63  # S3 bucket names: 3-63 of [a-z0-9.-]
# Host ports of branches other than main: blocks of PORT_BLOCK ports from PORT_BASE upwards, all
# below 32768 where Linux (32768-60999) and macOS (49152-65535) hand out ephemeral ports: a client
# connection's local port there can take a branch's port between the pre-start check and the bind.
PORT_BASE = 10000
PORT_BLOCK = 20
PORT_BLOCKS = (32768 - PORT_BASE) // PORT_BLOCK  # 1138

_HASHED_TAIL = re.compile(rf"[_-][0-9a-f]{{{HASH_LEN}}}$")


@dataclass(frozen=True)
class BranchSource:
    """Where the branch name came from, and what clikd did to get it."""

    name: str
    origin: str  # "flag", "env", "git", "detached", "unborn", "no-repo"
    note: str | None = None


def short_hash(branch: str) -> str:
    return hashlib.sha256(branch.encode("utf-8", "surrogatepass")).hexdigest()[:HASH_LEN]


def _fit(raw: str, allowed: str, sep: str, limit: int) -> str:
    """Make ``raw`` valid under ``allowed`` (a regex character class) within ``limit`` characters.

    When the result differs from ``raw`` (or could be mistaken for a hashed name), the hash of the
    original is appended; a name is only ever used as-is when it was already valid.
    """
    clean = re.sub(f"[^{allowed}]+", sep, raw.lower()).strip(sep)
    changed = clean != raw or not clean or _HASHED_TAIL.search(raw) is not None
    if not changed and len(clean) <= limit:
        return clean
    room = limit - HASH_LEN - 1
    head = clean[:room].rstrip(sep)
    return f"{head or 'b'}{sep}{short_hash(raw)}"


@dataclass(frozen=True)
class BranchIdentity:
    """All branch-dependent names of one project's branch."""

    branch: str
    is_main: bool
    slug: str  # docker-safe: [a-z0-9-]
    ident: str  # identifier-safe: [a-z0-9_]
    project: str

    # Docker
    def container(self, service: str) -> str:
        return f"{self.project}-{self.slug}-{service}"

    @property
    def network(self) -> str:
        return f"{self.project}-{self.slug}"

    def volume(self, service: str, name: str = "data") -> str:
        return f"{self.project}-{self.slug}-{service}-{name}"

    # This machine's bookkeeping (tasks/core/locking.py): one file name per project and branch
    @property
    def lock_file(self) -> str:
        """The per-branch lock every task that changes the branch's local state holds."""
        return f"{self.project}-{self.slug}.lock"

    @property
    def pending_file(self) -> str:
        """Says an env.start owes its migrate/seed: the next start finishes what an interrupted one began."""
        return f"{self.project}-{self.slug}.pending.json"

    # Stores
    def postgres_db(self, role: str) -> str:
        return f"{self.project}_{role}_{self.ident}"

    def postgres_standby(self, role: str) -> str:
        """db.reset's standby copy of the role's template for this branch (tasks/core/db/standby.py)."""
        return standby_db(self.project, self.postgres_db(role))

    @property
    def keyspace(self) -> str:
        return f"{self.project}_{self.ident}"

    @property
    def key_prefix(self) -> str:
        return f"{self.project}_{self.ident}:"

    @property
    def bucket(self) -> str:
        """The branch's S3 bucket: ``<project>-<slug>``, a valid bucket name of at most 63 characters."""
        name = f"{self.project}-{self.slug}"  # both already [a-z0-9-]: only the length can be wrong
        return name if len(name) <= BUCKET_MAX else _fit(name, "a-z0-9", "-", BUCKET_MAX)

    @property
    def key_pattern(self) -> str:
        """The SCAN pattern that matches exactly this branch's keys."""
        return glob_escape(self.key_prefix) + "*"

    # Kubernetes
    def namespace(self, prefix: str) -> str:
        return k8s_label(f"{prefix}-{self.branch}") if prefix else k8s_label(self.branch)

    # Host ports
    @property
    def port_block(self) -> int | None:
        """The first host port of this branch's block; None for main, which keeps the plan's ports."""
        if self.is_main:
            return None
        return PORT_BASE + (int(short_hash(self.branch), 16) % PORT_BLOCKS) * PORT_BLOCK


def standby_db(project: str, database: str) -> str:
    """The standby copy kept for ``database``: short, and the same for the same database name."""
    return f"{project}_sb_{hashlib.sha256(database.encode('utf-8')).hexdigest()[:16]}"


def glob_escape(text: str) -> str:
    """Escape Redis glob metacharacters so a SCAN MATCH pattern matches ``text`` literally."""
    return re.sub(r"([*?\[\]\\^])", r"\\\1", text)


def k8s_label(raw: str) -> str:
    """A DNS-1123 label: ``[a-z0-9]([-a-z0-9]*[a-z0-9])?``, at most 63 characters."""
    return _fit(raw, "a-z0-9", "-", K8S_MAX)


def identity(branch: str, *, project: str = "clikd", main_branch: str = "main") -> BranchIdentity:
    """Derive every name of ``branch``; the single source of branch-dependent names."""
    if branch == "" or "\x00" in branch:
        raise UsageError(f"{branch!r} is not a usable branch name", hint="pass --branch NAME")
    ident_limit = min(PG_MAX - len(project) - len("_auth_") - 2, CQL_MAX - len(project) - 1)
    return BranchIdentity(
        branch=branch,
        is_main=branch == main_branch,
        slug=_fit(branch, "a-z0-9", "-", DOCKER_SLUG_MAX),
        ident=_fit(branch, "a-z0-9", "_", ident_limit),
        project=project,
    )


def detect(start: Path, *, flag: str | None = None, main_branch: str = "main") -> BranchSource:
    """Find the branch to act on: ``--branch``, then ``CLIKD_BRANCH``, then git."""
    if flag:
        return BranchSource(flag, "flag", f"acting on branch {flag!r} (from --branch)")
    env = os.environ.get("CLIKD_BRANCH")
    if env:
        return BranchSource(env, "env", f"acting on branch {env!r} (from CLIKD_BRANCH)")
    import git

    try:
        repo = git.Repo(start, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return BranchSource(
            main_branch,
            "no-repo",
            f"{start} is not in a git repository; acting on branch {main_branch!r} "
            "(set CLIKD_BRANCH or pass --branch to choose another)",
        )
    head = repo.head
    if head.is_detached:
        sha = head.commit.hexsha[:12]
        name = f"detached-{sha}"
        return BranchSource(
            name, "detached", f"HEAD is detached at {sha}; acting on {name!r} (pass --branch to choose)"
        )
    ref = head.reference.name  # works for an unborn branch too: HEAD still names it
    if not head.is_valid():
        return BranchSource(ref, "unborn", f"branch {ref!r} has no commits yet; acting on it anyway")
    return BranchSource(ref, "git")
