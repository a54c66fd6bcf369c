"""Migration and seed files: where they live, how they are named, checksummed and fingerprinted.

Layout (relative to the project root)::

    migrations/postgres/auth/20260101090000_accounts_and_credentials.sql
    migrations/postgres/main/20260101090000_users_and_profiles.sql
    migrations/scylla/20260101090000_feed_and_timeline.cql
    migrations/keydb/20260101090000_namespaces.redis

A file's version is its 14-digit UTC timestamp; the rest of the name is its description. The checksum
is SHA-384 of the text with line endings normalised to ``\\n`` (and a byte-order mark dropped), so a
checkout with CRLF endings is not mistaken for a changed migration.

Migrations may come from the working tree or from any git revision (``db.diff`` builds another
branch's schema from that branch's files), through :class:`Source`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tasks.core.errors import ClikdError, UsageError

# The store names users type (--store) and the folder and suffix of each.
STORES: dict[str, tuple[str, str]] = {
    "auth": ("migrations/postgres/auth", ".sql"),
    "main": ("migrations/postgres/main", ".sql"),
    "scylla": ("migrations/scylla", ".cql"),
    "keydb": ("migrations/keydb", ".redis"),
}
POSTGRES_ROLES = ("auth", "main")
NAME = re.compile(r"^(?P<version>\d{14})_(?P<slug>[a-z0-9][a-z0-9_]*)$")
NO_TRANSACTION = re.compile(r"^\s*--\s*clikd:no-transaction\b", re.M)
# Bumped when the way migrations or seeds are applied changes, so cached templates are rebuilt.
ENGINE_VERSION = "1"


def normalise(raw: bytes | str) -> str:
    text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    return text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def checksum(text: str) -> bytes:
    return hashlib.sha384(normalise(text).encode("utf-8")).digest()


@dataclass(frozen=True)
class Migration:
    store: str
    version: int
    description: str
    path: str  # relative to the project root (or the git tree)
    text: str = field(repr=False)
    checksum: bytes = field(repr=False)

    @property
    def name(self) -> str:
        return Path(self.path).name

    @property
    def transactional(self) -> bool:
        """False when the file opts out with a ``-- clikd:no-transaction`` line (Postgres only)."""
        return NO_TRANSACTION.search(self.text) is None


class MigrationFileError(ClikdError):
    title = "bad migration file"


class Source:
    """Files under the project root: the working tree, or a git revision of it."""

    def __init__(self, root: Path, rev: str | None = None) -> None:
        self.root = root
        self.rev = rev

    @property
    def label(self) -> str:
        return f"git {self.rev}" if self.rev else str(self.root)

    def files(self, folder: str) -> list[tuple[str, str]]:
        """(relative path, normalised text) of the files directly in ``folder``, sorted by name."""
        if self.rev is None:
            base = self.root / folder
            if not base.is_dir():
                return []
            return [
                (f"{folder}/{p.name}", normalise(p.read_bytes()))
                for p in sorted(base.iterdir())
                if p.is_file()
            ]
        return list(self._git_files(folder))

    def _git_files(self, folder: str) -> Iterable[tuple[str, str]]:
        import git

        try:
            repo = git.Repo(self.root, search_parent_directories=True)
            commit = repo.commit(self.rev)
        except (git.BadName, ValueError, git.InvalidGitRepositoryError) as exc:
            raise UsageError(
                f"git does not know the revision {self.rev!r}",
                hint="name a branch that exists locally (git branch --list)",
            ) from exc
        prefix = Path(self.root).resolve().relative_to(Path(repo.working_tree_dir or self.root).resolve())
        path = (prefix / folder).as_posix().lstrip("./") if str(prefix) != "." else folder
        try:
            tree = commit.tree / path
        except KeyError:
            return
        for blob in sorted(tree.blobs, key=lambda b: b.name):
            yield f"{folder}/{blob.name}", normalise(blob.data_stream.read())


def load(source: Source, store: str) -> list[Migration]:
    """The migrations of ``store`` in version order; refuses misnamed files and duplicate versions."""
    folder, suffix = STORES[store]
    found: dict[int, Migration] = {}
    for path, text in source.files(folder):
        name = Path(path).name
        if name.startswith(".") or name.lower() in ("readme.md", ".gitkeep"):
            continue
        stem = name[: -len(suffix)] if name.endswith(suffix) else None
        m = NAME.match(stem or "")
        if stem is None or m is None:
            raise MigrationFileError(
                f"{path} is not named like a migration",
                hint=f"name it YYYYMMDDHHMMSS_description{suffix} (inv db.new NAME --store {store})",
            )
        version = int(m["version"])
        if version in found:
            raise MigrationFileError(
                f"{path} and {found[version].path} share the version {version}",
                hint="give one of them a later timestamp",
            )
        found[version] = Migration(
            store=store,
            version=version,
            description=m["slug"].replace("_", " "),
            path=path,
            text=text,
            checksum=checksum(text),
        )
    return [found[v] for v in sorted(found)]


def fingerprint(parts: Iterable[tuple[str, str]]) -> str:
    """A short stable hash over (path, text) pairs and the engine version."""
    h = hashlib.sha256(f"clikd-db-engine:{ENGINE_VERSION}\n".encode())
    for path, text in sorted(parts):
        h.update(path.encode("utf-8") + b"\0" + normalise(text).encode("utf-8") + b"\0")
    return h.hexdigest()[:16]


SLUG = re.compile(r"[^a-z0-9]+")


def new_migration(root: Path, store: str, name: str, *, now: dt.datetime | None = None) -> Path:
    """Create the next migration file of ``store`` from its template; returns its path."""
    if store not in STORES:
        raise UsageError(f"unknown store {store!r}", hint=f"pick one of {', '.join(STORES)}")
    slug = SLUG.sub("_", name.lower()).strip("_")
    if not slug:
        raise UsageError(f"{name!r} gives an empty file name", hint="use letters or digits in NAME")
    folder, suffix = STORES[store]
    base = root / folder
    base.mkdir(parents=True, exist_ok=True)
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%d%H%M%S")
    existing = [int(p.name[:14]) for p in base.iterdir() if p.name[:14].isdigit()]
    version = int(stamp)
    if existing and version <= max(existing):
        version = max(existing) + 1  # keep the new file last even with a skewed clock
    path = base / f"{version}_{slug}{suffix}"
    path.write_text(TEMPLATES[store].format(name=name, version=version), encoding="utf-8")
    return path


_PG_TEMPLATE = (
    "-- {name}\n-- Runs in one transaction together with its history row. For statements that cannot\n"
    "-- (CREATE INDEX CONCURRENTLY), put this line first: -- clikd:no-transaction\n\n"
)
TEMPLATES = {
    "auth": _PG_TEMPLATE,
    "main": _PG_TEMPLATE,
    "scylla": "-- {name}\n-- CQL has no transactional DDL: write every statement so that it can run twice\n"
    "-- (CREATE TABLE IF NOT EXISTS, ALTER ... ADD only once). Tables live in the branch's keyspace;\n"
    "-- do not name a keyspace.\n\n",
    "keydb": "# {name}\n# One Redis command per line (shell-like quoting). Every command must name a key\n"
    "# under {{prefix}}, the branch's key prefix, e.g.:\n# HSET {{prefix}}meta:namespaces auth 1\n\n",
}
