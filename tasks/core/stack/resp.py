"""A few Redis-protocol (RESP2) commands on one connection, for env.status's reads of KeyDB.

redis-py costs more to import than env.status spends on KeyDB altogether; the dashboard sends a
handful of commands (AUTH, INFO, DBSIZE, HGETALL) and reads simple strings, integers, bulk strings
and arrays of them, which is all this module reads.
"""

from __future__ import annotations

from tasks.core.stack import tcp

Reply = bytes | int | str | list["Reply"] | None


class RespError(Exception):
    """The server answered a command with an error ("-ERR ...")."""


def encode(*parts: str) -> bytes:
    """One command as a RESP array of bulk strings."""
    out = f"*{len(parts)}\r\n"
    for part in parts:
        out += f"${len(part.encode())}\r\n{part}\r\n"
    return out.encode()


class Link:
    """A connection to the server, authenticated when a password is given."""

    def __init__(self, host: str, port: int, *, password: str = "", timeout: float = 2.0) -> None:
        self.sock = tcp.connect(host, port, timeout)
        self.reader = self.sock.makefile("rb")
        try:
            if password:
                self.call("AUTH", password)
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Link:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.reader.close()
        self.sock.close()

    def call(self, *parts: str) -> Reply:
        """Send one command and read its reply; an error reply raises RespError."""
        self.sock.sendall(encode(*parts))
        return self._reply()

    def _reply(self) -> Reply:
        line = self.reader.readline()
        if not line.endswith(b"\r\n"):
            raise OSError("the server closed the connection")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode(errors="replace")
        if kind == b"-":
            raise RespError(rest.decode(errors="replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            size = int(rest)
            if size < 0:
                return None
            data = self.reader.read(size + 2)
            if len(data) != size + 2:
                raise OSError("the server closed the connection mid-answer")
            return data[:-2]
        if kind == b"*":
            count = int(rest)
            return None if count < 0 else [self._reply() for _ in range(count)]
        raise OSError(f"not a RESP answer: {line[:40]!r}")

    def text(self, *parts: str) -> str:
        """A command whose answer is a bulk or simple string (INFO), as text."""
        got = self.call(*parts)
        return got.decode(errors="replace") if isinstance(got, bytes) else str(got)
