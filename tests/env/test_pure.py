"""The parts of env that need no engine: templating, hashes, plans, selections, port holders, CQL frames."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tasks.core.branch import identity
from tasks.core.config.loader import load
from tasks.core.errors import ConfigError, UsageError
from tasks.core.stack.holders import find_holders, listening_inodes
from tasks.core.stack.plan import Actual, is_noop, plan
from tasks.core.stack.spec import render_environment, resolve, select

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def settings():  # type: ignore[no-untyped-def]
    return load(ROOT, env={"CLIKD_CONFIG": str(ROOT / "clikd.toml")}).settings


def test_environment_placeholders_resolve_to_branch_names(settings) -> None:  # type: ignore[no-untyped-def]
    ident = identity("feat/x", project="clikd")
    stack = resolve(settings, ident)
    api = stack.components["api"].environment
    assert api["DATABASE_URL"] == f"postgresql://clikd:clikd_dev@postgres:5432/{ident.postgres_db('main')}"
    assert api["REDIS_URL"] == "redis://keydb:6379/0"
    assert api["KEY_PREFIX"] == ident.key_prefix
    assert api["SCYLLA_HOSTS"] == "scylla:9042"
    assert api["SCYLLA_KEYSPACE"] == ident.keyspace
    assert stack.components["auth"].environment["DATABASE_URL"].endswith(ident.postgres_db("auth"))
    assert stack.components["auth"].container == ident.container("auth")


def test_unknown_placeholder_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"\$\{nope\}, which is not a placeholder"):
        render_environment({"X": "${nope}"}, {}, service="api", where="services.api")
    assert render_environment({"X": "$$literal ${service}"}, {}, service="api", where="s") == {
        "X": "$literal api"
    }


def test_external_loopback_database_is_reached_through_the_host_alias() -> None:
    loaded = load(
        ROOT, env={"CLIKD_CONFIG": str(ROOT / "clikd.toml"), "CLIKD_DATABASES__SCYLLA__MODE": "external"}
    )
    stack = resolve(loaded.settings, identity("feat/x"))
    assert stack.components["api"].environment["SCYLLA_HOSTS"] == "host.docker.internal:9042"
    assert not stack.components["scylla"].managed


def test_waves_and_dependencies(settings) -> None:  # type: ignore[no-untyped-def]
    stack = resolve(settings, identity("main"))
    assert stack.waves[0] == ["keydb", "postgres", "s3", "scylla"]
    assert stack.components["media"].depends_on == ("postgres", "s3")
    assert stack.dependencies({"studio"}) == {"studio", "api", "auth", "postgres", "scylla", "keydb"}
    assert stack.dependents({"auth"}) == {"auth", "api", "studio"}
    # main keeps the plan's ports
    assert stack.components["auth"].ports == {"http": (3001, 3001), "grpc": (9001, 9001)}


def test_config_hash_changes_with_config_and_image(settings) -> None:  # type: ignore[no-untyped-def]
    a = resolve(settings, identity("feat/a")).components["auth"]
    b = resolve(settings, identity("feat/b")).components["auth"]
    assert a.config_hash("sha256:1") != a.config_hash("sha256:2")
    assert a.config_hash("sha256:1") != b.config_hash("sha256:1")
    assert a.config_hash("sha256:1") == resolve(settings, identity("feat/a")).components["auth"].config_hash(
        "sha256:1"
    )


def _actual(stack, names, image_id="img", state="running"):  # type: ignore[no-untyped-def]
    return {
        n: Actual(
            n,
            stack.components[n].container,
            "id-" + n,
            state,
            stack.components[n].config_hash(image_id),
            image_id,
        )
        for n in names
        if stack.components[n].managed
    }


def test_plan_noop_create_and_recreate_dependents(settings) -> None:  # type: ignore[no-untyped-def]
    stack = resolve(settings, identity("feat/x"))
    names = list(stack.components)
    images = {c.image: "img" for c in stack.components.values()}
    fresh = plan(stack, names, {}, images)
    assert {a.kind for a in fresh} == {"create"}
    same = plan(stack, names, _actual(stack, names), images)
    assert is_noop(same)
    # a new auth image recreates auth and what depends on it (api, studio), nothing else
    changed = dict(images)
    changed[stack.components["auth"].image] = "img2"
    actions = {a.name: a for a in plan(stack, names, _actual(stack, names), changed)}
    assert actions["auth"].kind == "recreate" and actions["auth"].reason == "image changed"
    assert {n for n, a in actions.items() if a.kind == "recreate"} == {"auth", "api", "studio"}
    # a stopped container is started, not recreated
    stopped = _actual(stack, names)
    stopped["media"] = Actual(
        "media", "c", "id", "exited", stack.components["media"].config_hash("img"), "img"
    )
    assert {a.name: a.kind for a in plan(stack, names, stopped, images)}["media"] == "start"
    # a container of a service no longer configured is removed
    extra = _actual(stack, names)
    extra["legacy"] = Actual("legacy", "clikd-feat-x-legacy", "id", "running", "h", "img")
    assert next(a for a in plan(stack, names, extra, images) if a.kind == "remove").name == "legacy"


def test_plan_keeps_a_dev_container_until_named(settings) -> None:  # type: ignore[no-untyped-def]
    stack = resolve(settings, identity("feat/x"))
    names = list(stack.components)
    images = {c.image: "img" for c in stack.components.values()}
    actual = _actual(stack, names)
    # env.dev swapped auth for a dev container: another config hash, the dev label.
    actual["auth"] = Actual("auth", "c", "id", "running", "dev-hash", "dev-img", dev=True)
    kept = {a.name: a for a in plan(stack, names, actual, images)}
    assert is_noop(list(kept.values())) and "dev mode" in kept["auth"].reason
    # env.start --only auth: auth goes back to its image; its dependants are not selected by --only.
    back = {
        a.name: a for a in plan(stack, ["postgres", "auth"], actual, images, leave_dev=frozenset({"auth"}))
    }
    assert back["auth"].kind == "recreate" and back["auth"].reason.startswith("leaving dev mode")


def test_select_only_and_exclude(settings) -> None:  # type: ignore[no-untyped-def]
    stack = resolve(settings, identity("feat/x"))
    only = select(stack, only="auth")
    assert only.names == ["postgres", "auth"]
    excl = select(stack, exclude="auth")
    assert "auth" not in excl.names
    assert excl.affected == {"auth": ["api", "studio"]}
    assert select(stack, exclude="studio").affected == {}
    with pytest.raises(UsageError, match="unknown service"):
        select(stack, only="nope")


def test_port_holder_names_a_real_listening_process() -> None:
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import socket,time; s=socket.socket(); s.bind(('127.0.0.1',0)); s.listen();"
            "print(s.getsockname()[1], flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        port = int(child.stdout.readline())
        assert port in listening_inodes([port])
        holders = find_holders([port, 1], {})
        assert set(holders) == {port}
        held = holders[port]
        assert held.kind == "process" and held.pid == child.pid
        assert f"pid {child.pid}" in held.describe() and "python" in held.describe()
        # a container's published port is named by the container, not docker-proxy
        assert find_holders([port], {port: "clikd-feat-x-auth"})[port].holder == "container clikd-feat-x-auth"
    finally:
        child.kill()
        child.wait()


def test_free_port_has_no_holder() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    time.sleep(0.05)
    assert find_holders([port], {}) == {}


@pytest.mark.parametrize(
    ("line", "level"),
    [
        ('{"ts":"2026-11-25T10:00:00Z","level":"warn","msg":"x"}', "WARN"),
        ('{"severity":"ERROR","message":"x"}', "ERROR"),
        ('{"levelname":"CRITICAL"}', "FATAL"),
        ('{"level":30,"msg":"pino"}', "INFO"),
        ('{"log":{"level":"debug"}}', "DEBUG"),
        ('{"msg":"no level"}', "INFO"),
        ("2026-11-25T10:00:00.123Z WARN api: slow request", "WARN"),
        ("2026-11-25T10:00:00.123Z ERROR api: boom", "ERROR"),
        ("ts=2026 level=debug msg=hello", "DEBUG"),
        ("10:00:00.000 [error] Elixir.Phoenix crashed", "ERROR"),
        ("2026-11-25 10:00:00.000 UTC [50] LOG:  database system is ready", "INFO"),
        ('2026-11-25 10:00:00.000 UTC [21] FATAL:  database "x" does not exist', "FATAL"),
        ("2026-11-25 10:00:00.000 UTC [21] WARNING:  something", "WARN"),
        ("1:M 25 Nov 2026 19:50:47.585 # Server initialized", "WARN"),
        ("1:M 25 Nov 2026 19:50:47.586 * Ready to accept connections", "INFO"),
        ("service plain line without a level seq=5", "INFO"),
        ("an information line that mentions errors later", "INFO"),
    ],
)
def test_log_levels(line: str, level: str) -> None:
    from tasks.core.stack.logs import parse_level

    assert parse_level(line) == level


def test_log_filters_and_since() -> None:
    import datetime as dt

    from tasks.core.stack.logs import LogLine, make_filters, parse_since

    f = make_filters("api", "warn", "slow|boom")
    assert f.services == frozenset({"api"})
    assert f.keep(LogLine("t", "api", "ERROR", "boom"))
    assert not f.keep(LogLine("t", "api", "INFO", "boom"))
    assert not f.keep(LogLine("t", "api", "WARN", "fine"))
    now = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
    assert parse_since("10m", now) == (now - dt.timedelta(minutes=10)).timestamp()
    assert (
        parse_since("2026-11-25T11:00:00Z", now) == dt.datetime(2026, 11, 25, 11, tzinfo=dt.UTC).timestamp()
    )
    with pytest.raises(UsageError):
        parse_since("yesterday", now)
    with pytest.raises(UsageError):
        make_filters("", "loud", "")
    with pytest.raises(UsageError):
        make_filters("", "", "(")


def test_git_branches_lists_local_and_remote(tmp_path: Path) -> None:
    import git

    from tasks.core.stack.inventory import git_branches

    repo = git.Repo.init(tmp_path, initial_branch="main")
    (tmp_path / "f").write_text("x")
    repo.index.add(["f"])
    repo.index.commit("init")
    repo.create_head("feat/keep")
    assert git_branches(tmp_path, "origin") == {"main", "feat/keep"}
    outside = tmp_path.parent / "not-a-repo"
    outside.mkdir()
    assert git_branches(outside, "origin") is None
