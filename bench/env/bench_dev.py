"""env.dev benchmarks, side by side with `docker compose watch` on the same service and files.

    .venv/bin/python -m bench.env.bench_dev [--changes 30] [--no-write]

Needs tests/infra/up (engine, the test bed's base image) and docker compose v2 as a CLI plugin (see
bench/env/bench_env.py for how to build it). The reference service (built here from the base image,
non-root USER) serves its www/ folder over HTTP and reads conf/app.conf once at start. Each change
writes a unique token and the harness polls the HTTP endpoint until the token is served: change →
served. Both tools watch the same source tree, which also holds a target/ folder of 3,000 folders
(a Rust build's worth) to show what the watcher registers.

The image runs as ``nobody`` (uid 65534), a non-root user that exists under the same name and uid on
this host too. That is what compose needs on this Engine (20.10): compose watch copies with
CopyUIDGID, and the daemon resolves the container's USER against the *host's* user database
(``idtools.LookupUser`` in daemon/archive_tarcopyoptions_unix.go), not the container's. A USER
that only the image knows, by name (``app``) or bare uid (``1234``), fails every sync with "getent
unable to find entry ... in passwd database", so compose never served a change. env.dev sets the
owner in the tar itself and works with any USER (tests/env/test_dev.py uses USER 1234).

serve.py exits on SIGTERM: as PID 1 without a handler Python ignores SIGTERM, and both tools restart
with a 10 s stop timeout, so every restart would measure the SIGKILL fallback instead of the tool.

Writes the ``env-dev`` section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from bench.record import user_environ, write_section

ROOT = Path(__file__).resolve().parents[2]
CLIKD = ROOT / ".venv" / "bin" / "clikd"
BASE = "clikd-testbed/base:bookworm-1"
IMAGE = "clikd-benchdev/web:1"
PORT = 18080
SOURCE_DIRS = 200
HEAVY_DIRS = 3000
LIMIT = 120.0
# The poller's first wait for an answer, doubled after each timeout: one request that hangs (a
# container's network coming up, see RESTART_NOTE) does not hold the poller for seconds.
FIRST_ATTEMPT = 0.25

DOCKERFILE = f"""FROM {BASE}
RUN mkdir -p /app && chown nobody:nogroup /app
WORKDIR /app
COPY --chown=nobody:nogroup serve.py requirements.txt /app/
COPY --chown=nobody:nogroup www /app/www
COPY --chown=nobody:nogroup conf /app/conf
USER nobody
CMD ["python3", "/app/serve.py"]
"""
SERVE = """import functools, http.server, os, signal, sys
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
port = int(os.environ.get("PORT", "18080"))
CONF = open("/app/conf/app.conf").read()


class Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path == "/conf":
            body = CONF.encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()


handler = functools.partial(Handler, directory="/app/www")
http.server.ThreadingHTTPServer(("0.0.0.0", port), handler).serve_forever()
"""


def make_source(folder: Path) -> None:
    (folder / "www").mkdir(parents=True)
    (folder / "conf").mkdir()
    (folder / "Dockerfile").write_text(DOCKERFILE)
    (folder / ".dockerignore").write_text("target\nsrc\n")
    (folder / "serve.py").write_text(SERVE)
    (folder / "requirements.txt").write_text("# manifest\n")
    (folder / "www" / "health").write_text("ok\n")
    (folder / "www" / "stamp.txt").write_text("start\n")
    (folder / "conf" / "app.conf").write_text("start\n")
    for i in range(SOURCE_DIRS):
        (folder / "src" / f"m{i}").mkdir(parents=True)
        (folder / "src" / f"m{i}" / "lib.rs").write_text("// x\n")
    for i in range(HEAVY_DIRS):
        (folder / "target" / "debug" / "deps" / f"d{i}").mkdir(parents=True)


def get(url: str, timeout: float = 5.0) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310  (local HTTP)
            return str(response.read().decode())
    except (urllib.error.URLError, OSError, http.client.HTTPException):
        return None


class StartEvents:
    """The engine's container start events, as they come, with the harness's clock."""

    def __init__(self) -> None:
        import threading

        import docker

        self.seen: list[tuple[str, float]] = []
        self.stream = docker.from_env().events(decode=True, filters={"type": "container", "event": "start"})
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for event in self.stream:
                name = str((event.get("Actor") or {}).get("Attributes", {}).get("name", ""))
                self.seen.append((name, time.perf_counter()))
        except Exception:  # noqa: S110  (closed by close())
            pass

    def started_since(self, name: str, since: float) -> bool:
        return any(n == name and t >= since for n, t in self.seen)

    def close(self) -> None:
        self.stream.close()


def served_after(path: Path, url: str, start: tuple[StartEvents, str] | None = None) -> float:
    """Write a unique token to ``path``; seconds until ``url`` serves it.

    With ``start`` (the events and a container name), polling begins once the engine has started
    that container again: see RESTART_NOTE.
    """
    token = uuid.uuid4().hex + "\n"
    began = time.perf_counter()
    path.write_text(token)
    end = began + LIMIT
    if start is not None:
        events, name = start
        while not events.started_since(name, began):
            if time.perf_counter() > end:
                raise SystemExit(f"{name} was not restarted within {LIMIT}s")
            time.sleep(0.002)
    attempt = FIRST_ATTEMPT
    while True:
        sent = time.perf_counter()
        if get(url, attempt) == token:
            return time.perf_counter() - began
        if time.perf_counter() - sent >= attempt:
            attempt = min(attempt * 2, 5.0)  # timed out: a slow answer gets longer next time
        if time.perf_counter() > end:
            raise SystemExit(f"{url} did not serve the change within {LIMIT}s")
        time.sleep(0.005)


def series(path: Path, url: str, changes: int, start: tuple[StartEvents, str] | None = None) -> list[float]:
    out = []
    for _ in range(changes):
        out.append(served_after(path, url, start))
        time.sleep(0.3)  # a person does not save twice in 300 ms; keeps one change per cycle
    return out


def restarts(path: Path, url: str, changes: int, container: str) -> dict[str, list[float]]:
    """sync+restart both ways: polling all along, and polling from the container's start event."""
    events = StartEvents()
    try:
        return {
            "restart": series(path, url, changes),
            "restart_started": series(path, url, changes, (events, container)),
        }
    finally:
        events.close()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def watches(pid: int) -> int:
    """inotify watches held by the process (and its children)."""
    total = 0
    pids = [pid, *children(pid)]
    for p in pids:
        fds = Path(f"/proc/{p}/fdinfo")
        try:
            for fd in fds.iterdir():
                try:
                    total += sum(1 for line in fd.read_text().splitlines() if line.startswith("inotify wd:"))
                except OSError:
                    continue
        except OSError:
            continue
    return total


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return found


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_cpu(pid: int, seconds: float = 20.0) -> float:
    """Percent of one core the process uses while nothing changes."""
    before = sum(cpu_seconds(p) for p in [pid, *children(pid)])
    time.sleep(seconds)
    after = sum(cpu_seconds(p) for p in [pid, *children(pid)])
    return 100 * (after - before) / seconds


def wait_for(check: Any, what: str) -> None:
    end = time.monotonic() + LIMIT
    while not check():
        if time.monotonic() > end:
            raise SystemExit(f"no {what} within {LIMIT}s")
        time.sleep(0.05)


def bench_clikd(work: Path, changes: int) -> dict[str, Any]:
    src = work / "mono" / "web"
    make_source(src)
    config = work / "clikd.toml"
    config.write_text(
        f"""[project]
monorepo_root = "{work / "mono"}"
[registry]
host = "127.0.0.1:5000"
use_gh_cli = false
[development]
auto_migrate = false
[services.web]
image = "{IMAGE}"
pull = "never"
ports = {{ http = {PORT} }}
environment = {{ PORT = "{PORT}" }}
health = {{ kind = "http", path = "/health", timeout = 60 }}
[services.web.dev]
watch = ["."]
rules = [
  {{ paths = ["requirements.txt", "Dockerfile"], action = "rebuild" }},
  {{ paths = ["conf/**"], action = "sync+restart" }},
  {{ paths = ["www/**", "src/**"], action = "sync" }},
]
"""
    )
    branch = f"bench/dev-{uuid.uuid4().hex[:6]}"
    environ = {k: v for k, v in user_environ().items() if not k.startswith("CLIKD_")}
    environ.update(CLIKD_CONFIG=str(config), CLIKD_NO_PROMPT="1", CLIKD_DEV_HOOKS=str(work / "hooks"))
    (work / "hooks").mkdir()
    subprocess.run(["docker", "build", "-q", "-t", IMAGE, str(src)], check=True, capture_output=True)
    up = subprocess.run(
        [str(CLIKD), "env.start", "--branch", branch],
        env=environ,
        capture_output=True,
        text=True,
        check=False,
    )
    if up.returncode:
        raise SystemExit(up.stderr)
    from tasks.core.branch import identity
    from tasks.core.config.loader import load
    from tasks.core.ports import host_ports

    settings = load(ROOT, env={"CLIKD_CONFIG": str(config)}).settings
    port = host_ports(settings, identity(branch, project=settings.project.name))["web.http"]
    proc = subprocess.Popen(
        [str(CLIKD), "env.dev", "web", "--json", "--branch", branch],
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for((work / "hooks" / "watching").exists, "clikd watching marker")
        url = f"http://127.0.0.1:{port}"
        result: dict[str, Any] = {
            "watches": watches(proc.pid),
            "idle_cpu": idle_cpu(proc.pid),
            "sync": series(src / "www" / "stamp.txt", f"{url}/stamp.txt", changes),
            **restarts(src / "conf" / "app.conf", f"{url}/conf", changes, clikd_container(branch)),
        }
        rebuilds = []
        for _ in range(5):
            cycles = work / "hooks" / "cycles.jsonl"
            before = len(cycles.read_text().splitlines())
            began = time.perf_counter()
            (src / "requirements.txt").write_text(f"# {uuid.uuid4().hex}\n")
            wait_for(lambda b=before, c=cycles: len(c.read_text().splitlines()) > b, "rebuild cycle")
            last = json.loads(cycles.read_text().splitlines()[-1])
            if last["result"] != "ok":
                raise SystemExit(f"rebuild failed: {last}")
            rebuilds.append(time.perf_counter() - began)
        result["rebuild"] = rebuilds
        return result
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        environ.pop("CLIKD_DEV_HOOKS")
        subprocess.run(
            [str(CLIKD), "env.stop", "--purge", "--yes", "--force", "--branch", branch],
            env=environ,
            capture_output=True,
            check=False,
        )


def bench_compose(work: Path, changes: int) -> dict[str, Any]:
    src = work / "web"
    make_source(src)
    port = PORT + 10000
    project = f"benchdev{uuid.uuid4().hex[:6]}"
    (work / "compose.yaml").write_text(
        f"""services:
  web:
    build: ./web
    image: clikd-benchdev/compose-web:1
    ports: ["127.0.0.1:{port}:{PORT}"]
    environment: {{ PORT: "{PORT}" }}
    develop:
      watch:
        - {{ action: rebuild, path: ./web/requirements.txt }}
        - {{ action: sync+restart, path: ./web/conf, target: /app/conf }}
        - {{ action: sync, path: ./web/www, target: /app/www }}
        - {{ action: sync, path: ./web/src, target: /app/src }}
"""
    )
    base = ["docker", "compose", "-p", project, "-f", str(work / "compose.yaml")]
    subprocess.run([*base, "up", "-d", "--build", "--wait"], check=True, capture_output=True)
    log = (work / "watch.log").open("w")
    proc = subprocess.Popen([*base, "watch", "--no-up"], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: "Watch enabled" in (work / "watch.log").read_text(), "compose 'Watch enabled'")
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: get(f"{url}/health") is not None, "compose service")
        result: dict[str, Any] = {
            "watches": watches(proc.pid),
            "idle_cpu": idle_cpu(proc.pid),
            "sync": series(src / "www" / "stamp.txt", f"{url}/stamp.txt", changes),
            **restarts(src / "conf" / "app.conf", f"{url}/conf", changes, compose_name(project)),
        }
        rebuilds = []
        for _ in range(5):
            before = compose_container(project)
            began = time.perf_counter()
            (src / "requirements.txt").write_text(f"# {uuid.uuid4().hex}\n")
            wait_for(
                lambda b=before: (
                    compose_container(project) not in (None, b) and get(f"{url}/health") is not None
                ),
                "compose rebuild (new container serving)",
            )
            rebuilds.append(time.perf_counter() - began)
        result["rebuild"] = rebuilds
        return result
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        subprocess.run([*base, "down", "-v", "--rmi", "local"], capture_output=True, check=False)


def clikd_container(branch: str) -> str:
    import docker

    found = docker.from_env().api.containers(filters={"label": [f"dev.clikd.branch={branch}"]})
    return str(found[0]["Names"][0]).lstrip("/")


def compose_name(project: str) -> str:
    import docker

    found = docker.from_env().api.containers(filters={"label": [f"com.docker.compose.project={project}"]})
    return str(found[0]["Names"][0]).lstrip("/")


def idle_five(work: Path) -> tuple[float, float]:
    """Idle CPU (% of a core, 20 s) of each tool's watcher over 5 services, nothing changing."""
    names = [f"web{i}" for i in range(1, 6)]
    services, compose_services = [], []
    for n, name in enumerate(names):
        make_source(work / "mono" / name)
        services.append(
            f"""[services.{name}]
image = "{IMAGE}"
pull = "never"
ports = {{ http = {PORT + 1 + n} }}
environment = {{ PORT = "{PORT + 1 + n}" }}
health = {{ kind = "http", path = "/health", timeout = 60 }}
[services.{name}.dev]
watch = ["."]
rules = [{{ paths = ["www/**", "src/**"], action = "sync" }}]
"""
        )
        compose_services.append(
            f"""  {name}:
    build: ./mono/{name}
    image: clikd-benchdev/compose-web:1
    environment: {{ PORT: "{PORT}" }}
    develop:
      watch:
        - {{ action: sync, path: ./mono/{name}/www, target: /app/www }}
        - {{ action: sync, path: ./mono/{name}/src, target: /app/src }}
"""
        )
    config = work / "clikd.toml"
    config.write_text(
        f"""[project]
monorepo_root = "{work / "mono"}"
[registry]
host = "127.0.0.1:5000"
use_gh_cli = false
[development]
auto_migrate = false
"""
        + "".join(services)
    )
    branch = f"bench/idle-{uuid.uuid4().hex[:6]}"
    environ = {k: v for k, v in user_environ().items() if not k.startswith("CLIKD_")}
    environ.update(CLIKD_CONFIG=str(config), CLIKD_NO_PROMPT="1", CLIKD_DEV_HOOKS=str(work / "hooks"))
    (work / "hooks").mkdir()
    subprocess.run(
        ["docker", "build", "-q", "-t", IMAGE, str(work / "mono" / "web1")], check=True, capture_output=True
    )
    up = subprocess.run(
        [str(CLIKD), "env.start", "--branch", branch],
        env=environ,
        capture_output=True,
        text=True,
        check=False,
    )
    if up.returncode:
        raise SystemExit(up.stderr)
    proc = subprocess.Popen(
        [str(CLIKD), "env.dev", ",".join(names), "--json", "--branch", branch],
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for((work / "hooks" / "watching").exists, "clikd watching marker")
        ours = idle_cpu(proc.pid)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        environ.pop("CLIKD_DEV_HOOKS")
        subprocess.run(
            [str(CLIKD), "env.stop", "--purge", "--yes", "--force", "--branch", branch],
            env=environ,
            capture_output=True,
            check=False,
        )
    (work / "compose.yaml").write_text("services:\n" + "".join(compose_services))
    project = f"benchidle{uuid.uuid4().hex[:6]}"
    base = ["docker", "compose", "-p", project, "-f", str(work / "compose.yaml")]
    subprocess.run([*base, "up", "-d", "--build", "--wait"], check=True, capture_output=True)
    log = (work / "watch.log").open("w")
    watcher = subprocess.Popen([*base, "watch", "--no-up"], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: "Watch enabled" in (work / "watch.log").read_text(), "compose 'Watch enabled'")
        theirs = idle_cpu(watcher.pid)
    finally:
        watcher.send_signal(signal.SIGINT)
        watcher.wait(timeout=60)
        subprocess.run([*base, "down", "-v", "--rmi", "local"], capture_output=True, check=False)
    return ours, theirs


def compose_container(project: str) -> str | None:
    """Id of the project's running web container (compose recreates it on a rebuild)."""
    import docker

    client = docker.from_env()
    try:
        found = client.containers.list(filters={"label": f"com.docker.compose.project={project}"})
        return found[0].id if found else None
    finally:
        client.close()


def row(name: str, clikd_v: list[float], compose_v: list[float] | None) -> str:
    def cell(values: list[float] | None) -> str:
        if not values:
            return "n/a"
        return f"{statistics.median(values) * 1000:.0f} / {pct(values, 0.95) * 1000:.0f} ms"

    return f"| {name} | {cell(clikd_v)} | {cell(compose_v)} |"


def goals(ours: dict[str, Any], idle5: float) -> list[str]:
    """Issue 12's goals against this run, clikd's side."""
    sync = statistics.median(ours["sync"]) * 1000
    restart = statistics.median(ours["restart_started"]) * 1000
    along = statistics.median(ours["restart"]) * 1000
    rebuild = statistics.median(ours["rebuild"]) * 1000
    folders = SOURCE_DIRS + 4  # src/m*, plus the root, src, www and conf

    def met(ok: bool) -> str:
        return "yes" if ok else "**no**"

    return [
        "Goals (issue 12) against this run (p50):",
        "",
        "| goal | clikd env.dev | met? |",
        "|---|---|---|",
        f"| change → file in container ≤ 250 ms | {sync:.0f} ms (served: the file is read per request) "
        f"| {met(sync <= 250)} |",
        f"| change → served, in-process reload ≤ 1.0 s | {sync:.0f} ms (same row) | {met(sync <= 1000)} |",
        f"| sync+restart ≤ 1.5 s | {restart:.0f} ms polled from the start ({along:.0f} ms polled all along) "
        f"| {met(restart <= 1500)} |",
        f"| warm rebuild ≤ 5 s | {rebuild:.0f} ms | {met(rebuild <= 5000)} |",
        f"| idle CPU of the watcher, 5 services ≤ 0.5 % | {idle5:.2f} % | {met(idle5 <= 0.5)} |",
        f"| inotify watches ≤ source folders + 10 | {ours['watches']} for {folders} source folders "
        f"| {met(ours['watches'] <= folders + 10)} |",
    ]


RESTART_NOTE = """Two sync+restart rows. Polled all along, a request sent while the engine
restarts the container makes its port proxy ask for the container's address before the container's
interface is up: the host's ARP entry for it goes INCOMPLETE and is retried only after 1 s
(`ip neigh` showed INCOMPLETE right after the restart; on the default bridge it did not happen). The
poller then sees the service up to a second late, whichever tool restarted it (measured by hand:
served 30-100 ms after the engine's restart returned when nothing polled during it, 620-790 ms when
something did). Polled from the start: the harness follows the engine's events and polls from the
container's start event on, for both tools; the goal is read on that row."""

NOTES = """Notes. This Engine (20.10) resolves the container's USER for compose's owner-keeping copy against
the host's user database: a USER the host lacks (`app`, `1234`) makes every compose sync fail with
"getent unable to find entry", so the reference image runs as `nobody` (same uid on host and image);
env.dev sets the owner in its own tar and does not depend on it. The served script exits on SIGTERM,
or both tools' restarts would measure the 10 s SIGKILL fallback. Compose registers few watches
because it watches only the paths its rules name. The harness waits 0.25 s for an answer at first,
doubling after each timeout (see FIRST_ATTEMPT)."""


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--changes", type=int, default=30)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument(
        "--idle5", action="store_true", help="only the idle CPU of both watchers over 5 services"
    )
    args = parser.parse_args()
    if args.idle5:
        work = Path(tempfile.mkdtemp(prefix="clikd-bench-idle-"))
        try:
            idle_ours, idle_theirs = idle_five(work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        print(f"| idle CPU of the watcher, 20 s, 5 services | {idle_ours:.2f} % | {idle_theirs:.2f} % |")
        return 0
    version = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True, check=False)
    if version.returncode:
        raise SystemExit("docker compose v2 is missing: see bench/env/bench_env.py for how to build it")
    work = Path(tempfile.mkdtemp(prefix="clikd-bench-dev-"))
    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    try:
        ours = bench_clikd(work / "clikd", args.changes)
        theirs = bench_compose(work / "compose", args.changes)
        idle_ours, idle_theirs = idle_five(work / "idle5")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load_after = " ".join(f"{x:.2f}" for x in os.getloadavg())
    lines = [
        f"`python -m bench.env.bench_dev --changes {args.changes}`: one reference service (non-root USER,",
        "built here from the test bed's base image) that serves its www/ folder and reads conf/app.conf",
        "at start.",
        "Each change writes a unique token; the harness polls HTTP until it is served (change → served).",
        f"Source tree: {SOURCE_DIRS} source folders plus a target/ of {HEAVY_DIRS} folders. "
        f"Compose: {version.stdout.strip()}, `watch --no-up` on the same files.",
        f"Load average (1/5/15 min) before: {load_before}, after: {load_after} (the machine is shared with",
        "other work: absolute figures are noisy).",
        "",
        "| metric (p50 / p95) | clikd env.dev | docker compose watch |",
        "|---|---|---|",
        row(f"change → served, sync ({args.changes} changes)", ours["sync"], theirs["sync"]),
        row(
            f"change → served, sync+restart, polled all along ({args.changes})",
            ours["restart"],
            theirs["restart"],
        ),
        row(
            f"change → served, sync+restart, polled from the container's start ({args.changes})",
            ours["restart_started"],
            theirs["restart_started"],
        ),
        row(
            "change → rebuilt, warm cache (5 changes; clikd: cycle ok, compose: new container serves)",
            ours["rebuild"],
            theirs["rebuild"],
        ),
        f"| inotify watches for the tree | {ours['watches']} | {theirs['watches']} |",
        f"| idle CPU of the watcher, 20 s, 1 service | {ours['idle_cpu']:.2f} % "
        f"| {theirs['idle_cpu']:.2f} % |",
        f"| idle CPU of the watcher, 20 s, 5 services | {idle_ours:.2f} % | {idle_theirs:.2f} % |",
        "",
        *goals(ours, idle_ours),
        "",
        RESTART_NOTE,
        "",
        NOTES,
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section("env-dev", "env.dev: live update against docker compose watch", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
