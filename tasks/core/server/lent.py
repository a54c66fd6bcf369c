"""Idle database connections the server keeps between commands and lends to the next env.status.

A status snapshot first reads each database server's request counters, and before this it waited
for a connection to each (TCP, then authentication: SCRAM for Postgres), 5-25 ms beside the
snapshot's other threads. Now a served command hands its idle connections back when it ends (their
descriptors, over a datagram socket the server made), the server holds them, and the next command
that reads the same servers inherits them over fork and finds them with :func:`take`.

A connection serves one process at a time: the server closes its copies once a borrower has forked,
and a command that does not borrow closes its inherited copies as it starts. A connection is handed
back only when no request is in flight on it (the clients' ``idle``), and checked for an unsolicited
byte or end of stream before it is used again (the server restarted, or closed it). Run without the
server, :func:`give` keeps them for the rest of the process (the frames of ``--watch``).
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import socket
import time

BORROWERS = frozenset({"env.status"})  # the commands whose snapshot reads the database servers
KEEP_S = 300.0  # a connection the server held this long unused is closed, not lent
_MAX_KEY = 512

# In the server: what it holds, key -> (descriptor, since). In a borrower: what it inherited.
HELD: dict[str, tuple[int, float]] = {}
_kept: dict[str, socket.socket] = {}  # given back in this process, not yet handed to the server


class _Process:
    to_server: socket.socket | None = None  # a borrower's end of the server's datagram socket
    registered = False  # whether _hand_back runs at exit


_this = _Process()


def _at_exit() -> None:
    if not _this.registered:
        _this.registered = True
        atexit.register(_hand_back)


def key(kind: str, host: str, port: int, *, user: str, password: str, database: str = "") -> str:
    """What identifies a connection: the server, the login and the database (the password hashed)."""
    secret = hashlib.sha256(password.encode()).hexdigest()[:16]
    return f"{kind}|{host}|{port}|{user}|{secret}|{database}"


def _alive(sock: socket.socket) -> bool:
    """No byte waits on it and it is not at end of stream: an idle connection the peer keeps."""
    timeout = sock.gettimeout()
    sock.setblocking(False)  # with a timeout set, recv would first wait up to it for a byte
    try:
        sock.recv(1, socket.MSG_PEEK)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        sock.settimeout(timeout)
    return False  # end of stream, or something the peer sent unasked (a notice of shutdown)


def take(name: str, timeout: float) -> socket.socket | None:
    """A connection for ``name`` this process was lent or gave back, alive, with ``timeout`` set."""
    sock = _kept.pop(name, None)
    if sock is None:
        held = HELD.pop(name, None)
        if held is None:
            return None
        try:
            sock = socket.socket(fileno=held[0])
        except OSError:
            return None
    if not _alive(sock):
        sock.close()
        return None
    sock.settimeout(timeout)
    return sock


def give(name: str, sock: socket.socket) -> None:
    """Keep an idle connection for this process's next :func:`take`, and at its end for the server's."""
    if name in _kept:
        sock.close()
        return
    _kept[name] = sock
    _at_exit()


def _hand_back() -> None:
    """At the end of a served command: each connection it kept (and each lent and unused) to the server."""
    held = [(n, socket.socket(fileno=fd)) for n, (fd, _) in HELD.items()]
    HELD.clear()
    for name, sock in [*_kept.items(), *held]:
        with sock:
            if _this.to_server is not None and _alive(sock):
                with contextlib.suppress(OSError):  # the server is gone: the connection just closes
                    socket.send_fds(_this.to_server, [name.encode()], [sock.fileno()])
    _kept.clear()


class Pool:
    """The server's half: the datagram socket borrowers hand connections back on, and what it holds."""

    def __init__(self) -> None:
        self.receiver, self.sender = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.receiver.setblocking(False)

    def fileno(self) -> int:
        return self.receiver.fileno()

    def receive(self) -> None:
        """Take in every connection handed back since the last call."""
        while True:
            try:
                data, fds, _, _ = socket.recv_fds(self.receiver, _MAX_KEY, 4)
            except (BlockingIOError, InterruptedError):
                return
            name = data.decode(errors="replace")
            for fd in fds[1:]:  # one per message is all a borrower sends
                os.close(fd)
            if not fds:
                continue
            os.set_inheritable(fds[0], False)  # received descriptors are not close-on-exec by default
            old = HELD.pop(name, None)
            if old is not None:  # two borrowers at once: one connection is enough
                os.close(old[0])
            HELD[name] = (fds[0], time.monotonic())

    def expire(self) -> None:
        now = time.monotonic()
        for name, (fd, since) in list(HELD.items()):
            if now - since > KEEP_S:
                del HELD[name]
                os.close(fd)

    def forked(self, argv: list[str]) -> None:
        """In the server, after forking the command ``argv``: a borrower has what was held now."""
        if not borrows(argv):
            return
        for fd, _ in HELD.values():
            os.close(fd)
        HELD.clear()

    def in_child(self, argv: list[str]) -> None:
        """In the forked command: keep what was held when it borrows, close it when it does not."""
        self.receiver.close()
        if borrows(argv):
            _this.to_server = self.sender
            _at_exit()  # what it was lent and did not use goes back too
            return
        self.sender.close()
        for fd, _ in HELD.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        HELD.clear()


def borrows(argv: list[str]) -> bool:
    return any(arg in BORROWERS for arg in argv[1:])
