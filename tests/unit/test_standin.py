"""env.standin's pure parts: the config layer it writes, and when an image's recipe counts as changed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tasks.core import standin
from tasks.core.config.loader import load
from tasks.core.errors import Conflict
from tasks.core.standin import (
    RECIPE_FILES,
    base_fingerprint,
    check_layer_is_ours,
    fingerprint,
    layer_path,
    render_layer,
    tags,
)

ROOT = Path(__file__).resolve().parents[2]


def test_the_layer_points_every_database_and_service_at_the_standin_images(tmp_path: Path) -> None:
    shutil.copy(ROOT / "clikd.toml", tmp_path / "clikd.toml")
    config = load(tmp_path, env={"CLIKD_CONFIG": str(tmp_path / "clikd.toml")})
    services = list(config.settings.services)
    images = tags("my-standin", "5.0.9", services) | {"s3": "my-standin/seaweedfs:v0.0.1"}
    layer = layer_path(config)
    assert layer == tmp_path / "clikd.local.toml"
    assert standin.object_store(config) == "s3"
    layer.write_text(render_layer(images, services, prefix="my-standin", s3="s3"))

    settings = load(tmp_path, env={"CLIKD_CONFIG": str(tmp_path / "clikd.toml")}).settings
    dbs = settings.databases
    assert (dbs["postgres"].image, dbs["postgres"].pull) == ("my-standin/postgres:15", "never")
    assert (dbs["keydb"].image, dbs["keydb"].pull) == ("my-standin/keydb:6", "never")
    assert (dbs["s3"].image, dbs["s3"].pull, dbs["s3"].port) == ("my-standin/seaweedfs:v0.0.1", "never", 8333)
    scylla = dbs["scylla"]
    assert (scylla.image, scylla.mode, scylla.command, scylla.volume_path) == (
        "my-standin/cql:5.0.9",
        "container",
        [],
        "/var/lib/cassandra",
    )
    for name, svc in settings.services.items():
        assert (svc.image, svc.pull) == (f"my-standin/{name}:latest", "never")
        # everything else stays as clikd.toml has it
        assert svc.ports == config.settings.services[name].ports
    check_layer_is_ours(layer)  # ours: may be replaced


def test_the_layer_narrows_contract_tests_to_what_the_standin_fakes(tmp_path: Path) -> None:
    from tasks.core.standin import STANDIN_OPERATIONS
    from tests.infra.render_config import STANDIN_OPERATIONS as TESTBED_OPERATIONS

    assert list(STANDIN_OPERATIONS) == TESTBED_OPERATIONS
    shutil.copy(ROOT / "clikd.toml", tmp_path / "clikd.toml")
    config = load(tmp_path, env={"CLIKD_CONFIG": str(tmp_path / "clikd.toml")})
    tested = {
        n: list(s.test.operations) for n, s in config.settings.services.items() if s.test and s.test.openapi
    }
    assert tested, "clikd.toml contract-tests no service"
    services = list(config.settings.services)
    text = render_layer(tags("p", "5.0.9", services), services, prefix="p", contract_tested=tested)
    layer_path(config).write_text(text)

    settings = load(tmp_path, env={"CLIKD_CONFIG": str(tmp_path / "clikd.toml")}).settings
    for name, wanted in tested.items():
        test = settings.services[name].test
        assert test is not None and test.openapi == config.settings.services[name].test.openapi  # type: ignore[union-attr]
        assert test.operations == [op for op in STANDIN_OPERATIONS if op in (wanted or STANDIN_OPERATIONS)]
        assert test.operations, name
    untested = [n for n in services if n not in tested]
    assert all(settings.services[n].test == config.settings.services[n].test for n in untested)


def test_a_local_layer_written_by_someone_else_is_not_ours(tmp_path: Path) -> None:
    layer = tmp_path / "clikd.local.toml"
    layer.write_text("[development]\nauto_seed = false\n")
    with pytest.raises(Conflict, match=r"not written by env\.standin"):
        check_layer_is_ours(layer)


def test_a_recipe_change_changes_only_that_images_fingerprint(tmp_path: Path) -> None:
    for rel in {r for files in RECIPE_FILES.values() for r in files}:
        src, dst = ROOT / rel, tmp_path / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst)
        else:
            shutil.copy2(src, dst)
    before = {role: fingerprint(tmp_path, role, "sha256:base1") for role in RECIPE_FILES}
    assert before == {role: fingerprint(ROOT, role, "sha256:base1") for role in RECIPE_FILES}
    assert len(set(before.values())) == len(before)

    refservice = tmp_path / "tests/infra/refservice/refservice.py"
    refservice.write_text(refservice.read_text() + "\n# changed\n")
    (tmp_path / "standin/cql/cassandra-entrypoint.sh").chmod(0o644)  # a mode counts too
    after = {role: fingerprint(tmp_path, role, "sha256:base1") for role in RECIPE_FILES}
    assert [r for r in RECIPE_FILES if after[r] != before[r]] == ["cql", "service"]

    rebased = {role: fingerprint(tmp_path, role, "sha256:base2") for role in RECIPE_FILES}
    assert all(rebased[r] != after[r] for r in RECIPE_FILES)


def test_the_base_is_built_again_when_its_package_list_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    before = base_fingerprint()
    assert "python3-grpcio" in standin.BASE_PACKAGES  # the reference service's gRPC health needs it
    from tasks.core.standin import recipes  # the module that reads it

    monkeypatch.setattr(recipes, "BASE_PACKAGES", standin.BASE_PACKAGES.replace(",python3-grpcio", ""))
    assert base_fingerprint() != before
