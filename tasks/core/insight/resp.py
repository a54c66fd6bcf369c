"""A minimal Redis-protocol (RESP2) client with the few calls db.inspect makes, shaped like redis-py's.

redis-py imports its asyncio half and its parsers on ``import redis``: about half a second, more
than the whole inspection. KeyDB is reached without TLS here as in redis-py's use elsewhere in clikd.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from tasks.core.stack import tcp

if TYPE_CHECKING:
    import socket


class RespError(Exception):
    """The server answered with an error, or closed the connection."""


def _command(*parts: str | bytes | int) -> bytes:
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        raw = part if isinstance(part, bytes) else str(part).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(raw), raw))
    return b"".join(out)


class Client:
    def __init__(
        self, host: str, port: int, *, user: str = "", password: str = "", timeout: float = 10
    ) -> None:
        self.sock = tcp.connect(host, port, timeout)
        self.reader = self.sock.makefile("rb")
        self.idle = True  # no request in flight: the connection can serve another command, or process
        try:
            if password:
                self.call(*(("AUTH", user, password) if user else ("AUTH", password)))
        except BaseException:
            self.close()
            raise

    @classmethod
    def adopt(cls, sock: socket.socket) -> Client:
        """An idle, authenticated connection another process opened (server/lent.py)."""
        client = cls.__new__(cls)
        client.sock, client.reader, client.idle = sock, sock.makefile("rb"), True
        return client

    def detach(self) -> socket.socket:
        """The connection itself, for another owner; this client is done with it."""
        self.reader.close()
        return self.sock

    def close(self) -> None:
        self.reader.close()
        self.sock.close()

    def _reply(self) -> Any:
        line = self.reader.readline()
        if not line.endswith(b"\r\n"):
            raise RespError("the server closed the connection")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest
        if kind == b"-":
            raise RespError(rest.decode(errors="replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            size = int(rest)
            if size < 0:
                return None
            data = self.reader.read(size + 2)
            if len(data) != size + 2:  # a short read is the end of the stream, not the value
                raise RespError("the server closed the connection")
            return data[:-2]
        if kind == b"*":
            count = int(rest)
            return None if count < 0 else [self._reply() for _ in range(count)]
        raise RespError(f"not the Redis protocol: {line[:40]!r}")

    def call(self, *parts: str | bytes | int) -> Any:
        self.idle = False  # until the whole reply is read (after an error reply too, it stays so)
        self.sock.sendall(_command(*parts))
        reply = self._reply()
        self.idle = True
        return reply

    def text(self, *parts: str | bytes | int) -> str:
        """A command whose answer is a string (INFO), as text."""
        got = self.call(*parts)
        return got.decode(errors="replace") if isinstance(got, bytes) else str(got)

    def many(self, commands: list[tuple[str | bytes | int, ...]]) -> list[Any]:
        """Send the commands at once and read their replies in order (a pipeline); an error reply
        is returned in place as a RespError, not raised."""
        if not commands:
            return []
        self.idle = False
        self.sock.sendall(b"".join(_command(*c) for c in commands))
        out: list[Any] = []
        for _ in commands:
            try:
                out.append(self._reply())
            except RespError as error:
                if str(error) == "the server closed the connection":
                    raise
                out.append(error)
        self.idle = True
        return out

    def scan_iter(self, match: str, count: int = 1000) -> Iterator[bytes]:
        cursor = b"0"
        while True:
            cursor, keys = self.call("SCAN", cursor, "MATCH", match, "COUNT", count)
            yield from keys
            if cursor == b"0":
                return

    def info(self, section: str) -> dict[str, str]:
        text = (self.call("INFO", section) or b"").decode(errors="replace")
        pairs = (line.split(":", 1) for line in text.splitlines() if ":" in line and not line.startswith("#"))
        return {k: v for k, v in pairs}
