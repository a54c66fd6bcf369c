"""The caller's half: hand a command to the server and stand in for it until it ends.

:func:`run` returns ``None`` whenever the server cannot take the command (none running, an old one
stepping down, anything odd before the command began), and the caller then runs it in-process:
the server only ever makes a command faster, never different.

This module is the whole of what a served command loads besides the interpreter, so it uses the C
modules under ``socket`` and ``signal`` (whose Python layers import ``enum``, some 7 ms), no
``typing`` (10 ms) and ``marshal`` for the request (the server runs the same interpreter).
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # signal's C half: no stubs, the same functions
import _socket
import marshal
import os
import sys

from tasks.core.server import paths

# What a terminal or a supervisor sends; each goes on to the command's process.
FORWARDED = (_signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP, _signal.SIGQUIT, _signal.SIGWINCH)
OFF = {"0", "false", "no", "off"}
# Python's own diagnostics are asked of the process that runs the command: it has to be this one.
DIAGNOSTICS = ("PYTHONPROFILEIMPORTTIME", "PYTHONTRACEMALLOC", "PYTHONDEVMODE", "PYTHONMALLOC", "PYTHONDEBUG")


def wanted(environ: os._Environ[str] | dict[str, str]) -> bool:
    """Whether this environment lets the server run the command.

    ``CLIKD_SERVER=0`` turns it off. A test paused at a checkpoint runs in-process: its signals go to
    the process group it started, and it reads the pid the checkpoint writes. So does a command
    run under one of Python's diagnostics (``PYTHONPROFILEIMPORTTIME=1`` and the like).
    """
    if environ.get("CLIKD_SERVER", "1").strip().lower() in OFF:
        return False
    if any(environ.get(name) for name in DIAGNOSTICS):
        return False
    return not environ.get("CLIKD_TEST_PAUSE_AT") and hasattr(_socket.socket, "sendmsg")


def request(argv: list[str]) -> bytes:
    """What the server needs to run ``argv`` as this process would, length-prefixed."""
    mask = os.umask(0o022)
    os.umask(mask)
    body = marshal.dumps(
        {"protocol": paths.PROTOCOL, "argv": argv, "env": dict(os.environ), "cwd": os.getcwd(), "umask": mask}
    )
    return len(body).to_bytes(4, "big") + body


def _read_line(conn: _socket.socket, buffer: bytearray) -> bytes | None:
    """The next line the server sent, None at end of stream."""
    while b"\n" not in buffer:
        chunk = conn.recv(256)
        if not chunk:
            return None
        buffer += chunk
    line, _, rest = bytes(buffer).partition(b"\n")
    buffer[:] = rest
    return line


class _Forwarder:
    """Holds the signals that arrive before the command's pid is known, then passes each on."""

    def __init__(self) -> None:
        self.pid = 0
        self.pending: list[int] = []
        self.previous: dict[int, object] = {sig: _signal.signal(sig, self._on) for sig in FORWARDED}

    def _on(self, sig: int, _frame: object) -> None:
        if self.pid:
            self._send(sig)
        else:
            self.pending.append(sig)

    def _send(self, sig: int) -> None:
        try:  # (contextlib's import would cost more than the rest of this module)
            os.kill(self.pid, sig)
        except ProcessLookupError:
            pass  # it has just ended; its status is on its way

    def started(self, pid: int) -> None:
        self.pid = pid
        for sig in self.pending:
            self._send(sig)
        self.pending.clear()

    def restore(self) -> None:
        for sig, handler in self.previous.items():
            _signal.signal(sig, handler)


def run(argv: list[str]) -> int | None:
    """Run ``argv`` in the server; its exit status, or None when the caller must run it itself."""
    conn = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        conn.connect(paths.socket_path())
    except OSError:
        conn.close()
        return None
    forwarder = _Forwarder()
    try:
        # this process's stdin, stdout and stderr themselves, as C ints
        fds = b"".join(fd.to_bytes(4, sys.byteorder) for fd in (0, 1, 2))
        conn.sendmsg([request(argv)], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fds)])
        buffer = bytearray()
        line = _read_line(conn, buffer)
        if line is None or not line.startswith(b"P"):
            # Not taken ("S": stepping down, or nothing): the command has not begun anywhere.
            if forwarder.pending:  # Ctrl+C before it began: it ends here, as it would have in-process
                sys.stderr.write("\ninterrupted\n")
                return 128 + forwarder.pending[0]
            return None
        forwarder.started(int(line[1:]))
        line = _read_line(conn, buffer)
        if line is None or not line.startswith(b"X"):
            return _lost(forwarder.pid)
        return int(line[1:])
    except OSError:
        if forwarder.pid:
            return _lost(forwarder.pid)
        return None
    finally:
        conn.close()
        forwarder.restore()


def _lost(pid: int) -> int:
    # The server went away while the command ran (killed with it, most likely).
    sys.stderr.write(
        f"clikd: the clikd server ended while running this command (pid {pid}); see {paths.log_path()}\n"
    )
    return 1


def spawn() -> None:
    """Start a server in the background for the next command; quietly nothing when it cannot."""
    import subprocess  # only on this path: a served command never needs it

    try:
        folder = paths.ensure_folder()
        log = open(paths.log_path(), "ab")  # noqa: SIM115 - the server's output, closed here after
    except OSError:
        return
    with log:
        try:
            subprocess.Popen(
                [sys.executable, "-m", "tasks.core.server.daemon"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd=folder,
                start_new_session=True,
                close_fds=True,
            )
        except OSError:
            return
