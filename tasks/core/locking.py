"""One mutating task at a time per branch: a lock the kernel releases when its holder dies.

Every task that changes a branch's local state (env.start, env.stop, env.prune, env.dev, db.reset,
db.restore, db.branch, db.migrate, db.seed) runs inside :func:`branch_lock`. The lock is an
``fcntl.flock`` on a file under the user's state folder (``$XDG_STATE_HOME/clikd/locks``, by default
``~/.local/state/clikd/locks``), named by :attr:`BranchIdentity.lock_file` (project + branch), so
it goes away with its process however that ends, ``kill -9`` included. The holder writes what it is
(task, pid, since when) into the file; a second caller reads that, says it is waiting, and waits,
or with ``wait=False`` raises :class:`Busy` (exit 9). Read-only tasks take no lock and never wait.

The lock is re-entrant within one process (a task calling another's core keeps it), and a forked
child closes its inherited descriptor at once, so a worker process that outlives its parent never
keeps the branch locked.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tasks.core.branch import BranchIdentity
from tasks.core.errors import Busy

if TYPE_CHECKING:
    from tasks.core.session import Session

_HELD: dict[str, tuple[int, int]] = {}  # lock path -> (descriptor, depth) held by this process


def _forget_in_child() -> None:
    for fd, _depth in _HELD.values():
        with contextlib.suppress(OSError):
            os.close(fd)  # the parent's lock stays: it is released only when all copies are closed
    _HELD.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_child)


def state_dir() -> Path:
    """clikd's per-user state folder on this machine (locks, owed work of interrupted runs)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "clikd"


def lock_path(ident: BranchIdentity) -> Path:
    return state_dir() / "locks" / ident.lock_file


@dataclass(frozen=True)
class Holder:
    """Who holds a branch's lock, as the holder wrote it."""

    task: str
    pid: int
    since: float  # seconds since the epoch
    branch: str

    def describe(self, now: float | None = None) -> str:
        age = max(0.0, (now or time.time()) - self.since)
        took = f"{age:.0f}s" if age < 120 else f"{age / 60:.0f} min"
        return f"{self.task} (pid {self.pid}, for {took})"


def _read_holder(fd: int) -> Holder | None:
    try:
        raw = os.pread(fd, 4096, 0)
        data: dict[str, Any] = json.loads(raw.decode("utf-8"))
        return Holder(str(data["task"]), int(data["pid"]), float(data["since"]), str(data["branch"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None  # the holder has not written yet (or an older clikd): unknown


def read_holder(ident: BranchIdentity) -> Holder | None:
    """Who holds the branch's lock now; None when nobody does."""
    path = lock_path(ident)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_holder(fd) or Holder("another clikd task", 0, time.time(), ident.branch)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


@contextlib.contextmanager
def branch_lock(
    ident: BranchIdentity,
    task: str,
    *,
    wait: bool = True,
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[None]:
    """Hold the lock of ``ident``'s branch (take it from ``Session.ident``) while ``task`` runs.

    When another process holds it: with ``wait``, ``on_wait`` gets one line saying who holds it
    (task, pid, for how long) and this blocks until the holder ends (Ctrl+C still interrupts); without
    ``wait`` it raises :class:`Busy` naming the holder.
    """
    path = lock_path(ident)
    key = str(path)
    if key in _HELD:  # re-entrant within one process
        fd, depth = _HELD[key]
        _HELD[key] = (fd, depth + 1)
        try:
            yield
        finally:
            fd, depth = _HELD[key]
            _HELD[key] = (fd, depth - 1)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        _acquire(fd, ident, task, wait=wait, on_wait=on_wait)
    except BaseException:
        os.close(fd)
        raise
    _HELD[key] = (fd, 1)
    try:
        os.ftruncate(fd, 0)
        record = {"task": task, "pid": os.getpid(), "since": time.time(), "branch": ident.branch}
        os.pwrite(fd, json.dumps(record).encode("utf-8"), 0)
        yield
    finally:
        _HELD.pop(key, None)
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # closing the last descriptor releases the lock


def _acquire(
    fd: int, ident: BranchIdentity, task: str, *, wait: bool, on_wait: Callable[[str], None] | None
) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return
    except BlockingIOError:
        pass
    holder = _read_holder(fd)
    who = holder.describe() if holder else "another clikd task"
    if not wait:
        raise Busy(
            f"{who} is changing branch {ident.branch!r}; {task} did not wait (--no-wait)",
            hint="run it again when that has finished, or leave out --no-wait to wait for it",
        )
    if on_wait is not None:
        on_wait(f"waiting for {who} to finish with branch {ident.branch!r} (Ctrl+C to give up)")
    fcntl.flock(fd, fcntl.LOCK_EX)  # blocks; a signal (Ctrl+C) interrupts it


def task_lock(session: Session, task: str, *, no_wait: bool) -> contextlib.AbstractContextManager[None]:
    """The branch's lock for a task that changes its local stores; nothing against a remote target."""
    if session.target.remote:
        return contextlib.nullcontext()
    from tasks.core import console

    return branch_lock(session.ident, task, wait=not no_wait, on_wait=console.note)
