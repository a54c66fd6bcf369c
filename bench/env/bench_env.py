"""env benchmarks on the test bed: cold start vs docker compose, no-op start, status, logs --follow CPU.

    .venv/bin/python -m bench.env.bench_env [--runs 3] [--no-write]
    .venv/bin/python -m bench.env.bench_env --phases everyday --noop-runs 10   (issue 26: beside compose)

Needs tests/infra/up (engine, registry, Cassandra) and, for the comparison, docker compose v2 as a
CLI plugin. Debian bookworm only packages compose v1 (1.29, no ``--wait``), so build v2 from its Go
module once (about 7 minutes on 2 cores):

    go install github.com/docker/compose/v2/cmd@v2.29.7
    mkdir -p ~/.docker/cli-plugins && cp ~/go/bin/cmd ~/.docker/cli-plugins/docker-compose

Writes the ``env`` section of BENCHMARKS.md.

Fairness of the compose side: the compose file is generated from clikd's own resolved stack for a
branch (same images, environment, ports, dependencies); every container dependency waits for
``service_healthy``; health checks run the same kind of real query as clikd's probes (``psql
SELECT 1``, ``redis-cli PING``, HTTP GET /health) at a 0.5 s interval (Engine 20.10 has no
``start_interval``); ``up --wait``. The branch databases clikd creates on start are created by an
init script on the compose side. clikd runs with auto_migrate off (compose has no migrations).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any

from bench.record import user_environ

ROOT = Path(__file__).resolve().parents[2]
CLIKD = ROOT / ".venv" / "bin" / "clikd"
INFRA = ROOT / "tests" / "infra"
CONFIG = INFRA / "clikd.test.toml"
WORK = Path(tempfile.gettempdir()) / "clikd-bench-env"


def env(**extra: str) -> dict[str, str]:
    facts = json.loads((INFRA / "testbed.json").read_text())
    out = {k: v for k, v in user_environ().items() if not k.startswith("CLIKD_")}
    out.update(
        CLIKD_CONFIG=str(CONFIG),
        CLIKD_TESTBED_REGISTRY_PASSWORD=str(facts["registry"]["password"]),
        CLIKD_NO_PROMPT="1",
        CLIKD_DEVELOPMENT__AUTO_MIGRATE="false",
        COLUMNS="200",
    )
    out.update(extra)
    return out


def run(cmd: list[str], *, environ: dict[str, str] | None = None, check: bool = True) -> tuple[float, str]:
    began = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, env=environ or env(), capture_output=True, text=True, check=False)
    took = time.perf_counter() - began
    if check and done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return took, done.stdout


def clikd(*args: str, check: bool = True) -> tuple[float, str]:
    return run([str(CLIKD), *args], check=check)


def clikd_here(*args: str) -> tuple[float, str]:
    """The command run in-process (``CLIKD_SERVER=0``): what it costs without the warm server."""
    return run([str(CLIKD), *args], environ=env(CLIKD_SERVER="0"))


def compose_available() -> str | None:
    done = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True, check=False)
    return done.stdout.strip() if done.returncode == 0 else None


# ----------------------------------------------------------------------------- compose file


def compose_file(branch: str) -> Path:
    """docker-compose.yml equivalent to clikd's stack of ``branch``."""
    import yaml

    sys.path.insert(0, str(ROOT))
    os.environ["CLIKD_CONFIG"] = str(CONFIG)
    from tasks.core.branch import identity
    from tasks.core.config.loader import load
    from tasks.core.stack.spec import POSTGRES_ROLES, resolve

    settings = load(ROOT, env={"CLIKD_CONFIG": str(CONFIG)}).settings
    ident = identity(branch, project=settings.project.name)
    stack = resolve(settings, ident)
    WORK.mkdir(parents=True, exist_ok=True)
    init = WORK / "init.sql"
    init.write_text("".join(f'CREATE DATABASE "{ident.postgres_db(r)}";\n' for r in POSTGRES_ROLES))
    services: dict[str, Any] = {}
    # Every 5 s: compose needs health checks for --wait, and at 500 ms the nine of them (python3 and
    # redis-cli runs in the containers) kept one core about half busy, under both tools' timings.
    interval = {"interval": "5s", "timeout": "2s", "retries": 60}
    for name, comp in stack.components.items():
        if not comp.managed:
            continue
        svc: dict[str, Any] = {
            "image": comp.image,
            "environment": comp.environment,
            "ports": [f"127.0.0.1:{h}:{c}" for c, h in comp.ports.values()],
            "extra_hosts": ["host.docker.internal:host-gateway"],
            "pull_policy": "missing",
        }
        if comp.command:
            svc["command"] = comp.command
        deps = [d for d in comp.depends_on if stack.components[d].managed]
        if deps:
            svc["depends_on"] = {d: {"condition": "service_healthy"} for d in deps}
        if comp.kind == "postgres":
            svc["volumes"] = [
                f"{init}:/docker-entrypoint-initdb.d/10-branch.sql:ro",
                "pgdata:/var/lib/postgresql/data",
            ]
            user, password = comp.environment["POSTGRES_USER"], comp.environment["POSTGRES_PASSWORD"]
            test = f"PGPASSWORD={password} psql -h 127.0.0.1 -U {user} -d postgres -tAc 'SELECT 1' >/dev/null"
            svc["healthcheck"] = {"test": ["CMD-SHELL", test], **interval}
        elif comp.kind == "keydb":
            svc["volumes"] = ["keydbdata:/data"]
            svc["healthcheck"] = {"test": ["CMD", "redis-cli", "PING"], **interval}
        else:
            port = dict(comp.ports)[settings.services[name].health.port][0]
            probe = (
                "import sys,urllib.request;"
                f"r=urllib.request.urlopen('http://127.0.0.1:{port}/health',timeout=2);"
                "sys.exit(0 if r.status==200 else 1)"
            )
            svc["healthcheck"] = {"test": ["CMD", "python3", "-c", probe], **interval}
            if comp.volumes:
                svc["volumes"] = [f"{name}data:{path}" for path in comp.volumes.values()]
        services[name] = svc
    volumes: dict[str, dict[str, Any]] = {
        "pgdata": {},
        "keydbdata": {},
        **{f"{n}data": {} for n, c in stack.components.items() if c.volumes and c.role == "service"},
    }
    path = WORK / "docker-compose.yml"
    path.write_text(
        yaml.safe_dump({"name": "clikdbench", "services": services, "volumes": volumes}, sort_keys=False)
    )
    return path


def compose_cycle(path: Path) -> float:
    run(["docker", "compose", "-f", str(path), "down", "-v", "--remove-orphans"], check=False)
    took, _ = run(["docker", "compose", "-f", str(path), "up", "-d", "--wait", "--wait-timeout", "300"])
    run(["docker", "compose", "-f", str(path), "down", "-v", "--remove-orphans"])
    return took


def clikd_cold(branch: str, *flags: str) -> tuple[float, float]:
    clikd("env.stop", "--branch", branch, "--purge", "--yes", check=False)
    took, out = clikd("env.start", "--branch", branch, "--json", *flags)
    inside = float(json.loads(out)["seconds"])
    return took, inside


# ----------------------------------------------------------------------------- logs CPU


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])) / ticks


def follow_cpu(cmd: list[str], seconds: float) -> tuple[float, int]:
    """CPU seconds used by ``cmd`` (and children) over ``seconds``, and lines it printed."""
    out = WORK / "follow.out"
    with out.open("w") as sink:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env(), stdout=sink, stderr=subprocess.DEVNULL)
        time.sleep(3)  # start-up (imports, attach) is not the steady state
        before = cpu_seconds(proc.pid)
        lines_before = sum(1 for _ in out.open())
        time.sleep(seconds)
        used = cpu_seconds(proc.pid) - before
        lines = sum(1 for _ in out.open()) - lines_before
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    return used, lines


# ----------------------------------------------------------------------------- main


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def phase_cold(args: argparse.Namespace, results: dict[str, Any]) -> None:
    branch = "bench/cold"
    compose = compose_available()
    results["compose"] = compose
    path = compose_file("bench/compose") if compose else None
    cold: dict[str, list[float]] = {"clikd": [], "clikd_inside": [], "compose": []}
    for i in range(args.runs):
        print(f"cold run {i + 1}/{args.runs}", file=sys.stderr)
        wall, inside = clikd_cold(branch)
        cold["clikd"].append(wall)
        cold["clikd_inside"].append(inside)
        if path is not None:
            cold["compose"].append(compose_cycle(path))
    results["cold"] = cold


def phase_warm(args: argparse.Namespace, results: dict[str, Any]) -> None:
    branch = "bench/cold"
    clikd("env.start", "--branch", branch)
    noop = [clikd("env.start", "--branch", branch, "--json") for _ in range(args.noop_runs)]
    results["noop"] = {"wall": [t for t, _ in noop], "inside": [json.loads(o)["seconds"] for _, o in noop]}
    status = [clikd("env.status", "--branch", branch, "--json") for _ in range(args.noop_runs)]
    results["status"] = {
        "wall": [t for t, _ in status],
        "inside": [json.loads(o)["seconds"] for _, o in status],
    }
    clikd("env.stop", "--branch", branch, "--purge", "--yes")


def phase_follow(args: argparse.Namespace, results: dict[str, Any]) -> None:
    """logs --follow at a steady rate: auth writing --log-rate lines per second."""
    chatty = "bench/logs"
    override = WORK / "chatty.toml"
    tree = tomllib.loads(CONFIG.read_text())
    tree["services"]["auth"]["environment"]["CLIKD_REF_LOG_RATE"] = str(args.log_rate)
    sys.path.insert(0, str(INFRA))
    from render_config import dump  # type: ignore[import-not-found]

    override.write_text(dump(tree))
    chatty_env = env(CLIKD_CONFIG=str(override))
    run([str(CLIKD), "env.start", "--branch", chatty, "--only", "auth"], environ=chatty_env)
    import docker

    labels = [f"dev.clikd.branch={chatty}", "dev.clikd.service=auth"]
    name = next(c.name for c in docker.from_env().containers.list(filters={"label": labels}))
    cmd = [str(CLIKD), "env.logs", "--branch", chatty, "--service", "auth", "--follow", "--tail", "0"]
    cpu_clikd, lines_clikd = follow_cpu(cmd, args.follow_seconds)
    cpu_docker, lines_docker = follow_cpu(["docker", "logs", "-f", "--tail", "0", name], args.follow_seconds)
    results["follow"] = {
        "seconds": args.follow_seconds,
        "rate": args.log_rate,
        "clikd": {"cpu_s": cpu_clikd, "lines": lines_clikd},
        "docker_logs": {"cpu_s": cpu_docker, "lines": lines_docker},
    }
    run([str(CLIKD), "env.stop", "--branch", chatty, "--purge", "--yes"], environ=chatty_env, check=False)


def phase_status(args: argparse.Namespace, results: dict[str, Any]) -> None:
    """env.status alone, interleaved with a baseline checkout's clikd (--baseline) when given.

    This checkout runs three ways each round: with no kept counter sample (its own two readings),
    1.5 s after the previous run (compared with the sample that run kept: no wait), and right after
    the previous run (less than the 1 s window since its sample: waits for the rest of it).
    """
    branch = "bench/status"
    clikd("env.start", "--branch", branch)
    cache = WORK / "status-cache"
    cmd = ["env.status", "--branch", branch, "--json"]
    ways = ("baseline", "fresh", "kept", "again")
    out: dict[str, Any] = {w: {"wall": [], "inside": [], "window": []} for w in ways}
    out["baseline_cmd"] = args.baseline

    def one(way: str, exe: str) -> None:
        took, text = run([exe, *cmd], environ=env(XDG_CACHE_HOME=str(cache)))
        data = json.loads(text)
        out[way]["wall"].append(took)
        out[way]["inside"].append(data["seconds"])
        out[way]["window"].append(max((a.get("window_s") or 0) for a in data.get("activity", [])) or None)

    for i in range(args.noop_runs):
        print(f"status round {i + 1}/{args.noop_runs}", file=sys.stderr)
        if args.baseline:
            one("baseline", args.baseline)
        shutil.rmtree(cache, ignore_errors=True)
        one("fresh", str(CLIKD))
        time.sleep(1.5)  # someone reading the screen before asking again
        one("kept", str(CLIKD))
        one("again", str(CLIKD))
    results["status_ways"] = out
    clikd("env.stop", "--branch", branch, "--purge", "--yes")


def watch_cpu(branch: str, seconds: float) -> dict[str, Any]:
    """CPU used by ``env.status --watch`` in its steady state, and how far apart its frames come."""
    import fcntl
    import pty
    import struct
    import termios

    cmd = [str(CLIKD), "env.status", "--watch", "--branch", branch]
    leader, follower = pty.openpty()
    # A terminal tall enough for the whole dashboard: Live crops what does not fit, its last line
    # ("taken ...", the frame mark) first.
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 80, 160, 0, 0))
    # In-process: its CPU is this process's (served, the work is done in a fork of the server and
    # the caller only waits); the frames are the same code either way.
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env(CLIKD_SERVER="0"), stdin=follower, stdout=follower, stderr=follower
    )
    os.close(follower)
    frames: list[float] = []
    mark = b"taken"  # the dashboard's last line, once per frame
    buffer = b""
    began = time.monotonic()
    before = None
    import select

    while time.monotonic() - began < seconds + 3:
        ready, _, _ = select.select([leader], [], [], 0.2)
        if ready:
            try:
                buffer += os.read(leader, 65536)
            except OSError:
                break
            while mark in buffer:
                buffer = buffer.split(mark, 1)[1]
                frames.append(time.monotonic())
        if before is None and time.monotonic() - began >= 3:
            before = (cpu_seconds(proc.pid), time.monotonic())
    used = cpu_seconds(proc.pid) - before[0] if before else float("nan")
    span = time.monotonic() - before[1] if before else float("nan")
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    os.close(leader)
    steady = [b - a for a, b in itertools.pairwise(frames) if a - began >= 3]
    return {"cpu_s": used, "seconds": span, "gaps": steady}


def phase_everyday(args: argparse.Namespace, results: dict[str, Any]) -> None:
    """Issue 26: no-op start and status beside compose on a running stack, in one run, interleaved.

    Both stacks run at once (each on its own ports): clikd's branch bench/o-everyday and compose's
    project made from the same resolved stack. Each round times, one after the other: ``docker
    compose up -d --wait`` (nothing to do), ``clikd env.start`` (no-op), ``docker compose ps``,
    ``clikd env.status``, ``clikd env.status --json``, then start and status in-process
    (``CLIKD_SERVER=0``). Warm-up runs first (page cache, kept samples, the server started).
    """
    compose = compose_available()
    if compose is None:
        raise SystemExit("docker compose v2 is needed for --phases everyday (see the module docstring)")
    branch = "bench/o-everyday"
    clikd("env.start", "--branch", branch)
    path = compose_file("bench/o-compose")
    dc = ["docker", "compose", "-f", str(path)]
    run([*dc, "up", "-d", "--wait", "--wait-timeout", "300"])
    names = ("compose_up", "start", "compose_ps", "status", "status_json", "start_here", "status_here")
    ways: dict[str, list[float]] = {k: [] for k in (*names, "compose_version", "health_alone")}
    inside: dict[str, list[float]] = {"start": [], "status_json": []}
    for _ in range(2):  # warm-up
        run([*dc, "up", "-d", "--wait"])
        clikd("env.start", "--branch", branch)
        run([*dc, "ps"])
        clikd("env.status", "--branch", branch)
    # What status waits on and compose ps does not ask: each service's own /health, all at once,
    # fetched by curl (compiled, as compose is); and compose's start alone, for scale.
    services = json.loads(clikd("env.status", "--branch", branch, "--json")[1])["services"]
    health = [f"{s['url']}/health" for s in services if s.get("url")]
    curl = shutil.which("curl")
    fetch = [curl, "-s", "--parallel", "--parallel-immediate"] if curl else []
    for url in health:
        fetch += ["-o", os.devnull, url]
    for i in range(args.noop_runs):
        print(f"everyday round {i + 1}/{args.noop_runs}", file=sys.stderr)
        if curl and health:
            # answered fresh: the reference service keeps a /health answer for 0.5 s, and clikd's
            # last probes (the previous round's in-process status) are over a second ago by now
            ways["health_alone"].append(run(fetch)[0])
        ways["compose_up"].append(run([*dc, "up", "-d", "--wait"])[0])
        took, out = clikd("env.start", "--branch", branch, "--json")
        ways["start"].append(took)
        inside["start"].append(float(json.loads(out)["seconds"]))
        ways["compose_ps"].append(run([*dc, "ps"])[0])
        ways["status"].append(clikd("env.status", "--branch", branch)[0])
        took, out = clikd("env.status", "--branch", branch, "--json")
        ways["status_json"].append(took)
        inside["status_json"].append(float(json.loads(out)["seconds"]))
        ways["start_here"].append(clikd_here("env.start", "--branch", branch, "--json")[0])
        ways["status_here"].append(clikd_here("env.status", "--branch", branch)[0])
        ways["compose_version"].append(run(["docker", "compose", "version"])[0])
        time.sleep(1.0)  # for the next round's fresh /health answers
    results["everyday"] = {
        "compose": compose,
        "wall": ways,
        "inside": inside,
        "watch": watch_cpu(branch, args.watch_seconds),
        "load": os.getloadavg(),
    }
    run([*dc, "down", "-v", "--remove-orphans"], check=False)
    clikd("env.stop", "--branch", branch, "--purge", "--yes", check=False)


PHASES = {
    "cold": phase_cold,
    "warm": phase_warm,
    "follow": phase_follow,
    "status": phase_status,
    "everyday": phase_everyday,
}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--noop-runs", type=int, default=7)
    parser.add_argument("--follow-seconds", type=float, default=20.0)
    parser.add_argument("--log-rate", type=int, default=200)
    parser.add_argument("--watch-seconds", type=float, default=20.0)
    parser.add_argument("--phases", default="cold,warm,follow,status", help="which phases to run now")
    parser.add_argument(
        "--baseline", default="", help="another checkout's clikd, for env.status side by side"
    )
    parser.add_argument("--baseline-label", default="", help="what the baseline is, for BENCHMARKS.md")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    saved = WORK / "results.json"
    # Results of earlier phases are kept, so a phase can be rerun alone.
    results: dict[str, Any] = json.loads(saved.read_text()) if saved.is_file() else {}
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    if phases:  # (--phases "" only rewrites the section from the saved results)
        results["load_before"] = os.getloadavg()
    for name in phases:
        PHASES[name](args, results)
        results["load_after"] = os.getloadavg()
        saved.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    if not args.no_write and all(k in results for k in ("cold", "noop", "status", "follow")):
        write(results, args)
    if not args.no_write and "everyday" in results:
        write_everyday(results["everyday"], args)
    return 0


def write_everyday(e: dict[str, Any], args: argparse.Namespace) -> None:
    """The side-by-side table, as a block of its own inside the env section (the rest is kept)."""
    import re

    from bench.record import FILE, machine

    w = e["wall"]

    def cell(key: str) -> str:
        return f"{median(w[key]):.3f} s"

    def runs(key: str) -> str:
        return ", ".join(f"{v:.2f}" for v in w[key])

    up, ps = median(w["compose_up"]), median(w["compose_ps"])
    watch = e["watch"]
    gaps = watch["gaps"]
    cpu = 100 * watch["cpu_s"] / watch["seconds"] if watch["seconds"] else float("nan")
    rows = [
        "| command (full stack up, nothing to do) | wall median | ratio to compose | runs (s) |",
        "|---|---:|---:|---|",
        f"| `docker compose up -d --wait` | {cell('compose_up')} | 1.00x | {runs('compose_up')} |",
        f"| `clikd env.start` (no-op) | {cell('start')} | {median(w['start']) / up:.2f}x | {runs('start')} |",
        f"| `docker compose ps` | {cell('compose_ps')} | 1.00x | {runs('compose_ps')} |",
        f"| `clikd env.status` | {cell('status')} | {median(w['status']) / ps:.2f}x | {runs('status')} |",
        f"| `clikd env.status --json` | {cell('status_json')} | {median(w['status_json']) / ps:.2f}x "
        f"| {runs('status_json')} |",
    ]
    if w.get("health_alone"):
        rows.append(
            f"| the services' own `/health`, all at once, answered fresh (curl --parallel) "
            f"| {cell('health_alone')} "
            f"| {median(w['health_alone']) / ps:.2f}x | {runs('health_alone')} |"
        )
    if w.get("compose_version"):
        rows.append(
            f"| `docker compose version` (compose's start alone) | {cell('compose_version')} "
            f"| {median(w['compose_version']) / ps:.2f}x | {runs('compose_version')} |"
        )
    if w.get("start_here"):
        rows += [
            f"| `clikd env.start` (no-op), in-process (`CLIKD_SERVER=0`) | {cell('start_here')} "
            f"| {median(w['start_here']) / up:.2f}x | {runs('start_here')} |",
            f"| `clikd env.status`, in-process (`CLIKD_SERVER=0`) | {cell('status_here')} "
            f"| {median(w['status_here']) / ps:.2f}x | {runs('status_here')} |",
        ]
    body = (
        f"### Everyday commands beside docker compose (issue 26)\n\n"
        f"`python -m bench.env.bench_env --phases everyday --noop-runs {args.noop_runs}`, "
        f"{dt_now()} on {machine()}; {e['compose']}. Load average (1 min) at the end: "
        f"{e['load'][0]:.2f}. Both stacks up at once from the same resolved stack; each round runs the "
        "commands one after the other, after two warm-up rounds; clikd's rows go through its warm server "
        "(tasks/core/server) unless marked in-process. The ratios of start and status are "
        "to `up -d --wait` and `ps` respectively. Inside clikd (the result's own `seconds`): no-op start "
        f"{median(e['inside']['start']):.3f} s, status {median(e['inside']['status_json']):.3f} s.\n\n"
        + "\n".join(rows)
        + "\n\n`env.status --watch` (in-process, so that its CPU is measured) over "
        f"{watch['seconds']:.0f} s of its steady state: "
        f"{watch['cpu_s']:.2f} CPU s ({cpu:.1f}% of one core), {len(gaps)} frames, "
        f"{max(gaps) if gaps else float('nan'):.2f} s apart at most (median "
        f"{median(gaps):.2f} s).\n"
    )
    text = FILE.read_text(encoding="utf-8")
    block = f"<!-- env-everyday -->\n{body.strip()}\n<!-- /env-everyday -->"
    pattern = re.compile(r"<!-- env-everyday -->.*?<!-- /env-everyday -->", re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _m: block, text)
    else:
        text = text.replace("<!-- /env -->", block + "\n<!-- /env -->", 1)
    FILE.write_text(text, encoding="utf-8")


def dt_now() -> str:
    import datetime as dt

    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def write(r: dict[str, Any], args: argparse.Namespace) -> None:
    sys.path.insert(0, str(ROOT))
    from bench.record import write_section

    c = r["cold"]
    f = r["follow"]

    def row(what: str, values: list[float], digits: int) -> str:
        runs = ", ".join(f"{v:.{digits}f}" for v in values)
        return f"| {what} | {median(values):.{digits}f} s | {runs} |"

    rows = [
        "| measurement | median | runs |",
        "|---|---:|---|",
        row("cold start to all healthy, `clikd env.start` (wall)", c["clikd"], 1),
        row("same, inside clikd (after imports)", c["clikd_inside"], 1),
    ]
    if c["compose"]:
        rows.append(row("cold start to all healthy, `docker compose up -d --wait`", c["compose"], 1))
    n, s = r["noop"], r["status"]
    rows += [
        row("warm no-op `env.start` (wall)", n["wall"], 2),
        row("warm no-op `env.start`, inside clikd", n["inside"], 2),
        row("`env.status` (wall)", s["wall"], 2),
        row("`env.status`, inside clikd", s["inside"], 2),
    ]
    ways = r.get("status_ways")
    status_rows = ""
    if ways:
        label = {
            "baseline": f"{args.baseline_label or ways['baseline_cmd']} (baseline, same test config)",
            "fresh": "this checkout, no kept sample (two readings of its own)",
            "kept": "this checkout, 1.5 s after the previous run (its kept sample)",
            "again": "this checkout, right after the previous run (rest of the 1 s window)",
        }
        lines = [
            "| `env.status` | wall median | inside median | wall runs | rate window (s) |",
            "|---|---:|---:|---|---|",
        ]
        for way in ("baseline", "fresh", "kept", "again"):
            w = ways[way]
            if w["wall"]:
                windows = ", ".join(f"{x:.1f}" if x else "—" for x in w["window"])
                walls = ", ".join(f"{x:.2f}" for x in w["wall"])
                wall, inside = median(w["wall"]), median(w["inside"])
                lines.append(f"| {label[way]} | {wall:.2f} s | {inside:.2f} s | {walls} | {windows} |")
        status_rows = (
            "\nThe `env.status` rows above run back to back (each right after the previous one).\n"
            "`--phases status`: rounds of the ways below, in this order, on a branch with the full stack\n"
            "up (`--json`; *inside* is the snapshot's own `seconds`; the window is the longest rate window\n"
            "of the snapshot's databases).\n\n" + "\n".join(lines) + "\n"
        )
    secs = f["seconds"]
    cpu_c = 100 * f["clikd"]["cpu_s"] / secs
    cpu_d = 100 * f["docker_logs"]["cpu_s"] / secs
    body = f"""
`python -m bench.env.bench_env --runs {args.runs}` on the test bed: the full stack (Postgres and KeyDB
containers, five reference services, the CQL role played by the host's Cassandra), images present,
nothing running before each cold run. Compose: {r["compose"] or "not available: no comparison"}
(v2.29.7 built from its Go module: Debian ships only compose v1, without `--wait`); its
file is generated from clikd's resolved stack (same images, environment, ports, `depends_on` with
`service_healthy`), with real-query health checks (`psql SELECT 1`, `redis-cli PING`, HTTP /health) every
0.5 s, and `up -d --wait`. clikd ran with `auto_migrate` off and its default pull policy (it asks the registry
whether each service image changed; compose's `missing` does not).
Load average before/after: {r["load_before"][0]:.1f} / {r["load_after"][0]:.1f} (the machine is shared with
other work: absolute figures are noisy, the side-by-side runs alternate).

{chr(10).join(rows)}
{status_rows}
`env.logs --follow` at a steady {f["rate"]} lines/s from one service, over {secs:.0f} s, output to a file:
clikd used {f["clikd"]["cpu_s"]:.2f} CPU s ({cpu_c:.1f}% of one core) for {f["clikd"]["lines"]} lines;
`docker logs -f` on the same container used {f["docker_logs"]["cpu_s"]:.2f} CPU s ({cpu_d:.1f}%) for
{f["docker_logs"]["lines"]} lines.
"""  # noqa: S608  (Markdown that mentions SELECT, not SQL)
    write_section("env", "env: cold start, no-op start, status, logs --follow", body)


if __name__ == "__main__":
    raise SystemExit(main())
