"""Run the stores' work in forked processes, one per database driver, so it uses every core.

Threads share one interpreter lock: the three drivers' imports (psycopg, redis, cassandra-driver,
about 0.1 s of CPU each after clikd's own start-up) and their client-side work run one after the
other, whatever the thread count. A process per driver runs them side by side. The Postgres roles
share one process (one import of psycopg, threads inside it: their work waits on the server).

Each child sends back, over a pipe, a pickled outcome per store: its result or its exception, so
errors keep their type, message, hint and exit code. Work registered with :func:`afterwards` (the
standby copy for the next reset) runs in the child after it has reported: the command answers and
exits without waiting for it, and the child finishes on its own. Where ``os.fork`` does not exist, or
with ``CLIKD_NO_FORK=1``, the same jobs run in threads and the afterwards work runs before returning.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import sys
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

from tasks.core.db.files import POSTGRES_ROLES
from tasks.core.db.target import settle, unwrap
from tasks.core.errors import ClikdError

T = TypeVar("T")

Outcome = tuple[bool, Any]  # (True, result) or (False, exception)

_AFTERWARDS: list[Callable[[], None]] = []
_LEFT: list[int] = []  # children still finishing their afterwards work, reaped when they are done


def afterwards(work: Callable[[], None]) -> None:
    """Run ``work`` once this process's results are reported (best effort: its failures are ignored)."""
    _AFTERWARDS.append(work)


def _run_afterwards() -> None:
    while _AFTERWARDS:
        work = _AFTERWARDS.pop(0)
        # An optimisation for the next run: this run has already succeeded, whatever happens here.
        with contextlib.suppress(Exception):
            work()


def driver_of(store: str) -> str:
    return "postgres" if store in POSTGRES_ROLES else store


def forking() -> bool:
    return hasattr(os, "fork") and os.environ.get("CLIKD_NO_FORK", "") not in ("1", "true", "yes")


def by_driver(
    jobs: dict[str, Callable[[], T]], *, meanwhile: Callable[[], object] = lambda: None
) -> dict[str, T]:
    """Run the jobs (keyed by store), a process per driver; re-raise the first failure in the given order.

    ``meanwhile`` runs in this process while the children work (preparing the output, say).
    """
    _reap()
    if not forking():
        outcomes = settle(jobs)
        _run_afterwards()
        meanwhile()
    else:
        groups: dict[str, dict[str, Callable[[], T]]] = {}
        for store, job in jobs.items():
            groups.setdefault(driver_of(store), {})[store] = job
        outcomes = _in_children(groups, meanwhile)
    return unwrap(outcomes, list(jobs))


def _in_children(
    groups: dict[str, dict[str, Callable[[], Any]]], meanwhile: Callable[[], object]
) -> dict[str, Outcome]:
    # Anything buffered now would be written twice: once by the parent, once by a child's copy.
    sys.stdout.flush()
    sys.stderr.flush()
    running: dict[str, tuple[int, int]] = {}
    outcomes: dict[str, Outcome] = {}
    try:
        for group, jobs in groups.items():
            read, write = os.pipe()
            pid = os.fork()
            if pid == 0:  # the child: do the work, send the outcomes, leave without cleanup
                os.close(read)
                _child(jobs, write)
            os.close(write)
            running[group] = (pid, read)
        meanwhile()
        for group, (pid, read) in list(running.items()):
            outcomes.update(_collect(group, list(groups[group]), pid, read))
            del running[group]
            os.close(read)
        return outcomes
    finally:
        # Only after an interruption or an error in the parent: stop what still runs.
        for pid, read in running.values():
            _stop(pid)
            os.close(read)


def _child(jobs: dict[str, Callable[[], Any]], write: int) -> None:
    code = 0
    try:
        outcomes = settle(jobs)
        try:
            data = pickle.dumps(outcomes)
        except Exception:  # an exception that cannot be pickled still gets reported
            data = pickle.dumps({s: _portable(o) for s, o in outcomes.items()})
        with os.fdopen(write, "wb") as out:
            out.write(data)
        if _AFTERWARDS:
            _detach()
            _run_afterwards()
    except BaseException:  # nothing may escape a forked child into the parent's code
        code = 70
    finally:
        os._exit(code)


def _detach() -> None:
    """Let go of the command's terminal and output: a caller reading them must see EOF when it exits."""
    os.setsid()
    quiet = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(quiet, fd)
    os.close(quiet)


def _portable(outcome: Outcome) -> Outcome:
    ok, value = outcome
    try:
        pickle.dumps(value)
    except Exception:
        if ok:
            raise
        text = "".join(traceback.format_exception_only(type(value), value)).strip()
        return False, ClikdError(text)
    return outcome


def _collect(group: str, stores: list[str], pid: int, read: int) -> dict[str, Outcome]:
    chunks: list[bytes] = []
    while chunk := os.read(read, 1 << 16):
        chunks.append(chunk)
    data = b"".join(chunks)
    if data:
        _LEFT.append(pid)  # it may still be doing its afterwards work: not waited for
        outcomes: dict[str, Outcome] = pickle.loads(data)  # noqa: S301  (our own child, our own pipe)
        return outcomes
    _, status = os.waitpid(pid, 0)
    how = (
        f"was killed by signal {os.WTERMSIG(status)}"
        if os.WIFSIGNALED(status)
        else f"exited with {os.waitstatus_to_exitcode(status)}"
    )
    error = ClikdError(
        f"the {group} worker process {how} before reporting ({', '.join(stores)})",
        hint="run again with CLIKD_NO_FORK=1 to do the work in this process and see what fails",
    )
    return dict.fromkeys(stores, (False, error))


def _reap() -> None:
    """Collect children that finished their afterwards work (a long-lived process would keep zombies)."""
    for pid in list(_LEFT):
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            done = pid
        if done:
            _LEFT.remove(pid)


def _stop(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass
