"""The object store in a branch's stack: a SeaweedFS container per branch (the test bed's image) or
the test bed's shared server, its bucket created and seeded by env.start, named in the services'
environment, sized by env.status and dropped by a purge."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tasks.core.branch import identity
from tasks.core.stores import Endpoint
from tasks.core.stores.s3 import buckets
from tests.env.conftest import Branches, base_env, clikd, host_port, write_config

pytestmark = pytest.mark.testbed
SEEDS = len(list((Path(__file__).resolve().parents[2] / "seeds" / "s3").rglob("*.svg")))


def _container_config(tmp_path: Path, image: str) -> Path:
    def change(tree: dict[str, Any]) -> None:
        tree["databases"]["s3"] = {
            "kind": "s3",
            "image": image,
            "pull": "never",
            "port": 8333,
            "user": "clikd",
            "password": "branch-secret",
            "volume_path": "/data",
            "command": [
                "server",
                "-s3",
                "-dir=/data",
                "-ip=127.0.0.1",
                "-ip.bind=0.0.0.0",
                "-master.volumeSizeLimitMB=64",
                "-volume.max=0",
                "-webdav=false",
                "-master.telemetry=false",
            ],
            "timeout": 90,
        }

    return write_config(tmp_path / "clikd.s3.toml", change)


def _media_env(branch: str) -> dict[str, str]:
    import docker

    found = docker.from_env().containers.list(
        filters={"label": [f"dev.clikd.branch={branch}", "dev.clikd.service=media"]}
    )
    assert len(found) == 1, found
    return dict(item.split("=", 1) for item in found[0].attrs["Config"]["Env"])


def test_a_branch_container_gets_its_bucket_seeded_and_named_to_media(
    tmp_path: Path, branches: Branches, testbed: dict[str, Any]
) -> None:
    env = base_env(_container_config(tmp_path, testbed["images"]["seaweedfs"]))
    branch = branches.new(env)
    start = clikd("env.start", "--branch", branch, "--only", "media", "--json", env=env, timeout=600)
    assert start.code == 0, start.text
    components = {c["name"]: c for c in start.data["components"]}
    assert set(components) == {"postgres", "s3", "media"} and all(c["healthy"] for c in components.values())

    bucket = identity(branch).bucket
    port = host_port(branch, "s3.main", Path(env["CLIKD_CONFIG"]))
    store = Endpoint("s3", "s3", "127.0.0.1", port, "clikd", "branch-secret", "container")
    assert len(buckets.listing(store, bucket)) == SEEDS == 320
    media = _media_env(branch)
    assert media["S3_ENDPOINT"] == "http://s3:8333" and media["S3_BUCKET"] == bucket
    assert media["S3_ACCESS_KEY"] == "clikd" and media["S3_SECRET_KEY"] == "branch-secret"

    status = clikd("env.status", "--branch", branch, "--json", env=env)
    assert status.code == 0, status.text
    row = next(d for d in status.data["databases"] if d["name"] == "s3")
    assert row["health"] == "healthy" and row["size"].startswith(f"{SEEDS} objects"), row

    again = clikd("env.start", "--branch", branch, "--only", "media", "--json", env=env)
    assert again.code == 0 and len(buckets.listing(store, bucket)) == SEEDS  # no second seeding
    purge = clikd("env.stop", "--branch", branch, "--purge", "--yes", "--json", env=env)
    assert purge.code == 0, purge.text
    assert any(v.endswith("-s3-data") for v in purge.data["removed_volumes"]), purge.data


def test_the_shared_server_holds_one_bucket_per_branch_until_a_purge(branches: Branches) -> None:
    env = base_env()
    one, two = branches.new(env), branches.new(env)
    for branch in (one, two):
        start = clikd("env.start", "--branch", branch, "--only", "media", "--json", env=env, timeout=600)
        assert start.code == 0, start.text
    from tasks.core.stores import endpoint
    from tests.env.conftest import settings_for

    settings = settings_for()
    shared = endpoint(settings, identity(one), "s3")
    assert shared.mode == "external"
    for branch in (one, two):
        assert len(buckets.listing(shared, identity(branch).bucket)) == SEEDS
    purge = clikd("env.stop", "--branch", one, "--purge", "--yes", "--json", env=env)
    assert purge.code == 0, purge.text
    assert f"bucket {identity(one).bucket} ({SEEDS} objects)" in purge.data["dropped"]
    assert not buckets.exists(shared, identity(one).bucket)
    assert len(buckets.listing(shared, identity(two).bucket)) == SEEDS
