"""The per-branch lock: held across processes, released by the kernel (kill -9 too), not by forks.

Real processes, no mocks: a holder child takes the lock and says so through a file, then waits for
a go-file; the test decides when it ends and how.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tasks.core.branch import identity
from tasks.core.errors import Busy, ExitCode
from tasks.core.locking import branch_lock, lock_path, read_holder

HOLDER = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from tasks.core.branch import identity
    from tasks.core.locking import branch_lock

    folder = Path(sys.argv[1])
    with branch_lock(identity("feat/x"), "env.start"):
        if sys.argv[2] == "fork":
            child = os.fork()
            if child == 0:  # a worker that outlives its parent must not keep the branch locked
                (folder / "child").write_text(str(os.getpid()))
                while not (folder / "child.go").exists():
                    time.sleep(0.02)
                os._exit(0)
        (folder / "held").write_text(str(os.getpid()))
        while not (folder / "go").exists():
            time.sleep(0.02)
    """
)


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    yield tmp_path


def _holder(folder: Path, mode: str = "plain") -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder), mode], env=os.environ.copy())
    deadline = time.monotonic() + 60
    while not (folder / "held").exists():
        assert proc.poll() is None, "the holder ended before taking the lock"
        assert time.monotonic() < deadline, "the holder never took the lock"
        time.sleep(0.02)  # polls the holder's file
    return proc


def test_a_second_caller_is_told_who_holds_the_lock_and_no_wait_exits_busy(state: Path) -> None:
    proc = _holder(state)
    try:
        ident = identity("feat/x")
        holder = read_holder(ident)
        assert holder is not None and holder.task == "env.start" and holder.pid == proc.pid
        with pytest.raises(Busy) as caught, branch_lock(ident, "db.reset", wait=False):
            pass
        assert caught.value.exit_code == ExitCode.BUSY == 9
        assert f"env.start (pid {proc.pid}, for " in caught.value.message
        assert "--no-wait" in caught.value.message
        # another branch is not held up
        with branch_lock(identity("feat/y"), "db.reset", wait=False):
            pass
    finally:
        (state / "go").touch()
        proc.wait(timeout=30)
    assert read_holder(identity("feat/x")) is None


def test_kill_9_releases_the_lock_and_a_waiter_gets_it(state: Path) -> None:
    proc = _holder(state)
    said: list[str] = []
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    with branch_lock(identity("feat/x"), "env.stop", wait=False, on_wait=said.append):
        holder = read_holder(identity("feat/x"))
        assert holder is not None and holder.pid == os.getpid() and holder.task == "env.stop"
    assert said == []


def test_a_waiter_says_what_it_waits_for_then_runs_when_the_holder_ends(state: Path) -> None:
    proc = _holder(state)
    said: list[str] = []

    def note(line: str) -> None:
        said.append(line)
        (state / "go").touch()  # the holder ends once we are waiting

    with branch_lock(identity("feat/x"), "db.reset", on_wait=note):
        assert proc.wait(timeout=30) == 0
    assert len(said) == 1 and f"waiting for env.start (pid {proc.pid}," in said[0]


def test_a_forked_worker_does_not_keep_the_branch_locked(state: Path) -> None:
    proc = _holder(state, "fork")
    try:
        (state / "go").touch()
        assert proc.wait(timeout=30) == 0
        assert (state / "child").exists()
        child = int((state / "child").read_text())
        os.kill(child, 0)  # the worker still runs ...
        with branch_lock(identity("feat/x"), "env.start", wait=False):  # ... and the branch is free
            pass
    finally:
        (state / "child.go").touch()


def test_the_lock_is_reentrant_in_one_process_and_lives_in_the_state_folder(state: Path) -> None:
    ident = identity("feat/x", project="clikd")
    assert lock_path(ident) == state / "state" / "clikd" / "locks" / ident.lock_file
    assert ident.lock_file == f"clikd-{ident.slug}.lock"
    with branch_lock(ident, "env.prune", wait=False), branch_lock(ident, "env.stop", wait=False):
        holder = read_holder(ident)
        assert holder is not None and holder.task == "env.prune"
    assert read_holder(ident) is None
