"""The forked child: becomes the caller's process (its descriptors, environment, directory) and runs clikd."""

from __future__ import annotations

import _thread
import atexit
import contextlib
import io
import os
import signal
import socket
import sys
import time
import traceback
from typing import Any, NoReturn


def _streams(env: dict[str, str]) -> None:
    # New stream objects on the adopted descriptors, made the way Python makes them at start-up:
    # line-buffered on a terminal, stderr always; the server's own were made for /dev/null.
    encoding = (env.get("PYTHONIOENCODING") or "").split(":")[0] or "utf-8"

    def text(fd: int, mode: str, errors: str, line: bool) -> io.TextIOWrapper:
        raw = io.FileIO(fd, mode, closefd=False)
        buffered: io.BufferedReader | io.BufferedWriter = (
            io.BufferedReader(raw) if mode == "r" else io.BufferedWriter(raw)
        )
        return io.TextIOWrapper(buffered, encoding=encoding, errors=errors, line_buffering=line)

    sys.stdin = text(0, "r", "strict", False)
    sys.stdout = text(1, "w", "strict", os.isatty(1))
    sys.stderr = text(2, "w", "backslashreplace", True)
    for name in ("stdin", "stdout", "stderr"):  # what Rich measures the terminal on
        setattr(sys, f"__{name}__", getattr(sys, name))


def _watch(conn: socket.socket) -> None:
    # The caller never writes after its request: the end of the stream means it is gone (killed,
    # perhaps with SIGKILL, which cannot be passed on). A killed clikd does not go on working.
    try:
        while conn.recv(64):
            pass
    except OSError:
        pass
    os.kill(os.getpid(), signal.SIGKILL)


def _code(done: SystemExit) -> int:
    if done.code is None:
        return 0
    if isinstance(done.code, int):
        return done.code
    sys.stderr.write(f"{done.code}\n")
    return 1


def become(conn: socket.socket, request: dict[str, Any], fds: list[int], closing: list[int]) -> NoReturn:
    """Run the caller's command in this process, then exit with its status; never returns."""
    code = 1
    log_fd, loaded = -1, set(sys.modules)
    try:
        for fd in closing:
            with contextlib.suppress(OSError):  # closed already (the lock, after a step-down)
                os.close(fd)
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        log_fd = os.dup(1)  # the server's log, before the caller's descriptors take 0-2
        for target, fd in zip((0, 1, 2), fds, strict=True):
            os.dup2(fd, target)
            os.close(fd)
        env = {str(k): str(v) for k, v in request["env"].items()}
        for name in [n for n in os.environ if n not in env]:
            del os.environ[name]
        # each assignment is a putenv: only what differs from the server's (about 1 ms for all)
        os.environ.update({k: v for k, v in env.items() if os.environ.get(k) != v})
        os.umask(int(request["umask"]))
        os.chdir(request["cwd"])
        sys.argv = [str(a) for a in request["argv"]]
        _streams(env)
        _thread.start_new_thread(_watch, (conn,))  # not joined at exit; no wait for its first turn
        from tasks.program import main

        try:
            main()
            code = 0
        except SystemExit as done:
            code = _code(done)
    except BaseException:
        traceback.print_exc()
    finally:
        try:
            atexit._run_exitfuncs()
            for stream in (sys.stdout, sys.stderr):
                stream.flush()
            _note_imports(log_fd, loaded)
            # The status now, not after this process's teardown and the server's turn (4-5 ms);
            # the server sends it again when it reaps, which matters only if this one did not arrive.
            with contextlib.suppress(OSError):
                conn.sendall(b"X%d\n" % (code & 0xFF))  # what the exit status will be
        finally:
            os._exit(code)


def _note_imports(log_fd: int, loaded: set[str]) -> None:
    """Name in the server's log what the command imported that the server had not (daemon.PRELOAD)."""
    if log_fd < 0:
        return
    added = sorted(set(sys.modules) - loaded)
    text = f"pid {os.getpid()}: imported {len(added)} module(s) the server had not" + (
        f": {' '.join(added)}" if added else ""
    )
    with contextlib.suppress(OSError):
        os.write(log_fd, f"{time.strftime('%Y-%m-%d %H:%M:%S')} [{os.getppid()}] {text}\n".encode())
