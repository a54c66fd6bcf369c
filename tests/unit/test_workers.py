"""The per-driver worker processes of the db tasks: real forks, results and errors over real pipes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tasks.core.db.errors import StoreUnavailable
from tasks.core.db.workers import afterwards, by_driver
from tasks.core.errors import ClikdError, ExitCode

ROOT = Path(__file__).resolve().parents[2]


def pid() -> int:
    return os.getpid()


def test_one_process_per_driver_postgres_roles_share_one() -> None:
    pids = by_driver({"auth": pid, "main": pid, "scylla": pid, "keydb": pid})
    assert list(pids) == ["auth", "main", "scylla", "keydb"]
    assert pids["auth"] == pids["main"]
    assert len({pids["auth"], pids["scylla"], pids["keydb"]}) == 3
    assert os.getpid() not in pids.values()


def test_no_fork_keeps_the_work_in_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    (one,) = set(by_driver({"auth": pid, "main": pid}).values())
    assert one != os.getpid()  # even one driver gets a child: its afterwards work must not hold us
    monkeypatch.setenv("CLIKD_NO_FORK", "1")
    assert set(by_driver({"auth": pid, "scylla": pid, "keydb": pid}).values()) == {os.getpid()}


def test_afterwards_work_runs_once_the_results_are_back(tmp_path: Path) -> None:
    go, done = tmp_path / "go", tmp_path / "done"

    def later() -> None:
        deadline = time.monotonic() + 30
        while not go.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        done.write_text(str(os.getpid()))

    def job() -> int:
        afterwards(later)
        return os.getpid()

    child = by_driver({"main": job, "keydb": pid})["main"]
    # the results came back while the child still waits for "go": nobody waited for its afterwards work
    assert not done.exists()
    go.touch()
    deadline = time.monotonic() + 30
    while not done.exists():
        assert time.monotonic() < deadline, "the afterwards work never ran"
        time.sleep(0.01)
    assert done.read_text() == str(child)


def test_afterwards_work_without_fork_runs_before_returning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLIKD_NO_FORK", "1")
    mark = tmp_path / "done"

    def job() -> int:
        afterwards(lambda: mark.write_text("x"))
        return 1

    assert by_driver({"main": job}) == {"main": 1}
    assert mark.read_text() == "x"


def test_an_error_in_a_child_keeps_its_type_hint_and_exit_code() -> None:
    def down() -> int:
        raise StoreUnavailable("keydb at 127.0.0.1:1 does not answer", hint="start it with inv env.start")

    with pytest.raises(StoreUnavailable) as caught:
        by_driver({"auth": pid, "keydb": down})
    assert caught.value.hint == "start it with inv env.start"
    assert caught.value.exit_code == ExitCode.UNAVAILABLE


def test_the_first_failure_in_the_given_order_wins() -> None:
    def fails(text: str) -> Callable[[], int]:
        def run() -> int:
            raise ClikdError(text)

        return run

    with pytest.raises(ClikdError, match="scylla broke"):
        by_driver({"auth": pid, "scylla": fails("scylla broke"), "keydb": fails("keydb broke")})


def test_a_child_that_dies_is_named_with_its_signal() -> None:
    def dies() -> int:
        os.kill(os.getpid(), signal.SIGKILL)
        return 0

    with pytest.raises(ClikdError) as caught:
        by_driver({"auth": pid, "scylla": dies})
    assert "scylla worker process was killed by signal 9" in caught.value.message
    assert caught.value.hint is not None and "CLIKD_NO_FORK=1" in caught.value.hint


def test_an_exception_that_cannot_be_pickled_still_arrives_as_text() -> None:
    class Odd(Exception):
        def __reduce__(self) -> str | tuple[object, ...]:
            raise TypeError("cannot pickle Odd")

    def odd() -> int:
        raise Odd("lock held by pid 42")

    with pytest.raises(ClikdError, match="lock held by pid 42"):
        by_driver({"auth": pid, "keydb": odd})


def test_threads_find_their_stores_drivers_already_imported() -> None:
    # A fresh interpreter, so the imports are really the first: each job reports what it finds loaded.
    script = (
        "import sys\n"
        "from tasks.core.db.target import settle\n"
        "def seen(*names):\n"
        "    return lambda: all(n in sys.modules for n in names)\n"
        "out = settle({'s3': seen('minio', 'minio.commonconfig', 'certifi'),\n"
        "              'scylla': seen('cassandra.cluster'), 'main': seen('psycopg'),\n"
        "              'keydb': seen('redis'), 'other': seen()})\n"
        "print(sorted(k for k, (ok, v) in out.items() if ok and v))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(sorted(["s3", "scylla", "main", "keydb", "other"]))
