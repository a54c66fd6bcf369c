"""The server: loads clikd once, then forks a child per command and reports each child's exit status.

    python -m tasks.core.server.daemon          (started by the ``clikd`` program, in the background)
    python -m tasks.core.server.daemon --stop   (asks this installation's server to step down)

One loop, one thread: accept a command, check that no module it loaded has changed on disk, fork,
tell the caller the child's pid; on SIGCHLD, send each ended child's status to its caller (a child
that ends normally has sent it itself, just before). Between commands it holds the idle database
connections env.status hands back, for the next one (lent.py). It steps down (stops listening,
lets its running commands finish, exits) when a module changed, on SIGTERM, or after
``CLIKD_SERVER_IDLE`` seconds (default 900) without a command.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import importlib
import marshal
import os
import pkgutil
import select
import signal
import socket
import struct
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tasks.core.server import lent, paths
from tasks.core.server.child import become

# What the served commands import (env.start and env.status, text and --json): loaded once here.
PRELOAD = (
    "tasks.program",
    "tasks.env",
    "tasks.core.stores.s3",
    "tasks.core.stores.s3.wire",
    # what they import on first use (config, migrations, generated clients, dev mode, prompts)
    "tasks.core.config.loader",
    "tasks.core.db.target",
    "tasks.core.db.models",
    "tasks.core.codegen.writer",
    "tasks.core.dev.state",
    "tasks.core.prompts",
    "xml.etree.ElementTree",
    "rich.console",
    "rich.live",
    "rich.progress",
    "rich.table",
)
PRELOAD_PACKAGES = ("tasks.core.stack",)
MAX_REQUEST = 4 << 20  # bytes: arguments and environment


def log(text: str) -> None:
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} [{os.getpid()}] {text}", flush=True)


def preload() -> list[str]:
    """Import what the served commands use; the names that failed (they load in the child, if at all)."""
    failed = []
    names = list(PRELOAD)
    for package in PRELOAD_PACKAGES:
        names += [
            f"{package}.{m.name}" for m in pkgutil.iter_modules(importlib.import_module(package).__path__)
        ]
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as exc:  # a module that cannot load here loads (or fails) in the command itself
            failed.append(f"{name} ({type(exc).__name__}: {exc})")
    try:
        warm()
    except Exception as exc:  # the children pay for it then
        failed.append(f"warm-up ({type(exc).__name__}: {exc})")
    return failed


def warm() -> None:
    """What the served commands build or load on first use, done once here."""
    import io

    import msgspec
    from rich.console import Console

    from tasks.core.config.schema import Settings

    msgspec.convert({}, Settings, strict=False)  # msgspec's converter for the type: 3-4 ms
    # markup's emoji table and the cell widths of the terminal's Unicode version, loaded on first print
    Console(file=io.StringIO(), width=80, force_terminal=True).print(":white_check_mark: ─ ✓ [bold]x[/]")


def fingerprint() -> dict[str, int]:
    """Every loaded module's file with its modification time: the code the children would run."""
    found: dict[str, int] = {}
    for module in list(sys.modules.values()):
        name = getattr(module, "__file__", None)
        if isinstance(name, str):
            with contextlib.suppress(OSError):
                found[name] = Path(name).stat().st_mtime_ns
    return found


def changed(files: dict[str, int]) -> str | None:
    """The first file whose modification time is no longer the one loaded, if any."""
    stat = os.stat  # each command checks every file: os.stat is a third of what Path.stat costs
    for name, mtime in files.items():
        try:
            if stat(name).st_mtime_ns != mtime:
                return name
        except OSError:
            return name
    return None


@dataclass
class Server:
    listener: socket.socket
    lock_fd: int
    files: dict[str, int]
    idle: float
    inode: int
    pool: lent.Pool = field(default_factory=lent.Pool)
    wake_r: int = -1
    wake_w: int = -1
    children: dict[int, socket.socket] = field(default_factory=dict)
    last: float = field(default_factory=time.monotonic)
    listening: bool = True
    terminated: bool = False
    served: int = 0

    def loop(self) -> None:
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_w, False)
        signal.set_wakeup_fd(self.wake_w, warn_on_full_buffer=False)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        # Only noted here; the loop steps down (the handler runs inside select, on its list of sockets).
        signal.signal(signal.SIGTERM, lambda *_: setattr(self, "terminated", True))
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        while self.listening or self.children:
            watched: list[Any] = [self.wake_r, self.pool, *([self.listener] if self.listening else [])]
            left = self.idle - (time.monotonic() - self.last)
            ready, _, _ = select.select(watched, [], [], max(left, 0.0) if not self.children else None)
            if self.wake_r in ready:
                os.read(self.wake_r, 4096)
            if self.pool in ready:  # before a command that may borrow what came back
                self.pool.receive()
            self.reap()
            if self.terminated:
                self.step_down("SIGTERM")
            if self.listening and self.listener in ready:
                self.accept()
            elif not ready and not self.children and self.listening:
                self.step_down(f"idle for {self.idle:g} s")
        log(f"exiting after {self.served} command(s)")

    def step_down(self, why: str) -> None:
        if not self.listening:
            return
        self.listening = False
        target = Path(paths.socket_path())
        with contextlib.suppress(OSError):  # another server's socket by now is left alone
            if target.stat().st_ino == self.inode:
                target.unlink()
        self.listener.close()
        os.close(self.lock_fd)  # a new server may start now
        log(f"stepping down: {why}")  # after the socket is gone: nothing new can reach this one

    def reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            conn = self.children.pop(pid, None)
            if conn is None:
                continue
            code = os.waitstatus_to_exitcode(status)
            with contextlib.suppress(OSError):  # the caller is gone
                conn.sendall(b"X%d\n" % (code if code >= 0 else 128 - code))
            conn.close()
            self.last = time.monotonic()

    def accept(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        fds: list[int] = []
        try:
            conn.settimeout(5)
            request, fds = self._read(conn)
            stale = changed(self.files)
            if stale or request.get("protocol") != paths.PROTOCOL:
                conn.sendall(b"S\n")
                self.step_down(f"{stale} changed" if stale else f"protocol {request.get('protocol')}")
                return
            conn.settimeout(None)
            self.pool.expire()
            pid = os.fork()
            if pid == 0:
                self.pool.in_child(request["argv"])
                become(
                    conn,
                    request,
                    fds,
                    closing=[self.listener.fileno(), self.lock_fd, self.wake_r, self.wake_w],
                )
            self.pool.forked(request["argv"])
            self.children[pid] = conn
            self.served += 1
            conn.sendall(b"P%d\n" % pid)
            log(f"command {self.served}: pid {pid}: {request['argv'][1] if len(request['argv']) > 1 else ''}")
            conn = None  # type: ignore[assignment]  # kept for the exit status
        except (OSError, ValueError) as exc:
            log(f"refused a command: {type(exc).__name__}: {exc}")
        finally:
            for fd in fds:
                os.close(fd)  # the child has its own copies; the caller's pipes must close with it
            if conn is not None:
                conn.close()
            self.last = time.monotonic()

    @staticmethod
    def _read(conn: socket.socket) -> tuple[dict[str, Any], list[int]]:
        if hasattr(socket, "SO_PEERCRED"):
            _, uid, _ = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
            if uid != os.getuid():
                raise ValueError(f"a caller of uid {uid}")
        data, fds, _, _ = socket.recv_fds(conn, 65536, 3)
        if len(fds) != 3:
            for fd in fds:
                os.close(fd)
            raise ValueError(f"{len(fds)} file descriptors instead of 3")
        try:
            buffer = bytearray(data)
            while len(buffer) < 4 or len(buffer) < 4 + int.from_bytes(buffer[:4], "big"):
                if len(buffer) >= 4 and int.from_bytes(buffer[:4], "big") > MAX_REQUEST:
                    raise ValueError("request too large")
                chunk = conn.recv(65536)
                if not chunk:
                    raise ValueError("the caller left mid-request")
                buffer += chunk
            request: dict[str, Any] = marshal.loads(bytes(buffer[4:]))  # noqa: S302 - a caller of this uid, this interpreter
        except BaseException:
            for fd in fds:
                os.close(fd)
            raise
        return request, fds


def stop() -> int:
    """SIGTERM to this installation's server, if one runs (its pid is in the lock file it holds)."""
    try:
        lock_fd = os.open(f"{paths.socket_path()}.lock", os.O_RDWR)
    except FileNotFoundError:
        print("no clikd server runs for this installation")
        return 0
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        pid = int(os.pread(lock_fd, 32, 0).decode().strip() or 0)
        if pid:
            os.kill(pid, signal.SIGTERM)
            print(f"asked the clikd server (pid {pid}) to step down")
        return 0
    finally:
        os.close(lock_fd)
    print("no clikd server runs for this installation")
    return 0


def main() -> int:
    if sys.argv[1:] == ["--stop"]:
        return stop()
    try:
        folder = paths.ensure_folder()
    except OSError as exc:
        log(f"not starting: {exc}")
        return 1
    os.chdir(folder)
    lock_fd = os.open(f"{paths.socket_path()}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return 0  # another server of this installation runs (or is starting)
    os.ftruncate(lock_fd, 0)
    os.pwrite(lock_fd, f"{os.getpid()}\n".encode(), 0)  # for --stop
    started = time.monotonic()
    failed = preload()
    files = fingerprint()
    target = Path(paths.socket_path())
    target.unlink(missing_ok=True)  # left by a server that was killed: nobody holds the lock
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(target))
    target.chmod(0o600)
    listener.listen(64)
    idle = float(os.environ.get("CLIKD_SERVER_IDLE", paths.IDLE_SECONDS))
    log(
        f"listening on {target}: {len(files)} modules loaded in {time.monotonic() - started:.2f} s"
        + (f"; not preloaded: {', '.join(failed)}" if failed else "")
    )
    # Each child inherits these objects; frozen, the collector never walks (and so copies) them.
    gc.collect()
    gc.freeze()
    Server(listener, lock_fd, files, idle, target.stat().st_ino).loop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
