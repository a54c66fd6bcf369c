"""Failures env.start must report well: unhealthy, crashing, wrong registry password, Ctrl+C."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.env.conftest import CLIKD, ROOT, Branches, base_env, clikd, write_config

# The fault suite runs on one xdist worker, one test after another: its interrupts land at
# named phases, and it should not share the machine's two cores with itself.
pytestmark = [pytest.mark.testbed, pytest.mark.xdist_group("faults"), pytest.mark.early]


def _fault(tmp_path: Path, mode: str, *, timeout: float = 8, after: str = "1") -> dict[str, str]:
    def change(tree: dict[str, Any]) -> None:
        media = tree["services"]["media"]
        media["environment"]["CLIKD_REF_FAIL"] = mode
        media["environment"]["CLIKD_REF_FAIL_AFTER"] = after
        media["health"]["timeout"] = timeout

    return base_env(write_config(tmp_path / "clikd.toml", change))


def test_an_unhealthy_service_is_named_with_its_probe_error_and_logs(
    branches: Branches, tmp_path: Path
) -> None:
    env = _fault(tmp_path, "unhealthy", timeout=6)
    branch = branches.new(env)
    run = clikd("env.start", "--branch", branch, "--only", "media", env=env)
    assert run.code == 6, run.text
    assert "media: not healthy after 6s" in run.text
    assert "503" in run.text and "CLIKD_REF_FAIL=unhealthy" in run.text  # the probe's last answer
    assert "log lines of" in run.text and "GET /health 503" in run.text
    # the stack is left as it is for inspection
    status = clikd("env.status", "--branch", branch, "--json", env=env)
    media = next(s for s in status.data["services"] if s["name"] == "media")
    assert media["state"] == "running" and media["health"] == "unhealthy"
    assert any("media is unhealthy" in h for h in status.data["hints"])


def test_a_crashing_service_is_reported_at_once_not_after_its_timeout(
    branches: Branches, tmp_path: Path
) -> None:
    env = _fault(tmp_path, "crash", timeout=120, after="0")
    branch = branches.new(env)
    assert clikd("env.start", "--branch", branch, "--only", "postgres", env=env).code == 0
    began = time.monotonic()
    run = clikd("env.start", "--branch", branch, "--only", "media", env=env)
    took = time.monotonic() - began
    assert run.code == 6, run.text
    assert "exited with code 3" in run.text
    assert "fault mode CLIKD_REF_FAIL=crash" in run.text  # from its last log lines
    assert took < 30, f"the crash was reported after {took:.0f}s (timeout 120s)"


def test_a_wrong_registry_password_names_every_source_and_hides_the_secret(
    branches: Branches, tmp_path: Path
) -> None:
    secret = "wrong-Secret-4711"
    empty = tmp_path / "docker-config"
    empty.mkdir()
    env = base_env(CLIKD_TESTBED_REGISTRY_PASSWORD=secret, DOCKER_CONFIG=str(empty))
    branch = branches.new(env)
    run = clikd("env.start", "--branch", branch, "--only", "auth", env=env)
    assert run.code == 1, run.text
    text = run.text
    assert "refused every credential" in text
    assert "$CLIKD_TESTBED_REGISTRY_PASSWORD: refused" in text and ("401" in text or "unauthorized" in text)
    assert "gh auth token: not used" in text
    assert "docker credential store: no entry for 127.0.0.1:5000" in text
    assert secret not in text
    assert "Traceback" not in text

    # without any credential at all, the refusal still says what was tried
    env_none = base_env(DOCKER_CONFIG=str(empty))
    env_none.pop("CLIKD_TESTBED_REGISTRY_PASSWORD")
    anon = clikd("env.start", "--branch", branch, "--only", "auth", env=env_none)
    assert anon.code == 1, anon.text
    assert "found no credential" in anon.text and "$CLIKD_TESTBED_REGISTRY_PASSWORD: not set" in anon.text


class Interruptible:
    """env.start in its own process group, paused at ``phase`` by the checkpoint hook until interrupted."""

    def __init__(self, branch: str, env: dict[str, str], phase: str, pauses: Path) -> None:
        self.phase = phase
        self.marker = pauses / f"{phase}.reached"
        pauses.mkdir(parents=True, exist_ok=True)
        self.log = pauses / "stderr.log"
        self.proc = subprocess.Popen(
            [str(CLIKD), "env.start", "--branch", branch],
            cwd=ROOT,
            env={**env, "CLIKD_TEST_PAUSE_AT": phase, "CLIKD_TEST_PAUSE_DIR": str(pauses)},
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("w"),
            start_new_session=True,
        )

    def interrupt(self) -> tuple[int, float, str]:
        deadline = time.monotonic() + 180
        while not self.marker.exists() and self.proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)  # waits for the marker file: where the interrupt lands is set by the hook
        assert self.marker.exists(), f"{self.phase} not reached ({self.proc.poll()}): {self.log.read_text()}"
        sent = time.monotonic()
        os.killpg(self.proc.pid, signal.SIGINT)  # what a terminal's Ctrl+C does
        code = self.proc.wait(timeout=30)
        took = time.monotonic() - sent
        return code, took, self.log.read_text()


@pytest.mark.parametrize(
    "phase",
    ["pulling", "create:postgres", "create:auth"],
    ids=["during-pull", "while-creating", "between-waves"],
)
def test_ctrl_c_stops_promptly_and_a_rerun_converges(branches: Branches, tmp_path: Path, phase: str) -> None:
    branch = branches.new()
    env = base_env()
    code, took, text = Interruptible(branch, env, phase, tmp_path / "pauses").interrupt()
    assert code == 130, text
    assert took < 5, f"Ctrl+C took {took:.1f}s to stop env.start"
    assert "interrupted" in text
    again = clikd("env.start", "--branch", branch, "--json", env=env)
    assert again.code == 0, again.text
    assert all(c["healthy"] for c in again.data["components"])
    import docker

    names = [
        c.name for c in docker.from_env().containers.list(filters={"label": f"dev.clikd.branch={branch}"})
    ]
    assert len(names) == len(set(names)) == 7
