"""The build steps of env.standin: the base image from debootstrap, the thin images FROM it."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tarfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from tasks.core.stack.engine import stream_error
from tasks.core.stack.model import EventSink, StepEvent
from tasks.core.standin.model import StandinFailed, StandinStep
from tasks.core.standin.recipes import (
    BASE_PACKAGES,
    CQL_ROOT,
    DEFAULT_PATH,
    RECIPE_LABEL,
    TRIM,
    debian_mirror,
    recipe_root,
)

if TYPE_CHECKING:
    import docker


class Builder:
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
            self.run(argv, log, "base", r"^I: (Retriev|Validat|Extract|Unpack|Configur|Install)\w* ?(\S*)")
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

    def run(
        self, argv: list[str], log: Path, step: str, progress: str, *, env: dict[str, str] | None = None
    ) -> None:
        """Run a tool, its output to ``log``, a progress event per matching line (at most 5 a second)."""
        pattern = re.compile(progress)
        last = 0.0
        count = 0
        with log.open("w", encoding="utf-8") as out:
            proc = subprocess.Popen(
                argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env or _tool_env()
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
        infra = recipe_root(self.root)
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
            str(recipe_root(self.root) / "cassandra" / "pom.xml"),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={partial}",
        ]
        self.run(argv, self.logs / "maven.log", "cql", r"Download(ed|ing) from")
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
        infra = recipe_root(self.root) / "cassandra"
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


def _unmount_under(folder: Path) -> None:
    """Unmount what debootstrap left mounted below ``folder`` (deepest first)."""
    if not folder.is_dir():
        return
    prefix = str(folder.resolve()) + "/"
    mounts = [ln.split()[1] for ln in Path("/proc/mounts").read_text().splitlines() if len(ln.split()) > 1]
    for point in sorted((m for m in mounts if m.startswith(prefix)), reverse=True):
        subprocess.run(["umount", "-l", point], check=False, capture_output=True)
