"""env.status: memory and CPU of the branch's containers.

Read from each container's cgroup when the engine runs on this machine (instant), else from the
stats API (which Engine 20.10 answers only once a second). CPU is a rate, so it needs an earlier
reading: the one a previous run kept for the same container (same id and start time, so a restart
is never compared across) when it is ``CPU_SAMPLE_S`` to ``MAX_AGE_S`` old, else one of its own
``CPU_SAMPLE_S`` before.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import docker

    from tasks.core.branch import BranchIdentity

CPU_SAMPLE_S = 0.25
MAX_AGE_S = 300.0
KEEP = 4  # readings kept per container
CGROUP = Path("/sys/fs/cgroup")


def _cgroup_files(cid: str) -> tuple[Path, Path, bool] | None:
    """(CPU usage file, memory folder, is v2) of a container when this machine runs the engine."""
    v1 = (CGROUP / "cpuacct" / "docker" / cid / "cpuacct.usage", CGROUP / "memory" / "docker" / cid)
    if v1[0].is_file():
        return v1[0], v1[1], False
    scope = CGROUP / "system.slice" / f"docker-{cid}.scope"
    if (scope / "cpu.stat").is_file():
        return scope / "cpu.stat", scope, True
    return None


def _cgroup_read(files: tuple[Path, Path, bool]) -> tuple[float, int | None]:
    """(CPU seconds used so far, memory bytes without the page cache)."""
    cpu_file, mem_dir, v2 = files
    if v2:
        usec = next(
            int(ln.split()[1]) for ln in cpu_file.read_text().splitlines() if ln.startswith("usage_usec")
        )
        used, stat_name, cache_key = usec / 1e6, "memory.current", "inactive_file"
    else:
        used, stat_name, cache_key = (
            int(cpu_file.read_text()) / 1e9,
            "memory.usage_in_bytes",
            "total_inactive_file",
        )
    try:
        usage = int((mem_dir / stat_name).read_text())
        stats = dict(ln.split() for ln in (mem_dir / "memory.stat").read_text().splitlines())
        memory: int | None = usage - int(stats.get(cache_key, 0))
    except (OSError, ValueError):
        memory = None
    return used, memory


class Kept:
    """The branch's last CPU readings per container, kept between runs (best effort)."""

    def __init__(self, ident: BranchIdentity) -> None:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        self.path = base / "clikd" / "status" / f"{ident.project}-{ident.slug}.cpu.json"
        try:
            data = json.loads(self.path.read_text())
            self.data: dict[str, Any] = data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            self.data = {}
        self.fresh: dict[str, Any] = {}

    def earlier(self, cid: str, started: str, now: float) -> tuple[float, float] | None:
        """(wall time, CPU seconds) of the newest kept reading old enough to compare with."""
        entry = self.data.get(cid)
        if not isinstance(entry, dict) or entry.get("started") != started:
            return None
        for wall, cpu in entry.get("readings") or []:
            if CPU_SAMPLE_S <= now - float(wall) <= MAX_AGE_S:
                return float(wall), float(cpu)
        return None

    def add(self, cid: str, started: str, wall: float, cpu: float) -> None:
        entry = self.data.get(cid)
        same = isinstance(entry, dict) and entry.get("started") == started
        before = (entry.get("readings") or []) if same and isinstance(entry, dict) else []
        self.fresh[cid] = {"started": started, "readings": [[wall, cpu], *before][:KEEP]}

    def save(self) -> None:
        """Only the containers read this run stay: a removed container's readings go with it."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".cpu-", dir=self.path.parent)
            with os.fdopen(fd, "w") as fh:
                json.dump(self.fresh, fh)
            Path(tmp).replace(self.path)
        except OSError:
            pass  # only the next run's shortcut is lost


def stats(
    client: docker.DockerClient, cid: str, started: str, kept: Kept | None
) -> tuple[int | None, float | None]:
    """(memory bytes, CPU percent) of one running container."""
    files = _cgroup_files(cid)
    if files is not None:
        try:
            cpu1, memory = _cgroup_read(files)
            now = time.time()
            prev = kept.earlier(cid, started, now) if kept is not None else None
            if prev is None:
                time.sleep(CPU_SAMPLE_S)
                cpu0, (cpu1, memory) = cpu1, _cgroup_read(files)
                prev, now = (now, cpu0), time.time()
            if kept is not None:
                kept.add(cid, started, now, cpu1)
            return memory, round(100 * (cpu1 - prev[1]) / max(1e-3, now - prev[0]), 1)
        except (OSError, ValueError, StopIteration):
            pass  # fall back to the API
    return _api_stats(client, cid)


def _api_stats(client: docker.DockerClient, container: str) -> tuple[int | None, float | None]:
    def sample() -> dict[str, Any]:
        got: dict[str, Any] = client.api.stats(container, stream=False, one_shot=True)
        return got

    try:
        first = sample()
        time.sleep(CPU_SAMPLE_S)
        second = sample()
    except Exception:  # the container went away meanwhile
        return None, None
    mem = second.get("memory_stats") or {}
    usage = mem.get("usage")
    extra = mem.get("stats") or {}
    cache = extra.get("inactive_file", extra.get("total_inactive_file", extra.get("cache", 0)))
    memory = int(usage - cache) if usage is not None else None
    try:
        cpu_delta = (
            second["cpu_stats"]["cpu_usage"]["total_usage"] - first["cpu_stats"]["cpu_usage"]["total_usage"]
        )
        sys_delta = second["cpu_stats"]["system_cpu_usage"] - first["cpu_stats"]["system_cpu_usage"]
        cpus = second["cpu_stats"].get("online_cpus") or 1
        cpu = round(cpu_delta / sys_delta * cpus * 100, 1) if sys_delta > 0 else 0.0
    except (KeyError, TypeError):
        cpu = None
    return memory, cpu
