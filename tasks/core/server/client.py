"""The caller's half: hand a command to the server and stand in for it until it ends.

:func:`run` returns ``None`` whenever the server cannot take the command (none running, an old one
stepping down, anything odd before the command began), and the caller then runs it in-process:
the server only ever makes a command faster, never different.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import struct
import sys
from pathlib import Path
from types import FrameType

from tasks.core.server import paths

# What a terminal or a supervisor sends; each goes on to the command's process.
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGWINCH)
OFF = {"0", "false", "no", "off"}


def wanted(environ: os._Environ[str] | dict[str, str]) -> bool:
    """Whether this environment lets the server run the command.

    ``CLIKD_SERVER=0`` turns it off. A test paused at a checkpoint runs in-process: its signals go to
    the process group it started, and it reads the pid the checkpoint writes.
    """
    if environ.get("CLIKD_SERVER", "1").strip().lower() in OFF:
        return False
    return not environ.get("CLIKD_TEST_PAUSE_AT") and hasattr(socket, "send_fds")


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _read_line(conn: socket.socket, buffer: bytearray) -> bytes | None:
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
        self.previous = {sig: signal.signal(sig, self._on) for sig in FORWARDED}

    def _on(self, sig: int, _frame: FrameType | None) -> None:
        if self.pid:
            self._send(sig)
        else:
            self.pending.append(sig)

    def _send(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):  # it has just ended; its status is on its way
            os.kill(self.pid, sig)

    def started(self, pid: int) -> None:
        self.pid = pid
        for sig in self.pending:
            self._send(sig)
        self.pending.clear()

    def restore(self) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


def run(argv: list[str]) -> int | None:
    """Run ``argv`` in the server; its exit status, or None when the caller must run it itself."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(str(paths.socket_path()))
    except OSError:
        conn.close()
        return None
    request = json.dumps(
        {
            "protocol": paths.PROTOCOL,
            "argv": argv,
            "env": dict(os.environ),
            "cwd": str(Path.cwd()),
            "umask": _umask(),
        }
    ).encode()
    forwarder = _Forwarder()
    try:
        socket.send_fds(conn, [struct.pack("!I", len(request)) + request], [0, 1, 2])
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
        log = paths.log_path().open("ab")  # handed to the server as its output, closed here after
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
