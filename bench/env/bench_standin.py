"""env.standin on an empty cache, against the same recipe run by hand with the command-line tools.

    .venv/bin/python -m bench.env.bench_standin [--no-write]

Needs root (debootstrap), a Docker engine, Maven and network access to this machine's Debian
mirror and to Maven Central. Uses tags and caches of its own so nothing else is touched:

- clikd: ``clikd env.standin --prefix clikd-standin-bench`` with an empty cache folder and an empty
  Maven repository, then again warm, then ``clikd env.start`` of a branch on those images (stopped and
  purged afterwards);
- by hand: the same steps the way tests/infra/up does them (``debootstrap``, ``tar | docker import``,
  ``mvn dependency:copy-dependencies``, ``DOCKER_BUILDKIT=0 docker build`` of each image) under
  ``clikd-standin-peer``, also from empty caches.

Before and after measuring, images tagged ``clikd-standin-bench/…`` and ``clikd-standin-peer/…``
(and only those) are removed. Writes the ``standin`` section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.record import user_environ, write_section

ROOT = Path(__file__).resolve().parents[2]
CLIKD = ROOT / ".venv" / "bin" / "clikd"
WORK = Path(tempfile.gettempdir()) / "clikd-bench-standin"
PREFIXES = ("clikd-standin-bench", "clikd-standin-peer")
BRANCH = "bench/standin"


def remove_own_images() -> None:
    import docker

    client = docker.from_env()
    ours = [tag for image in client.images.list() for tag in image.tags if tag.split("/", 1)[0] in PREFIXES]
    # children before their base
    for tag in sorted(ours, key=lambda t: ("/base:" in t, t)):
        client.images.remove(tag)


def config_env(cache: Path) -> dict[str, str]:
    cfg = WORK / "config"
    cfg.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "clikd.toml", cfg / "clikd.toml")
    out = {k: v for k, v in user_environ().items() if not k.startswith("CLIKD_")}
    out.update(
        CLIKD_CONFIG=str(cfg / "clikd.toml"),
        CLIKD_NO_PROMPT="1",
        COLUMNS="200",
        MAVEN_OPTS=f"-Dmaven.repo.local={cache / 'm2'}",
    )
    return out


def timed(argv: list[str], env: dict[str, str], **kw: Any) -> tuple[float, subprocess.CompletedProcess[str]]:
    began = time.monotonic()
    done = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, check=False, **kw)
    seconds = time.monotonic() - began
    if done.returncode != 0:
        sys.exit(
            f"{' '.join(argv[:3])}… failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        )
    return seconds, done


def clikd_side() -> dict[str, Any]:
    cache = WORK / "clikd"
    env = config_env(cache)
    argv = [str(CLIKD), "env.standin", "--prefix", PREFIXES[0], "--cache", str(cache), "--json"]
    cold, done = timed(argv, env)
    steps = {s["name"]: s["seconds"] for s in json.loads(done.stdout)["steps"]}
    warm, _ = timed(argv, env)
    start, done = timed([str(CLIKD), "env.start", "--branch", BRANCH, "--json"], env)
    inside = json.loads(done.stdout)["seconds"]
    timed([str(CLIKD), "env.stop", "--branch", BRANCH, "--purge", "--yes"], env)
    return {"cold": cold, "steps": steps, "warm": warm, "start": start, "start_inside": inside}


def peer_side() -> dict[str, Any]:
    """The recipe by hand, as tests/infra/up runs it (its own tags and caches)."""
    from tasks.core.standin import BASE_PACKAGES, DEFAULT_PATH, TRIM, cassandra_version, debian_mirror

    cache = WORK / "peer"
    env = config_env(cache)
    env["DOCKER_BUILDKIT"] = "0"
    base = f"{PREFIXES[1]}/base:bookworm-1"
    infra = ROOT / "tests" / "infra"
    steps: dict[str, float] = {}
    began = time.monotonic()
    rootfs = cache / "rootfs"
    rootfs.mkdir(parents=True)
    (cache / "debootstrap").mkdir()
    t = time.monotonic()
    timed(
        [
            "debootstrap",
            "--variant=minbase",
            f"--include={BASE_PACKAGES}",
            f"--cache-dir={cache / 'debootstrap'}",
            "bookworm",
            str(rootfs),
            debian_mirror(),
        ],
        env,
    )
    for rel in TRIM:
        for child in (rootfs / rel).glob("*"):
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    tar = subprocess.Popen(["tar", "--numeric-owner", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    timed(
        [
            "docker",
            "import",
            "-c",
            "ENV PATH=/usr/lib/postgresql/15/bin:" + DEFAULT_PATH,
            "-c",
            "ENV LANG=C.UTF-8",
            "-c",
            'CMD ["/bin/bash"]',
            "-",
            base,
        ],
        env,
        stdin=tar.stdout,
    )
    tar.wait()
    shutil.rmtree(rootfs)
    steps["base"] = time.monotonic() - t

    def build(name: str, context: Path) -> None:
        t = time.monotonic()
        tag = f"{PREFIXES[1]}/{name}:x"
        timed(["docker", "build", "--build-arg", f"BASE_IMAGE={base}", "-t", tag, str(context)], env)
        steps[name] = time.monotonic() - t

    build("postgres", infra / "images" / "postgres")
    build("keydb", infra / "images" / "keydb")
    t = time.monotonic()
    version = cassandra_version(ROOT)
    ctx = cache / "cql"
    timed(
        [
            "mvn",
            "-B",
            "-q",
            "-f",
            str(infra / "cassandra" / "pom.xml"),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={ctx / 'lib'}",
        ],
        env,
    )
    (ctx / "conf").mkdir()
    shutil.copy(ROOT / "standin" / "cql" / "Dockerfile", ctx)
    shutil.copy(ROOT / "standin" / "cql" / "cassandra-entrypoint.sh", ctx)
    text = (infra / "cassandra" / "cassandra.yaml.in").read_text()
    for key, value in (
        ("@STATE_DIR@", "/var/lib/cassandra"),
        ("@CQL_PORT@", "9042"),
        ("@STORAGE_PORT@", "7000"),
    ):
        text = text.replace(key, value)
    (ctx / "conf" / "cassandra.yaml").write_text(text)
    for name in ("logback.xml", "jvm17.options"):
        shutil.copy(infra / "cassandra" / name, ctx / "conf")
    steps["maven"] = time.monotonic() - t
    build("cql", ctx)
    svc = cache / "service"
    svc.mkdir()
    shutil.copy(infra / "images" / "service" / "Dockerfile", svc)
    shutil.copy(infra / "refservice" / "refservice.py", svc)
    timed(
        [
            str(ROOT / ".venv" / "bin" / "python"),
            "-c",
            "import json, sys, yaml; "
            "json.dump(yaml.safe_load(open(sys.argv[1])), open(sys.argv[2], 'w'), default=str)",
            str(ROOT / "codegen" / "spec" / "clikd.openapi.yaml"),
            str(svc / "openapi.json"),
        ],
        env,
    )
    build("service", svc)
    return {"cold": time.monotonic() - began, "steps": steps, "version": version}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("debootstrap needs root")
    remove_own_images()
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    load = os.getloadavg()
    ours = clikd_side()
    peer = peer_side()
    after = os.getloadavg()
    shutil.rmtree(WORK, ignore_errors=True)
    remove_own_images()
    s, p = ours["steps"], peer["steps"]
    rows = [
        "| what | clikd env.standin | by hand (debootstrap, docker import/build, mvn) |",
        "|---|---:|---:|",
        f"| **whole build, empty caches** | **{ours['cold']:.1f} s** | {peer['cold']:.1f} s |",
        f"| base (debootstrap + import) | {s['base']:.1f} s | {p['base']:.1f} s |",
        f"| postgres | {s['postgres']:.1f} s | {p['postgres']:.1f} s |",
        f"| keydb | {s['keydb']:.1f} s | {p['keydb']:.1f} s |",
        f"| cql (Maven fetch + build) | {s['cql']:.1f} s | {p['maven'] + p['cql']:.1f} s |",
        f"| service | {s['service']:.1f} s | {p['service']:.1f} s |",
        f"| env.standin again (all present) | {ours['warm']:.1f} s | — |",
        f"| then `clikd env.start` (whole process; inside clikd: {ours['start_inside']:.1f} s) "
        f"| {ours['start']:.1f} s | — |",
    ]
    body = f"""`.venv/bin/python -m bench.env.bench_standin`: the first-run path without the Clikd registry,
`clikd env.standin` then `clikd env.start`, from empty caches (no debootstrap package cache, no Maven
repository, no image of either tag prefix), beside the same recipe run by hand with the command-line
tools the way tests/infra/up runs it. Both download the Debian packages (base: the test bed's
packages plus openjdk-17-jre-headless) and Cassandra {peer["version"]}'s jars. The start brings up all 8
components (Cassandra in a container as the CQL role), migrates and seeds.
Load average: {load[0]:.2f} before, {after[0]:.2f} after (the machine is shared with other builds).
One run of each: the Debian and Maven Central downloads dominate and vary from run to run with the
network, so differences of a few seconds per step are noise.

{chr(10).join(rows)}
"""
    print(body)
    if not args.no_write:
        write_section("standin", "First run without the registry: `env.standin` then `env.start`", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
