"""What env.status and env.start keep or skip to answer fast, against the real engine and registry:
kept CPU readings never compared across a restart, earlier runs' counter samples, the cached
commit, and the registry digest check standing in for a pull."""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.env.conftest import ROOT, Branches, base_env, clikd, settings_for

pytestmark = pytest.mark.testbed


def _ident(branch: str) -> Any:
    from tasks.core.branch import identity

    settings = settings_for()
    return identity(branch, project=settings.project.name, main_branch=settings.git.main_branch)


def _status(branch: str, env: dict[str, str]) -> dict[str, Any]:
    run = clikd("env.status", "--branch", branch, "--json", env=env)
    assert run.code == 0, run.text
    data: dict[str, Any] = run.data
    return data


def test_kept_cpu_readings_are_dropped_when_a_container_restarts(branches: Branches, tmp_path: Path) -> None:
    import docker

    env = base_env(XDG_CACHE_HOME=str(tmp_path))
    branch = branches.new(env)
    assert clikd("env.start", "--branch", branch, "--only", "auth", env=env).code == 0
    ident = _ident(branch)
    kept = tmp_path / "clikd" / "status" / f"{ident.project}-{ident.slug}.cpu.json"
    _status(branch, env)
    snap = _status(branch, env)
    auth = next(s for s in snap["services"] if s["name"] == "auth")
    assert auth["cpu_percent"] is not None and auth["memory_bytes"], auth
    (container,) = docker.from_env().containers.list(
        filters={"label": [f"dev.clikd.branch={branch}", "dev.clikd.service=auth"]}
    )
    before = json.loads(kept.read_text())[container.id]
    assert len(before["readings"]) == 2  # one per run, for the same start

    container.restart(timeout=5)
    assert clikd("env.start", "--branch", branch, "--only", "auth", env=env).code == 0  # healthy again
    snap = _status(branch, env)
    after = json.loads(kept.read_text())[container.id]
    assert after["started"] != before["started"]
    assert len(after["readings"]) == 1, after  # the readings of the earlier start are gone
    auth = next(s for s in snap["services"] if s["name"] == "auth")
    assert auth["cpu_percent"] is not None and auth["cpu_percent"] >= 0, auth


def test_a_run_right_after_another_compares_with_an_older_kept_sample(
    branches: Branches, tmp_path: Path
) -> None:
    env = base_env(XDG_CACHE_HOME=str(tmp_path))
    branch = branches.new(env)
    assert clikd("env.start", "--branch", branch, env=env).code == 0
    began = time.time()
    _status(branch, env)  # no sample: two readings of its own
    ident = _ident(branch)
    path = tmp_path / "clikd" / "status" / f"{ident.project}-{ident.slug}.json"
    kept = json.loads(path.read_text())
    for reading in kept["readings"].values():  # as if that run had been 30 s ago
        reading["wall"] -= 30
    path.write_text(json.dumps(kept))
    _status(branch, env)
    kept = json.loads(path.read_text())
    assert len(kept["older"]) == 1 and set(kept["older"][0]) == set(kept["readings"])
    # The previous run must look too recent to compare with whenever the next one starts (on a
    # busy machine that can be seconds later): its readings are moved past the next run's.
    for reading in kept["readings"].values():
        reading["wall"] += 3600
    path.write_text(json.dumps(kept))

    # the previous run is too young to give a rate; the one before it (30 s older) is used
    now = {a["database"]: a for a in _status(branch, env)["activity"]}
    assert set(now) == {"auth", "main", "keydb", "scylla"}
    longest = 30 + (time.time() - began) + 1
    assert all(29 <= a["window_s"] <= longest for a in now.values()), (longest, now)


def test_git_commit_is_read_from_the_ref_and_kept_per_commit(branches: Branches, tmp_path: Path) -> None:
    import subprocess

    env = base_env(XDG_CACHE_HOME=str(tmp_path))
    branch = f"t/status-cache-{uuid.uuid4().hex[:6]}"
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True)
    subject = subprocess.run(
        ["git", "log", "-1", "--format=%s", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    subprocess.run(["git", "branch", branch, "HEAD"], cwd=ROOT, check=True)
    try:
        first = _status(branch, env)["git"]
        assert first["commit"] == head.stdout.strip()[:10] and first["subject"] == subject[:72]
        commits = json.loads((tmp_path / "clikd" / "status" / "commits.json").read_text())
        assert head.stdout.strip() in commits
        again = _status(branch, env)["git"]
        assert again["commit"] == first["commit"] and again["subject"] == first["subject"]
    finally:
        subprocess.run(["git", "branch", "-D", branch], cwd=ROOT, check=False, capture_output=True)
    gone = _status(branch, env)["git"]
    assert gone["commit"] is None  # no such branch any more: no commit, whatever the cache holds


def test_start_pulls_an_image_the_registry_has_changed(branches: Branches, tmp_path: Path) -> None:
    import docker

    facts = json.loads((ROOT / "tests" / "infra" / "testbed.json").read_text())
    reg = facts["registry"]
    repo = f"{reg['host']}/{reg['namespace']}/auth"
    tag = f"t-{uuid.uuid4().hex[:8]}"
    client = docker.from_env()
    auth = {"username": reg["username"], "password": reg["password"]}
    base = client.images.get(f"{repo}:latest")

    def push(label: str) -> str:
        (tmp_path / "Dockerfile").write_text(f"FROM {repo}:latest\nLABEL dev.clikd.test={label}\n")
        image, _ = client.images.build(path=str(tmp_path), tag=f"{repo}:{tag}", rm=True)
        for line in client.images.push(repo, tag=tag, auth_config=auth, stream=True, decode=True):
            assert "error" not in line, line
        return str(image.id)

    env = base_env(CLIKD_SERVICES__AUTH__IMAGE=f"{repo}:{tag}")
    branch = branches.new(env)
    try:
        first = push("one")
        assert clikd("env.start", "--branch", branch, "--only", "auth", env=env).code == 0
        same = clikd("env.start", "--branch", branch, "--only", "auth", "--json", env=env)
        assert same.code == 0 and same.data["changed"] is False, same.text
        assert "(up to date)" in same.err and same.data["pulled"] == [], same.text

        newer = push("two")  # the registry's tag moves on...
        client.api.tag(first, repo, tag, force=True)  # ...while this machine still has the first
        changed = clikd("env.start", "--branch", branch, "--only", "auth", "--json", env=env)
        assert changed.code == 0, changed.text
        assert changed.data["pulled"] == [f"{repo}:{tag}"], changed.text
        assert client.images.get(f"{repo}:{tag}").id == newer
        assert any(a["name"] == "auth" and a["kind"] == "recreate" for a in changed.data["actions"])
    finally:
        clikd("env.stop", "--branch", branch, "--force", env=env)
        with contextlib.suppress(docker.errors.ImageNotFound):
            client.images.remove(f"{repo}:{tag}", force=True)
    assert client.images.get(f"{repo}:latest").id == base.id  # the shared :latest is never touched
