"""env.standin: the stand-in images built on the real engine, and a stack started on them with no registry.

The images carry the tag prefix ``clikd-standin-test`` and the cache lives in
``~/.cache/clikd-standin-test`` (kept between runs): the first run builds the base with debootstrap,
later runs reuse it. Nothing here removes images.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.env.conftest import ROOT, Branches, base_env, clikd

pytestmark = pytest.mark.testbed

PREFIX = "clikd-standin-test"
CACHE = Path.home() / ".cache" / "clikd-standin-test"


def _config(tmp_path: Path) -> Path:
    """The project's own clikd.toml (the Clikd registry's images) in a folder of its own."""
    config = tmp_path / "clikd.toml"
    shutil.copy(ROOT / "clikd.toml", config)
    return config


def _standin(env: dict[str, str], *extra: str) -> Any:
    return clikd("env.standin", "--prefix", PREFIX, "--cache", str(CACHE), *extra, env=env, timeout=1200)


def test_standin_builds_the_images_and_env_start_runs_the_stack_on_them(
    tmp_path: Path, branches: Branches
) -> None:
    import docker

    env = base_env(_config(tmp_path))
    del env["CLIKD_TESTBED_REGISTRY_PASSWORD"]  # no registry credential of any kind is needed
    run = _standin(env, "--json")
    assert run.code == 0, run.text
    result = run.data
    assert [s["name"] for s in result["steps"]] == ["base", "postgres", "keydb", "cql", "s3", "service"]
    engine = docker.from_env()
    for tag in result["images"].values():
        assert tag.startswith(PREFIX + "/")
        engine.images.get(tag)  # raises when the engine has no such image
    layer = tmp_path / "clikd.local.toml"
    assert result["config_layer"] == str(layer)
    text = layer.read_text()
    assert text.startswith("# Written by clikd env.standin") and text.count('pull = "never"') == 9

    again = _standin(env, "--json")
    assert again.code == 0, again.text
    assert {s["action"] for s in again.data["steps"]} == {"present"}

    branch = branches.new(env)
    start = clikd("env.start", "--branch", branch, "--json", env=env, timeout=600)
    assert start.code == 0, start.text
    assert start.data["pulled"] == [] and "pull" not in start.err
    assert all(c["healthy"] for c in start.data["components"]), start.data
    assert {c["name"] for c in start.data["components"]} == {
        "postgres",
        "keydb",
        "scylla",
        "s3",
        "auth",
        "api",
        "realtime",
        "media",
        "studio",
    }
    images = {
        c.labels["dev.clikd.service"]: c.attrs["Config"]["Image"]
        for c in engine.containers.list(filters={"label": f"dev.clikd.branch={branch}"})
    }
    assert images["scylla"] == f"{PREFIX}/cql:5.0.9" and images["api"] == f"{PREFIX}/api:latest", images
    assert images["s3"].startswith(f"{PREFIX}/seaweedfs:v"), images

    status = clikd("env.status", "--branch", branch, "--json", env=env)
    assert status.code == 0, status.text
    assert {m["store"]: m["state"] for m in status.data["migrations"]} == dict.fromkeys(
        ["auth", "main", "scylla", "keydb"], "up to date"
    )
    assert {a["database"]: a["scope"] for a in status.data["activity"]}["scylla"] == "server"


def test_standin_does_not_replace_a_local_layer_it_did_not_write(
    tmp_path: Path, testbed: dict[str, Any]
) -> None:
    config = _config(tmp_path)
    mine = "[development]\nauto_seed = false\n"
    (tmp_path / "clikd.local.toml").write_text(mine)
    run = _standin(base_env(config))
    assert run.code == 8, run.text  # Conflict
    assert "was not written by env.standin" in run.text and "Traceback" not in run.text
    assert (tmp_path / "clikd.local.toml").read_text() == mine


def test_a_pull_from_an_unreachable_registry_points_to_env_standin(
    tmp_path: Path, branches: Branches
) -> None:
    from tests.env.conftest import write_config

    def unreachable(tree: dict[str, Any]) -> None:
        tree["services"]["auth"]["image"] = "127.0.0.1:9/clikd-org/auth:latest"

    env = base_env(write_config(tmp_path / "clikd.toml", unreachable))
    branch = branches.new(env)
    run = clikd("env.start", "--branch", branch, "--only", "auth", env=env)
    assert run.code != 0, run.text
    assert "clikd env.standin" in run.text and "Traceback" not in run.text
