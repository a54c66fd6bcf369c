"""An interrupted env.start or db.reset always converges on the next run; mutating tasks take turns.

Every interrupt lands at a named phase (tasks/core/checkpoint.py): clikd writes a marker when it
reaches the phase and waits for a go-file, so the test signals it exactly there, whatever the
machine's speed. Signals go to clikd's process group (db.reset forks worker processes).
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.env.conftest import CLIKD, ROOT, TEST_CONFIG, Branches, base_env, clikd, settings_for, write_config

# The fault suite runs on one xdist worker, one test after another: its interrupts land at
# named phases, and it should not share the machine's two cores with itself.
pytestmark = [pytest.mark.testbed, pytest.mark.xdist_group("faults"), pytest.mark.early]

WAIT = 180  # seconds at most for a marker: only a broken run takes that long


STARTED: list[subprocess.Popen[str]] = []


@pytest.fixture(autouse=True)
def _no_paused_leftovers() -> Iterator[None]:
    """A failed test must not leave a clikd paused at a marker (it would hold its branch's lock)."""
    yield
    while STARTED:
        proc = STARTED.pop()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


class Run:
    """A clikd process in its own process group, its stderr read as it comes."""

    def __init__(self, *args: str, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [str(CLIKD), *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        STARTED.append(self.proc)
        self.err: list[str] = []
        self.out = ""
        self.seen = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self.seen:
                self.err.append(line)
                self.seen.notify_all()
        with self.seen:
            self.seen.notify_all()

    def said(self, text: str) -> str:
        """Wait until stderr has a line containing ``text`` (or the process ended); return that line."""
        with self.seen:
            self.seen.wait_for(
                lambda: any(text in ln for ln in self.err) or self.proc.poll() is not None, timeout=WAIT
            )
            found = [ln for ln in self.err if text in ln]
        assert found, f"no line with {text!r} (exit {self.proc.poll()}): {''.join(self.err)}"
        return found[0]

    def signal(self, sig: signal.Signals) -> None:
        os.killpg(self.proc.pid, sig)

    def finish(self) -> int:
        assert self.proc.stdout is not None
        self.out = self.proc.stdout.read()  # stderr belongs to the reader thread (communicate would race it)
        code = self.proc.wait(timeout=WAIT)
        self._reader.join(timeout=WAIT)
        return code

    @property
    def text(self) -> str:
        return self.out + "".join(self.err)


class Pauses:
    """Markers and go-files of the checkpoint hook in one folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def env(self, at: str, base: dict[str, str] | None = None) -> dict[str, str]:
        return {**(base or base_env()), "CLIKD_TEST_PAUSE_AT": at, "CLIKD_TEST_PAUSE_DIR": str(self.folder)}

    def reached(self, phase: str, run: Run, count: int = 1) -> list[int]:
        """Wait for ``count`` processes to mark ``phase``; returns their pids."""
        marker = self.folder / f"{phase}.reached"
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline and run.proc.poll() is None:
            if marker.exists() and len(pids := marker.read_text().split()) >= count:
                return [int(p) for p in pids]
            time.sleep(0.05)  # polls for the marker file; what happens when is set by the files
        pytest.fail(f"{phase} not reached by {count} (exit {run.proc.poll()}): {''.join(run.err)}")

    def go(self, phase: str) -> None:
        (self.folder / f"{phase}.go").touch()


def _docker() -> Any:
    import docker

    return docker.from_env()


def _ident(branch: str) -> Any:
    from tasks.core.branch import identity

    return identity(branch, project=settings_for().project.name)


def _target(branch: str) -> Any:
    from tasks.core.db.target import Target
    from tasks.core.stores import endpoint

    settings = settings_for()
    ident = _ident(branch)
    return Target(
        ident,
        ROOT,
        endpoint(settings, ident, "postgres"),
        endpoint(settings, ident, "scylla"),
        endpoint(settings, ident, "keydb"),
    )


def assert_converged(branch: str, services: set[str], *, seeded: bool = True) -> None:
    """Exactly the branch's expected containers, running, one network, its volumes; migrated and seeded."""
    ident = _ident(branch)
    client = _docker()
    prefix = f"{ident.project}-{ident.slug}-"
    # the list endpoint alone: other tests' containers may vanish between a list and an inspect
    listed = client.api.containers(all=True, filters={"name": prefix})
    named = {str(c["Names"][0]).lstrip("/"): str(c["State"]) for c in listed}
    named = {n: state for n, state in named.items() if n.startswith(prefix)}
    labelled = client.api.containers(all=True, filters={"label": f"dev.clikd.branch={branch}"})
    assert sorted(named) == sorted(ident.container(s) for s in services), named
    assert {str(c["Names"][0]).lstrip("/") for c in labelled} == set(named)
    assert set(named.values()) == {"running"}, named
    networks = [n for n in client.networks.list(names=[ident.network]) if n.name == ident.network]
    assert len(networks) == 1, networks
    volumes = client.volumes.list(filters={"label": f"dev.clikd.branch={branch}"})
    assert sorted(v.name for v in volumes) == sorted(
        ident.volume(s) for s in services & {"postgres", "keydb"}
    )
    if "postgres" in services:
        from tests.db.helpers import pg_count, pg_history

        t = _target(branch)
        migrations = sorted((ROOT / "migrations" / "postgres" / "main").glob("*.sql"))
        assert len(pg_history(t, "main")) == len(migrations)
        assert (pg_count(t, "main", "users") > 0) is seeded
        assert (pg_count(t, "auth", "accounts") > 0) is seeded


# ----------------------------------------------------------------------------------------- env.start

START_PHASES = [
    "pull",
    "pulling",
    "network",
    "volumes:postgres",
    "create:postgres",
    "start:postgres",
    "probe:postgres",
    "create:auth",
    "start:auth",
    "probe:auth",
    "migrate",
    "seed",
]
SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGKILL]
# Every phase with every signal: 36 starts of one database and one service (about 4 s each).
START_CASES = [(phase, sig) for phase in START_PHASES for sig in SIGNALS]


def _ended_by(code: int, sig: signal.Signals, text: str) -> None:
    if sig == signal.SIGINT:
        assert code == 130, text
        assert "interrupted" in text
    else:
        assert code == -sig, f"exit {code}: {text}"


@pytest.mark.parametrize(
    ("phase", "sig"), START_CASES, ids=[f"{p.replace(':', '-')}-{s.name}" for p, s in START_CASES]
)
def test_env_start_interrupted_at_a_phase_converges_on_rerun(
    branches: Branches, tmp_path: Path, phase: str, sig: signal.Signals
) -> None:
    branch = branches.new()
    pauses = Pauses(tmp_path / "pauses")
    run = Run("env.start", "--branch", branch, "--only", "auth", env=pauses.env(phase))
    pauses.reached(phase, run)
    run.signal(sig)
    _ended_by(run.finish(), sig, run.text)
    again = clikd("env.start", "--branch", branch, "--only", "auth", "--json", env=base_env())
    assert again.code == 0, again.text
    assert {c["name"] for c in again.data["components"] if c["healthy"]} == {"postgres", "auth"}
    assert_converged(branch, {"postgres", "auth"})
    # and it is settled: the next run changes nothing
    third = clikd("env.start", "--branch", branch, "--only", "auth", "--json", env=base_env())
    assert third.code == 0 and third.data["changed"] is False, third.text


def test_a_seed_owed_to_postgres_waits_for_a_run_that_starts_postgres(
    branches: Branches, tmp_path: Path
) -> None:
    branch = branches.new()
    pauses = Pauses(tmp_path / "pauses")
    run = Run("env.start", "--branch", branch, "--only", "auth", env=pauses.env("seed"))
    pauses.reached("seed", run)
    run.signal(signal.SIGKILL)
    _ended_by(run.finish(), signal.SIGKILL, run.text)
    # A run that starts no Postgres does not pay (nor forget) what Postgres is owed ...
    other = clikd("env.start", "--branch", branch, "--only", "keydb", "--json", env=base_env())
    assert other.code == 0, other.text
    assert "finished the migrate/seed an interrupted env.start owed" not in other.text
    # ... the next run that starts it does.
    again = clikd("env.start", "--branch", branch, "--only", "auth", "--json", env=base_env())
    assert again.code == 0, again.text
    assert "finished the migrate/seed an interrupted env.start owed" in again.text
    assert_converged(branch, {"postgres", "auth", "keydb"})


# ----------------------------------------------------------------------------------------- db.reset

RESET_STORES = ["auth", "main", "keydb"]
RESET_CASES = [(s, sig) for s in RESET_STORES for sig in SIGNALS]


@pytest.fixture(scope="module")
def reset_branch(request: pytest.FixtureRequest) -> Iterator[str]:
    made = Branches("db-reset-interrupts")
    branch = made.new()
    try:
        up = clikd("env.start", "--branch", branch, "--only", "auth,keydb", env=base_env())
        assert up.code == 0, up.text
        yield branch
    finally:
        made.cleanup()


@pytest.mark.parametrize(("store", "sig"), RESET_CASES, ids=[f"{s}-{g.name}" for s, g in RESET_CASES])
def test_db_reset_interrupted_in_a_store_converges_on_rerun(
    reset_branch: str, tmp_path: Path, store: str, sig: signal.Signals
) -> None:
    from tasks.core.db import postgres
    from tests.db.helpers import kv_keys, pg_count

    t = _target(reset_branch)
    with postgres.connect(t.postgres, t.database("main")) as conn:
        conn.execute("DELETE FROM follows")  # some damage the reset must undo
    pauses = Pauses(tmp_path / "pauses")
    stores = ",".join(RESET_STORES)
    run = Run(
        "db.reset", "--yes", "--branch", reset_branch, "--stores", stores, env=pauses.env(f"reset:{store}")
    )
    pauses.reached(f"reset:{store}", run)
    run.signal(sig)
    code = run.finish()
    assert code != 0, run.text
    again = clikd("db.reset", "--yes", "--branch", reset_branch, "--stores", stores, "--json", env=base_env())
    assert again.code == 0, again.text
    assert [s["store"] for s in again.data["stores"]] == RESET_STORES
    assert pg_count(t, "main", "follows") > 0 and pg_count(t, "auth", "accounts") > 0
    assert kv_keys(t)
    assert_converged(reset_branch, {"postgres", "keydb", "auth"})


# ----------------------------------------------------------------------------------------- races


def test_three_concurrent_env_starts_take_turns_and_converge(branches: Branches, tmp_path: Path) -> None:
    branch = branches.new()
    pauses = Pauses(tmp_path / "pauses")
    first = Run("env.start", "--branch", branch, "--only", "auth", env=pauses.env("create:postgres"))
    [holder] = pauses.reached("create:postgres", first)
    others = [
        Run("env.start", "--branch", branch, "--only", "auth", "--json", env=base_env()) for _ in range(2)
    ]
    for other in others:
        line = other.said("waiting for")
        assert f"env.start (pid {holder}," in line, line
    busy = clikd("env.start", "--branch", branch, "--only", "auth", "--no-wait", env=base_env())
    assert busy.code == 9, busy.text
    assert f"env.start (pid {holder}" in busy.text and "--no-wait" in busy.text
    pauses.go("create:postgres")
    assert first.finish() == 0, first.text
    for other in others:
        assert other.finish() == 0, other.text
        assert "container named" not in other.text
    assert_converged(branch, {"postgres", "auth"})


def test_env_start_db_reset_and_env_stop_on_one_branch_wait_for_each_other(
    branches: Branches, tmp_path: Path
) -> None:
    branch = branches.new()
    pauses = Pauses(tmp_path / "pauses")
    start = Run("env.start", "--branch", branch, "--only", "auth,keydb", env=pauses.env("probe:auth"))
    [starter] = pauses.reached("probe:auth", start)
    reset = Run(
        "db.reset", "--yes", "--branch", branch, "--stores", "auth,main", env=pauses.env("reset:main")
    )
    assert f"env.start (pid {starter}," in reset.said("waiting for")
    pauses.go("probe:auth")
    assert start.finish() == 0, start.text
    pauses.reached("reset:main", reset)  # in a worker process; the lock stays with db.reset itself
    stop = Run("env.stop", "--branch", branch, env=base_env())
    assert f"db.reset (pid {reset.proc.pid}," in stop.said("waiting for")
    pauses.go("reset:main")
    assert reset.finish() == 0, reset.text
    assert stop.finish() == 0, stop.text
    ident = _ident(branch)
    client = _docker()
    assert client.containers.list(all=True, filters={"label": f"dev.clikd.branch={branch}"}) == []
    assert [n for n in client.networks.list(names=[ident.network]) if n.name == ident.network] == []
    kept = client.volumes.list(filters={"label": f"dev.clikd.branch={branch}"})
    assert sorted(v.name for v in kept) == sorted([ident.volume("postgres"), ident.volume("keydb")])


# ----------------------------------------------------------------------------------------- checks alone


def test_without_the_lock_a_racing_start_adopts_the_branchs_own_container(
    branches: Branches, tmp_path: Path
) -> None:
    """Two starts that do not share a lock (separate state folders) still converge: the name check
    recognises the branch's own container, made by the other run, instead of telling to remove it."""
    config = write_config(
        tmp_path / "clikd.toml", lambda tree: tree["development"].update(auto_migrate=False)
    )
    branch = branches.new(base_env(config))
    pauses = Pauses(tmp_path / "pauses")
    runs = [
        Run(
            "env.start",
            "--branch",
            branch,
            "--only",
            "keydb",
            env=pauses.env("create:keydb", base_env(config, XDG_STATE_HOME=str(tmp_path / f"state{i}"))),
        )
        for i in range(2)
    ]
    pauses.reached("create:keydb", runs[0], count=2)
    pauses.go("create:keydb")
    codes = [r.finish() for r in runs]
    assert codes == [0, 0], "\n---\n".join(r.text for r in runs)
    assert not any("docker rm" in r.text for r in runs)
    client = _docker()
    ident = _ident(branch)
    assert [c.name for c in client.containers.list(all=True, filters={"name": ident.container("keydb")})] == [
        ident.container("keydb")
    ]


def test_a_container_of_nothing_clikd_knows_gets_the_remove_hint(branches: Branches) -> None:
    branch = branches.new()
    ident = _ident(branch)
    client = _docker()
    settings = settings_for(TEST_CONFIG)
    image = settings.databases["keydb"].image
    stranger = client.containers.create(image, name=ident.container("keydb"))
    try:
        run = clikd("env.start", "--branch", branch, "--only", "keydb", env=base_env())
        assert run.code == 8, run.text
        assert "not part of any clikd environment" in run.text
        assert f"docker rm -f {ident.container('keydb')}" in run.text
    finally:
        stranger.remove(force=True)


def test_a_port_held_for_the_branchs_own_container_in_any_state_is_no_conflict(branches: Branches) -> None:
    """The rerun after a kill can read its own container as created (the engine was still starting
    it) while docker-proxy already holds its ports: that is the branch's own, not a conflict. A port
    that nothing of the branch binds is still reported."""
    from tasks.core.errors import Conflict
    from tasks.core.stack.containers import check_ports, read_actual
    from tasks.core.stack.model import Action
    from tasks.core.stack.spec import resolve

    branch = branches.new()
    assert clikd("env.start", "--branch", branch, "--only", "keydb", env=base_env()).code == 0
    client = _docker().api
    import docker

    stack = resolve(settings_for(), _ident(branch))
    engine = docker.from_env()
    actual = read_actual(engine, stack)
    assert actual["keydb"].state == "running"
    from tasks.core.stack.holders import find_holders

    [(_cport, port)] = stack.components["keydb"].ports.values()
    held = find_holders([port], {})  # what the check sees once the container's own listing is ignored
    assert port in held and held[port].kind != "container", held  # the engine's proxy holds it
    for state in ("created", "exited", "dead", "restarting"):
        stale = {"keydb": replace(actual["keydb"], state=state)}
        check_ports(engine, stack, [Action("keydb", "start", f"container is {state}")], stale)
    # the same port needed by a component whose container is not the holder's: a conflict
    with pytest.raises(Conflict) as caught:
        check_ports(engine, stack, [Action("keydb", "create", "no container yet")], {})
    assert "held by" in caught.value.message
    assert client.inspect_container(_ident(branch).container("keydb"))["State"]["Running"]
