"""A private clikd server for a test: its folder, the environment that points at it, its log."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.env.conftest import CLIKD, ROOT, base_env

WAIT = 60.0  # seconds at most for an event; only a broken server takes that long


def until(what: str, check: Callable[[], object]) -> object:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.02)  # polls for an event; nothing here depends on how long it takes
    pytest.fail(f"gave up waiting for {what}")


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


class Served:
    """A private server folder, the environment that points at it, and its log."""

    def __init__(self) -> None:
        self.runtime = Path(tempfile.mkdtemp(prefix="clikd-srv-", dir="/tmp"))  # short: socket paths
        self.folder = self.runtime / f"clikd-{os.getuid()}"
        self.env = base_env(XDG_RUNTIME_DIR=str(self.runtime), CLIKD_SERVER="1")

    def log(self) -> str:
        logs = list(self.folder.glob("server-*.log"))
        return logs[0].read_text() if logs else ""

    def commands(self) -> list[tuple[int, str]]:
        return [(int(p), task) for p, task in re.findall(r"command \d+: pid (\d+): (\S*)", self.log())]

    def servers(self) -> list[int]:
        return [int(p) for p in re.findall(r"\[(\d+)\] listening on", self.log())]

    def run(self, *args: str, cwd: Path = ROOT, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(CLIKD), *args],
            check=False,
            cwd=cwd,
            env={**self.env, **extra},
            capture_output=True,
            text=True,
            timeout=300,
        )

    def start(self, count: int = 1) -> int:
        """Run a command in-process (no server yet), which starts one; wait until it listens."""
        self.run("env.start", "--bogus")
        until(
            "the server to listen", lambda: len(self.servers()) >= count and list(self.folder.glob("*.sock"))
        )
        return self.servers()[-1]

    def stop(self) -> None:
        for pid in self.servers():
            if not gone(pid):
                os.kill(pid, signal.SIGTERM)
        for pid in self.servers():
            until(f"server {pid} to exit", lambda pid=pid: gone(pid))
