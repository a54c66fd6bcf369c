"""Shared pieces of the env tests: the test bed's facts, a clikd runner, unique branches, cleanup.

Tests marked ``testbed`` need tests/infra/up to have run (Docker engine, registry with the service
images, Cassandra); without it they fail with that instruction, never skip.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import time
import tomllib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.env.serving import Served

ROOT = Path(__file__).resolve().parents[2]
CLIKD = ROOT / ".venv" / "bin" / "clikd"
INFRA = ROOT / "tests" / "infra"
FACTS = INFRA / "testbed.json"
TEST_CONFIG = INFRA / "clikd.test.toml"


@dataclass
class Run:
    code: int
    out: str
    err: str
    seconds: float

    @property
    def data(self) -> Any:
        return json.loads(self.out)

    @property
    def text(self) -> str:
        return self.out + self.err


def _facts() -> dict[str, Any]:
    if not FACTS.is_file() or not TEST_CONFIG.is_file():
        pytest.fail(
            f"the test bed is not set up ({FACTS.name} or {TEST_CONFIG.name} missing): run tests/infra/up"
        )
    facts: dict[str, Any] = json.loads(FACTS.read_text())
    return facts


def base_env(config: Path | None = None, **extra: str) -> dict[str, str]:
    facts = _facts()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLIKD_")}
    env.update(
        CLIKD_CONFIG=str(config or TEST_CONFIG),
        CLIKD_TESTBED_REGISTRY_PASSWORD=str(facts["registry"]["password"]),
        CLIKD_NO_PROMPT="1",
        COLUMNS="1000",
        DOCKER_HOST=str(facts.get("docker_host") or "unix:///var/run/docker.sock"),
    )
    env.update(extra)
    return env


def clikd(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> Run:
    began = time.monotonic()
    done = subprocess.run(
        [str(CLIKD), *args],
        cwd=ROOT,
        env=env or base_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Run(done.returncode, done.stdout, done.stderr, time.monotonic() - began)


def load_render() -> Any:
    spec = importlib.util.spec_from_file_location("render_config", INFRA / "render_config.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_config(path: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    """A copy of the test config with ``change`` applied (a clikd.local.toml-style override)."""
    tree = tomllib.loads(TEST_CONFIG.read_text())
    change(tree)
    path.write_text(load_render().dump(tree))
    return path


@pytest.fixture
def testbed() -> dict[str, Any]:
    facts = _facts()
    probe = clikd("config.check", env=base_env())
    if probe.code != 0:
        pytest.fail(f"the test bed config does not load: {probe.text}; rerun tests/infra/up")
    import docker

    try:
        docker.from_env().ping()
    except Exception as exc:
        pytest.fail(f"no Docker engine answers ({exc}): run tests/infra/up")
    return facts


class Branches:
    """Unique branch names for one test; every stack they got is purged at the end."""

    def __init__(self, test: str) -> None:
        self.test = test.replace("_", "-")[:24]
        self.made: list[tuple[str, dict[str, str]]] = []

    def new(self, env: dict[str, str] | None = None, *, claim: bool = True) -> str:
        """A new branch; with ``claim`` its host-port block is chosen and recorded now, the way its
        first env.start would, so a test can read its ports before starting it and no other test
        (another xdist worker) can take them meanwhile. ``claim=False`` leaves the choice to
        env.start (tests of that choice)."""
        env = env or base_env()
        name = f"t/{self.test}-{uuid.uuid4().hex[:6]}"
        self.made.append((name, env))
        if claim:
            claim_ports(name, env)
        return name

    def cleanup(self) -> None:
        for name, env in self.made:
            clikd("env.stop", "--purge", "--yes", "--force", "--branch", name, env=env, timeout=120)


@pytest.fixture
def branches(request: pytest.FixtureRequest, testbed: dict[str, Any]) -> Iterator[Branches]:
    made = Branches(request.node.name)
    try:
        yield made
    finally:
        made.cleanup()


def claim_ports(branch: str, env: dict[str, str]) -> int | None:
    """Record the branch's host-port block with the product's own claim (in the state folder that
    ``env`` names), so its ports are known, and held against other branches, before it starts."""
    import docker

    from tasks.core.branch import identity
    from tasks.core.ports import recorded_block
    from tasks.core.stack.portclaim import claim_block

    ident = identity(branch, project=settings_for(Path(env["CLIKD_CONFIG"])).project.name)
    saved = os.environ.get("XDG_STATE_HOME")
    if "XDG_STATE_HOME" in env:
        os.environ["XDG_STATE_HOME"] = env["XDG_STATE_HOME"]
    client = docker.DockerClient(base_url=env["DOCKER_HOST"])
    try:
        claim_block(client, ident)
        return recorded_block(ident)
    finally:
        client.close()
        if saved is None:
            os.environ.pop("XDG_STATE_HOME", None)
        else:
            os.environ["XDG_STATE_HOME"] = saved


def settings_for(config: Path = TEST_CONFIG) -> Any:
    from tasks.core.config.loader import load

    return load(ROOT, env={"CLIKD_CONFIG": str(config)}).settings


def host_port(branch: str, key: str, config: Path = TEST_CONFIG) -> int:
    """Where the branch publishes ``key`` (``auth.http``), from the same functions clikd uses."""
    from tasks.core.branch import identity
    from tasks.core.ports import host_ports

    settings = settings_for(config)
    return host_ports(settings, identity(branch, project=settings.project.name))[key]


@pytest.fixture
def served() -> Iterator[Served]:
    """A private clikd server (tests/env/serving.py), stopped and removed at the end."""
    import shutil

    from tests.env.serving import Served

    s = Served()
    try:
        yield s
    finally:
        s.stop()
        shutil.rmtree(s.runtime, ignore_errors=True)
