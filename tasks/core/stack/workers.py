"""Run blocking jobs in daemon threads while the main thread stays responsive to Ctrl+C.

``concurrent.futures`` joins its workers at exit, so one stuck Docker call would hold up a Ctrl+C;
these threads are daemons, and the waiting loop in the main thread wakes often enough for
KeyboardInterrupt to land at once.
"""

from __future__ import annotations

import _thread
import sys
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

# Every job here waits on a socket and then runs a little Python. A thread the engine's answer has
# woken waits for the interpreter lock up to the switch interval (5 ms by default) while another
# thread computes; a no-op env.start starts some 20 of them. At 0.5 ms a woken thread gets its turn
# ten times sooner: about 35 ms less for a no-op start and env.status on the 2-core test machine.
SWITCH_INTERVAL_S = 0.0005
if sys.getswitchinterval() > SWITCH_INTERVAL_S:
    sys.setswitchinterval(SWITCH_INTERVAL_S)


class Job(Generic[T]):
    def __init__(
        self,
        name: str,
        fn: Callable[[], T],
        gate: threading.Semaphore | None,
        notify: threading.Event | None = None,
    ) -> None:
        self.name = name
        self.result: T | None = None
        self.error: BaseException | None = None
        self.done = threading.Event()
        self._fn = fn
        self._gate = gate
        self._notify = notify

    def run(self) -> None:
        try:
            if self._gate is not None:
                with self._gate:
                    self.result = self._fn()
            else:
                self.result = self._fn()
        except BaseException as exc:  # handed to the waiting thread
            self.error = exc
        finally:
            self.done.set()
            if self._notify is not None:
                self._notify.set()


def start(
    name: str,
    fn: Callable[[], T],
    gate: threading.Semaphore | None = None,
    *,
    notify: threading.Event | None = None,
) -> Job[T]:
    """Run ``fn`` in a daemon thread; ``notify`` (shared by several jobs) is set when it ends.

    ``threading.Thread.start`` waits until the new thread has run: on two busy cores each such wait
    is a turn at the interpreter lock (0.5-1.5 ms), and env.status starts some 25 jobs, so they
    started one by one over 15 ms. A thread of ``_thread`` is started without that wait; like a
    daemon thread it is not joined at exit, and ``done`` says when its job has ended.
    """
    job: Job[T] = Job(name, fn, gate, notify)
    _thread.start_new_thread(job.run, ())
    return job


def wait_all(jobs: list[Job[T]], *, poll: float = 0.1) -> None:
    """Wait for every job; the first failure is raised once all have finished."""
    for job in jobs:
        while not job.done.wait(poll):
            pass
    for job in jobs:
        if job.error is not None:
            raise job.error


def run_all(named: dict[str, Callable[[], T]], *, limit: int = 8) -> dict[str, T]:
    """Run the callables in parallel (at most ``limit`` at once) and return their results by name."""
    gate = threading.Semaphore(max(1, limit))
    jobs = [start(name, fn, gate) for name, fn in named.items()]
    wait_all(jobs)
    return {job.name: job.result for job in jobs}  # type: ignore[misc]
