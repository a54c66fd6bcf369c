"""env.standin: the local stand-in platform, for a first run without access to the Clikd registry.

Builds, on the local Docker engine, the images the test bed plays the platform with, under tags of
their own (``clikd-standin/…`` by default):

- ``base:bookworm-1``: a minimal Debian bookworm made with debootstrap and imported (the test bed's
  base, plus a Java 17 runtime for the CQL role);
- ``postgres:15`` and ``keydb:6``: the test bed's recipes (tests/infra/images/*), built FROM that base;
- ``cql:<version>``: Apache Cassandra playing ScyllaDB, its jars resolved once with Maven on this
  machine (tests/infra/cassandra/pom.xml), its configuration the test bed's, in a container;
- ``service:1``: the reference service (tests/infra/refservice) with the project's OpenAPI document,
  tagged once per service as ``<service>:latest``.

Then it writes the configuration layer that points the stack at those images with ``pull = "never"``:
``<config stem>.local.toml`` beside the config in use (``clikd.local.toml`` normally), so the next
``env.start`` starts the stand-in stack. No registry is involved: nothing is pulled. Every step
reports progress through ``on_event``. An image already present is kept when it was built from the
same recipe files and base, the base from the same package list (a fingerprint in its labels);
``rebuild`` builds everything again.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tasks.core.errors import ClikdError, Conflict, Unavailable
from tasks.core.stack.engine import stream_error
from tasks.core.stack.model import EventSink, StepEvent

if TYPE_CHECKING:
    import docker

    from tasks.core.config.loader import LoadedConfig

DEFAULT_PREFIX = "clikd-standin"
MARKER = "# Written by clikd env.standin"
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


class StandinFailed(ClikdError):
    title = "stand-in build failed"


@dataclass
class StandinStep:
    name: str
    image: str
    action: str  # built | present
    seconds: float


@dataclass
class StandinResult:
    prefix: str
    config_layer: str
    images: dict[str, str]  # role -> tag
    steps: list[StandinStep] = field(default_factory=list)
    seconds: float = 0.0
    next_command: str = "inv env.start"


@dataclass(frozen=True)
class StandinOptions:
    prefix: str = DEFAULT_PREFIX
    cache: Path | None = None
    rebuild: bool = False


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


def recipes(root: Path) -> Path:
    """The folder of the test bed's image recipes (read, never changed here)."""
    return root / "tests" / "infra"


def cassandra_version(root: Path) -> str:
    pom = (recipes(root) / "cassandra" / "pom.xml").read_text(encoding="utf-8")
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


# The operations of the Clikd API the reference service fakes (tests/infra/refservice): a contract
# test of any other answers 404, which the spec does not document.
STANDIN_OPERATIONS = ("register", "login", "getCurrentUser", "getUser", "getFeed")


def render_layer(
    images: dict[str, str],
    services: list[str],
    *,
    prefix: str,
    contract_tested: dict[str, list[str]] | None = None,
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


# ----------------------------------------------------------------------------- steps


class _Builder:
    def __init__(  # noqa: PLR0917  (all set once, by build() below)
        self,
        client: docker.DockerClient,
        root: Path,
        cache: Path,
        images: dict[str, str],
        on_event: EventSink,
        rebuild: bool,
    ) -> None:
        self.client = client
        self.root = root
        self.cache = cache
        self.images = images
        self.on_event = on_event
        self.rebuild = rebuild
        self.steps: list[StandinStep] = []
        self.recipes: dict[
            str, str
        ] = {}  # role -> fingerprint of its recipe and base, once the base is known
        self.logs = cache / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)

    def present(self, tag: str, recipe: str = "") -> bool:
        """Whether the engine has ``tag``, built from the same recipe when one is given."""
        from docker.errors import ImageNotFound

        try:
            found = self.client.api.inspect_image(tag)
        except ImageNotFound:
            return False
        labels = (found.get("Config") or {}).get("Labels") or {}
        return not recipe or labels.get(RECIPE_LABEL) == recipe

    def step(self, name: str, role: str, make: Callable[[], None], *, force: bool = False) -> None:
        tag = self.images[role]
        began = time.monotonic()
        recipe = self.recipes.get(role, "")
        if not force and not self.rebuild and self.present(tag, recipe):
            self.steps.append(StandinStep(name, tag, "present", 0.0))
            self.on_event(StepEvent(name, f"{name}: {tag} present", done=True))
            return
        self.on_event(StepEvent(name, f"{name}: building {tag}"))
        make()
        seconds = round(time.monotonic() - began, 1)
        self.steps.append(StandinStep(name, tag, "built", seconds))
        self.on_event(StepEvent(name, f"{name}: built {tag} in {seconds:.1f}s", done=True))

    # -- base

    def base(self) -> None:
        if os.geteuid() != 0:
            raise StandinFailed(
                "building the base image runs debootstrap, which needs root",
                hint="run env.standin as root once (sudo), or on a machine where you are root",
            )
        if shutil.which("debootstrap") is None:
            raise StandinFailed("debootstrap is not installed", hint="apt-get install debootstrap")
        rootfs = self.cache / "rootfs"
        log = self.logs / "debootstrap.log"
        _unmount_under(rootfs)
        shutil.rmtree(rootfs, ignore_errors=True)
        rootfs.mkdir(parents=True)
        (self.cache / "debootstrap").mkdir(exist_ok=True)
        argv = [
            "debootstrap",
            "--variant=minbase",
            f"--include={BASE_PACKAGES}",
            f"--cache-dir={self.cache / 'debootstrap'}",
            "bookworm",
            str(rootfs),
            debian_mirror(),
        ]
        try:
            self._run(argv, log, "base", r"^I: (Retriev|Validat|Extract|Unpack|Configur|Install)\w* ?(\S*)")
        finally:
            _unmount_under(rootfs)
        for rel in TRIM:
            target = rootfs / rel
            if target.is_dir():
                for child in target.iterdir():
                    if child.is_dir() and not child.is_symlink():
                        shutil.rmtree(child)
                    else:
                        child.unlink()
        self.on_event(StepEvent("base", "base: packing the root file system"))
        archive = self.cache / "rootfs.tar"
        with tarfile.open(archive, "w", format=tarfile.PAX_FORMAT) as tar:
            for child in sorted(rootfs.iterdir()):
                tar.add(child, arcname=child.name)
        self.on_event(StepEvent("base", f"base: importing {self.images['base']}"))
        repo, _, tag = self.images["base"].rpartition(":")
        self.client.api.import_image_from_file(
            str(archive),
            repository=repo,
            tag=tag,
            changes=[
                "ENV PATH=/usr/lib/postgresql/15/bin:" + DEFAULT_PATH,
                "ENV LANG=C.UTF-8",
                f"LABEL dev.clikd.standin.role=base dev.clikd.standin.prefix={repo.split('/')[0]} "
                f"{RECIPE_LABEL}={self.recipes.get('base', '')}",
                'CMD ["/bin/bash"]',
            ],
        )
        archive.unlink()
        shutil.rmtree(rootfs, ignore_errors=True)
        if not self.present(self.images["base"]):
            raise StandinFailed(f"the engine imported the root file system but has no {self.images['base']}")

    def _run(self, argv: list[str], log: Path, step: str, progress: str) -> None:
        """Run a tool, its output to ``log``, a progress event per matching line (at most 5 a second)."""
        pattern = re.compile(progress)
        last = 0.0
        count = 0
        with log.open("w", encoding="utf-8") as out:
            proc = subprocess.Popen(
                argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_tool_env()
            )
            for line in proc.stdout or ():
                out.write(line)
                hit = pattern.search(line)
                if hit:
                    count += 1
                    now = time.monotonic()
                    if now - last > 0.2:
                        last = now
                        self.on_event(StepEvent(step, f"{step}: {line.strip()[:70]} ({count})"))
            code = proc.wait()
        if code != 0:
            tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-15:]
            raise StandinFailed(
                f"{argv[0]} exited with {code} while building the {step} image",
                hint=f"read {log}",
                details=tail,
            )

    # -- thin images

    def build(self, role: str, context: Path) -> None:
        from docker.errors import APIError

        log = self.logs / f"build-{role}.log"
        error: str | None = None
        with log.open("w", encoding="utf-8") as out:
            try:
                stream = self.client.api.build(
                    path=str(context),
                    tag=self.images[role],
                    buildargs={"BASE_IMAGE": self.images["base"]},
                    rm=True,
                    forcerm=True,
                    decode=True,
                    labels={"dev.clikd.standin.role": role, RECIPE_LABEL: self.recipes.get(role, "")},
                )
                for event in stream:
                    error = stream_error(event) or error
                    text = str(event.get("stream") or "")
                    out.write(text)
                    if text.startswith("Step "):
                        self.on_event(StepEvent(role, f"{role}: {text.strip()[:70]}"))
            except APIError as exc:
                error = str(exc.explanation or exc)
        if context.is_relative_to(self.cache):  # an assembled context (the jars alone are 67 MB)
            shutil.rmtree(context, ignore_errors=True)
        if error:
            raise StandinFailed(f"building {self.images[role]} failed: {error}", hint=f"read {log}")

    def service_context(self) -> Path:
        ctx = self.cache / "context" / "service"
        shutil.rmtree(ctx, ignore_errors=True)
        ctx.mkdir(parents=True)
        infra = recipes(self.root)
        shutil.copy(infra / "images" / "service" / "Dockerfile", ctx / "Dockerfile")
        shutil.copy(infra / "refservice" / "refservice.py", ctx / "refservice.py")
        shutil.copy(infra / "refservice" / "refgrpc.py", ctx / "refgrpc.py")
        spec = self.root / "codegen" / "spec" / "clikd.openapi.yaml"
        if spec.is_file():
            import yaml

            doc = yaml.safe_load(spec.read_text(encoding="utf-8"))
            (ctx / "openapi.json").write_text(json.dumps(doc, indent=1, default=str) + "\n", encoding="utf-8")
        else:
            shutil.copy(infra / "images" / "service" / "openapi.placeholder.json", ctx / "openapi.json")
        return ctx

    def cql_jars(self, version: str) -> Path:
        lib = self.cache / f"cassandra-{version}" / "lib"
        if (lib / f"cassandra-all-{version}.jar").is_file():
            return lib
        if shutil.which("mvn") is None:
            raise StandinFailed(
                "Maven (mvn) is needed once to fetch Apache Cassandra's jars for the CQL role",
                hint="apt-get install maven (it brings Java), then run env.standin again",
            )
        partial = lib.with_name("lib.partial")
        shutil.rmtree(partial, ignore_errors=True)
        argv = [
            "mvn",
            "-B",
            "-Dstyle.color=never",
            "-f",
            str(recipes(self.root) / "cassandra" / "pom.xml"),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={partial}",
        ]
        self._run(argv, self.logs / "maven.log", "cql", r"Download(ed|ing) from")
        if not (partial / f"cassandra-all-{version}.jar").is_file():
            raise StandinFailed(f"Maven ran but did not produce cassandra-all-{version}.jar in {partial}")
        shutil.rmtree(lib, ignore_errors=True)
        partial.rename(lib)
        return lib

    def cql_context(self, version: str) -> Path:
        lib = self.cql_jars(version)
        ctx = self.cache / "context" / "cql"
        shutil.rmtree(ctx, ignore_errors=True)
        (ctx / "conf").mkdir(parents=True)
        here = self.root / "standin" / "cql"
        for name in ("Dockerfile", "cassandra-entrypoint.sh"):
            shutil.copy(here / name, ctx / name)
        infra = recipes(self.root) / "cassandra"
        yaml_in = (infra / "cassandra.yaml.in").read_text(encoding="utf-8")
        (ctx / "conf" / "cassandra.yaml").write_text(
            yaml_in.replace("@STATE_DIR@", CQL_ROOT)
            .replace("@CQL_PORT@", "9042")
            .replace("@STORAGE_PORT@", "7000"),
            encoding="utf-8",
        )
        shutil.copy(infra / "logback.xml", ctx / "conf" / "logback.xml")
        shutil.copy(infra / "jvm17.options", ctx / "conf" / "jvm17.options")
        shutil.copytree(lib, ctx / "lib")
        return ctx

    def tag_services(self, services: list[str]) -> None:
        for name in services:
            repo, _, tag = self.images[f"service:{name}"].rpartition(":")
            self.client.api.tag(self.images["service"], repo, tag)
        prefix = self.images["service"].split("/")[0]
        message = f"service: tagged as {prefix}/{{{','.join(services)}}}:latest"
        self.on_event(StepEvent("service", message, done=True))


def _tool_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("DEBIAN_FRONTEND", "noninteractive")
    return env


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


def _unmount_under(folder: Path) -> None:
    """Unmount what debootstrap left mounted below ``folder`` (deepest first)."""
    if not folder.is_dir():
        return
    prefix = str(folder.resolve()) + "/"
    mounts = [ln.split()[1] for ln in Path("/proc/mounts").read_text().splitlines() if len(ln.split()) > 1]
    for point in sorted((m for m in mounts if m.startswith(prefix)), reverse=True):
        subprocess.run(["umount", "-l", point], check=False, capture_output=True)


# ----------------------------------------------------------------------------- entry


def build(
    config: LoadedConfig,
    options: StandinOptions,
    *,
    on_event: EventSink,
) -> StandinResult:
    """Build the stand-in images (those missing, or all with ``rebuild``) and write the config layer."""
    from tasks.core.stack.engine import connect

    began = time.monotonic()
    root = config.root
    if not (recipes(root) / "images").is_dir():
        raise Unavailable(
            f"the stand-in recipes are missing ({recipes(root) / 'images'})",
            hint="run env.standin from a checkout of the clikd repository",
        )
    layer = layer_path(config)
    check_layer_is_ours(layer)
    services = [name for name, svc in config.settings.services.items() if svc.enabled]
    version = cassandra_version(root)
    images = tags(options.prefix, version, services)
    cache = cache_dir(options)
    cache.mkdir(parents=True, exist_ok=True)
    on_event(StepEvent("engine", "engine: connecting"))
    # long silent steps (importing the root file system, initdb in a build) outlast the usual 60 s
    client = connect(timeout=900)
    version_info: dict[str, Any] = client.api.version()
    on_event(StepEvent("engine", f"engine: Docker {version_info.get('Version', '?')}", done=True))

    b = _Builder(client, root, cache, images, on_event, options.rebuild)
    b.recipes = {"base": base_fingerprint()}
    b.step("base", "base", b.base)
    rebuilt_base = b.steps[-1].action == "built"
    base_id = str(client.api.inspect_image(images["base"])["Id"])
    b.recipes.update({role: fingerprint(root, role, base_id) for role in RECIPE_FILES})
    infra = recipes(root) / "images"
    b.step("postgres", "postgres", lambda: b.build("postgres", infra / "postgres"), force=rebuilt_base)
    b.step("keydb", "keydb", lambda: b.build("keydb", infra / "keydb"), force=rebuilt_base)
    b.step("cql", "cql", lambda: b.build("cql", b.cql_context(version)), force=rebuilt_base)
    b.step("service", "service", lambda: b.build("service", b.service_context()), force=rebuilt_base)
    b.tag_services(services)

    tested = {
        name: list(svc.test.operations)
        for name, svc in config.settings.services.items()
        if name in services and svc.test is not None and svc.test.openapi
    }
    text = render_layer(images, services, prefix=options.prefix, contract_tested=tested)
    layer.write_text(text, encoding="utf-8")
    on_event(StepEvent("config", f"config: wrote {layer.name}", done=True))
    return StandinResult(
        prefix=options.prefix,
        config_layer=str(layer),
        images=images,
        steps=b.steps,
        seconds=round(time.monotonic() - began, 1),
    )
