"""What the stand-in images are made of and called, and the configuration layer that points at them.

Every image is rebuilt when its recipe changes: a fingerprint of its files (tests/infra/images/*,
standin/*) and of the base image, kept in the image's labels.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from tasks.core.errors import Conflict
from tasks.core.standin.model import MARKER, STANDIN_OPERATIONS, StandinFailed, StandinOptions

if TYPE_CHECKING:
    from tasks.core.config.loader import LoadedConfig

# python3-grpcio: the reference service's gRPC health (its messages are hand-encoded, no protobuf code)
BASE_PACKAGES = (
    "postgresql-15,postgresql-client-15,redis-server,python3,python3-grpcio,ca-certificates,procps,"
    "netbase,openjdk-17-jre-headless"
)
# What a container never reads: docs, man pages, translations, apt lists, the package's own cluster.
TRIM = (
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
    "var/lib/apt/lists",
    "var/cache/apt/archives",
    "var/lib/postgresql/15/main",
    "etc/postgresql/15/main",
)
CQL_ROOT = "/var/lib/cassandra"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def cache_dir(options: StandinOptions) -> Path:
    if options.cache is not None:
        return options.cache
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "clikd" / "standin"


def tags(prefix: str, cql_version: str, services: list[str]) -> dict[str, str]:
    out = {
        "base": f"{prefix}/base:bookworm-1",
        "postgres": f"{prefix}/postgres:15",
        "keydb": f"{prefix}/keydb:6",
        "cql": f"{prefix}/cql:{cql_version}",
        "service": f"{prefix}/service:1",
    }
    out.update({f"service:{name}": f"{prefix}/{name}:latest" for name in services})
    return out


def recipe_root(root: Path) -> Path:
    """The folder of the test bed's image recipes (read, never changed here)."""
    return root / "tests" / "infra"


def cassandra_version(root: Path) -> str:
    pom = (recipe_root(root) / "cassandra" / "pom.xml").read_text(encoding="utf-8")
    found = re.search(r"<cassandra\.version>([^<]+)</cassandra\.version>", pom)
    if not found:
        raise StandinFailed("tests/infra/cassandra/pom.xml names no <cassandra.version>")
    return found.group(1)


def layer_path(config: LoadedConfig) -> Path:
    """Where the configuration layer goes: the local layer of the config in use."""
    main = config.path or (config.root / "clikd.toml")
    return main.with_name(f"{main.stem}.local.toml")


def check_layer_is_ours(path: Path) -> None:
    if path.is_file() and not path.read_text(encoding="utf-8").startswith(MARKER):
        raise Conflict(
            f"{path} exists and was not written by env.standin; it would be replaced",
            hint=f"move it aside (e.g. mv {path.name} {path.name}.mine), run env.standin again, "
            "then merge your keys back into it",
        )


def render_layer(
    images: dict[str, str],
    services: list[str],
    *,
    prefix: str,
    contract_tested: dict[str, list[str]] | None = None,
    s3: str = "",
) -> str:
    """The TOML layer that points the stack at the stand-in images.

    ``contract_tested``: service -> the operations clikd.toml has ``clikd test`` call ([] = all);
    the layer narrows them to those the stand-in fakes.
    """
    lines = [
        f"{MARKER} ({prefix}): the stack runs on locally built stand-in images.",
        "# Remove this file to use the images of clikd.toml again.",
        "",
        "[databases.postgres]",
        f'image = "{images["postgres"]}"',
        'pull = "never"',
        "",
        "[databases.keydb]",
        f'image = "{images["keydb"]}"',
        'pull = "never"',
        "",
        "[databases.scylla]",
        'mode = "container"',
        f'image = "{images["cql"]}"',
        'pull = "never"',
        f'volume_path = "{CQL_ROOT}"',
        "command = []",
        "timeout = 240",
    ]
    if s3:  # the object store's database name, when the project has one in a container
        lines += ["", f"[databases.{s3}]", f'image = "{images["s3"]}"', 'pull = "never"']
    tested = contract_tested or {}
    for name in services:
        lines += ["", f"[services.{name}]", f'image = "{images["service:" + name]}"', 'pull = "never"']
        if name in tested:
            faked = [op for op in STANDIN_OPERATIONS if op in (tested[name] or STANDIN_OPERATIONS)]
            lines += [
                "",
                f"[services.{name}.test]",
                "operations = [" + ", ".join(f'"{op}"' for op in faked) + "]",
            ]
    return "\n".join(lines) + "\n"


RECIPE_LABEL = "dev.clikd.standin.recipe"
# What each image is built from (relative to the repository): a change rebuilds the image.
RECIPE_FILES: dict[str, tuple[str, ...]] = {
    "postgres": ("tests/infra/images/postgres",),
    "keydb": ("tests/infra/images/keydb",),
    "cql": (
        "standin/cql",
        "tests/infra/cassandra/cassandra.yaml.in",
        "tests/infra/cassandra/logback.xml",
        "tests/infra/cassandra/jvm17.options",
        "tests/infra/cassandra/pom.xml",
    ),
    "s3": ("tests/infra/images/seaweedfs",),
    "service": (
        "tests/infra/images/service",
        "tests/infra/refservice/refservice.py",
        "tests/infra/refservice/refgrpc.py",
        "codegen/spec/clikd.openapi.yaml",
    ),
}


def base_fingerprint() -> str:
    """A digest of what the base is made from: a changed package list builds it again."""
    import hashlib

    made_of = "\0".join(("bookworm", "minbase", BASE_PACKAGES, *TRIM, DEFAULT_PATH))
    return hashlib.sha256(made_of.encode()).hexdigest()[:16]


def fingerprint(root: Path, role: str, base_id: str) -> str:
    """A digest of the image's recipe files (names, modes and contents) and of the base image it uses."""
    import hashlib

    digest = hashlib.sha256(f"{role}\0{base_id}\0".encode())
    for rel in RECIPE_FILES[role]:
        path = root / rel
        files = sorted(f for f in path.rglob("*") if f.is_file()) if path.is_dir() else [path]
        for file in files:
            if not file.is_file():
                digest.update(f"{file.relative_to(root)}\0missing\0".encode())
                continue
            executable = "x" if os.access(file, os.X_OK) else "-"
            digest.update(f"{file.relative_to(root)}\0{executable}\0".encode())
            digest.update(hashlib.sha256(file.read_bytes()).digest())
    return digest.hexdigest()[:16]


def debian_mirror() -> str:
    """The bookworm mirror this machine's apt uses (deb822 sources first, then sources.list)."""
    sources = Path("/etc/apt/sources.list.d")
    for path in sorted(sources.glob("*.sources")):
        for stanza in path.read_text(encoding="utf-8").split("\n\n"):
            fields = dict(
                (k.strip(), v.strip()) for k, _, v in (ln.partition(":") for ln in stanza.splitlines()) if k
            )
            if "bookworm" in fields.get("Suites", "").split() and fields.get("URIs"):
                return fields["URIs"].split()[0]
    for path in [Path("/etc/apt/sources.list"), *sorted(sources.glob("*.list"))]:
        if not path.is_file():
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            words = line.split()
            if len(words) >= 3 and words[0] == "deb" and words[2] == "bookworm":
                return words[1]
    # No host is assumed: the mirror is whatever this machine's apt is configured with.
    raise StandinFailed(
        "no Debian bookworm mirror is configured for apt on this machine",
        "add a bookworm source under /etc/apt/sources.list.d/ (debootstrap builds the base from it)",
    )
