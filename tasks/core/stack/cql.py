"""A minimal CQL native-protocol (v4) client: connect, authenticate, run a query, read rows.

Enough for a health probe (``SELECT release_version FROM system.local``), creating the branch's
keyspace and counting its tables, at a fraction of the cassandra-driver's import and connect time.
Works against Apache Cassandra and ScyllaDB (both speak protocol v4).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tasks.core.stack import tcp

if TYPE_CHECKING:
    import socket

VERSION = 0x04
OP_ERROR, OP_STARTUP, OP_READY, OP_AUTHENTICATE = 0x00, 0x01, 0x02, 0x03
OP_QUERY, OP_RESULT, OP_AUTH_CHALLENGE, OP_AUTH_RESPONSE, OP_AUTH_SUCCESS = 0x07, 0x08, 0x0E, 0x0F, 0x10
CONSISTENCY_ONE = 0x0001
RESULT_ROWS = 0x0002
FLAG_TRACING, FLAG_CUSTOM_PAYLOAD, FLAG_WARNING = 0x02, 0x04, 0x08  # a frame header's flags


class CqlError(Exception):
    """The server answered with an error, or spoke something that is not CQL v4."""


@dataclass
class Rows:
    columns: list[str]
    rows: list[list[bytes | None]]

    def texts(self, column: int = 0) -> list[str]:
        return [(r[column] or b"").decode() for r in self.rows]


def _string(text: str) -> bytes:
    raw = text.encode()
    return struct.pack(">H", len(raw)) + raw


def _long_string(text: str) -> bytes:
    raw = text.encode()
    return struct.pack(">i", len(raw)) + raw


class _Reader:
    def __init__(self, body: bytes) -> None:
        self.body = body
        self.at = 0

    def take(self, n: int) -> bytes:
        chunk = self.body[self.at : self.at + n]
        if len(chunk) != n:
            raise CqlError("truncated CQL frame")
        self.at += n
        return chunk

    def int32(self) -> int:
        value: int = struct.unpack(">i", self.take(4))[0]
        return value

    def short(self) -> int:
        value: int = struct.unpack(">H", self.take(2))[0]
        return value

    def string(self) -> str:
        return self.take(self.short()).decode()

    def bytes(self) -> bytes | None:
        n = self.int32()
        return None if n < 0 else self.take(n)

    def option(self) -> None:
        kind = self.short()
        if kind == 0x0000:  # custom: class name
            self.string()
        elif kind in (0x0020, 0x0022):  # list, set
            self.option()
        elif kind == 0x0021:  # map
            self.option()
            self.option()
        elif kind == 0x0030:  # UDT
            self.string()
            self.string()
            for _ in range(self.short()):
                self.string()
                self.option()
        elif kind == 0x0031:  # tuple
            for _ in range(self.short()):
                self.option()


class Connection:
    """One connection, used by one thread."""

    def __init__(
        self, host: str, port: int, *, user: str = "", password: str = "", timeout: float = 3.0
    ) -> None:
        self.sock = tcp.connect(host, port, timeout)
        self._buffer = bytearray()
        self.stream = 0
        self.idle = False  # no request in flight: the connection can serve another query, or process
        try:
            op, _ = self._call(OP_STARTUP, struct.pack(">H", 1) + _string("CQL_VERSION") + _string("3.0.0"))
            if op == OP_AUTHENTICATE:
                if not user:
                    raise CqlError("the server requires authentication and no user is configured")
                token = b"\0" + user.encode() + b"\0" + password.encode()
                op, _body = self._call(OP_AUTH_RESPONSE, struct.pack(">i", len(token)) + token)
                if op != OP_AUTH_SUCCESS:
                    raise CqlError(f"authentication failed (opcode {op:#x})")
            elif op != OP_READY:
                raise CqlError(f"unexpected answer to STARTUP (opcode {op:#x})")
        except BaseException:
            self.sock.close()
            raise

    @classmethod
    def adopt(cls, sock: socket.socket) -> Connection:
        """An idle, ready connection another process opened (server/lent.py)."""
        conn = cls.__new__(cls)
        conn.sock, conn._buffer, conn.stream, conn.idle = sock, bytearray(), 0, True
        return conn

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _recv(self, n: int) -> bytes:
        # all the server has sent at once, not the 9-byte header and the body apart (see pgwire.py)
        while len(self._buffer) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise CqlError("the server closed the connection")
            self._buffer += chunk
        data = bytes(self._buffer[:n])
        del self._buffer[:n]
        return data

    def _call(self, opcode: int, body: bytes) -> tuple[int, bytes]:
        self.stream = (self.stream + 1) % 32768
        self.idle = False
        self.sock.sendall(struct.pack(">BBhBi", VERSION, 0, self.stream, opcode, len(body)) + body)
        version, flags, _stream, op, length = struct.unpack(">BBhBi", self._recv(9))
        if version & 0x7F != VERSION:
            raise CqlError(f"the server does not speak CQL protocol v4 (answered version {version & 0x7F})")
        payload = _strip_extras(flags, self._recv(length) if length else b"")
        self.idle = not self._buffer
        if op == OP_ERROR:
            reader = _Reader(payload)
            code = reader.int32()
            raise CqlError(f"server error {code:#06x}: {reader.string()}")
        return op, payload

    def query(self, cql: str) -> Rows | None:
        op, body = self._call(OP_QUERY, _long_string(cql) + struct.pack(">HB", CONSISTENCY_ONE, 0))
        if op != OP_RESULT:
            raise CqlError(f"unexpected answer to QUERY (opcode {op:#x})")
        reader = _Reader(body)
        if reader.int32() != RESULT_ROWS:
            return None
        flags, count = reader.int32(), reader.int32()
        if flags & 0x0002:
            reader.bytes()
        columns: list[str] = []
        if not flags & 0x0004:
            if flags & 0x0001:
                reader.string()
                reader.string()
            for _ in range(count):
                if not flags & 0x0001:
                    reader.string()
                    reader.string()
                columns.append(reader.string())
                reader.option()
        rows = [[reader.bytes() for _ in range(count)] for _ in range(reader.int32())]
        return Rows(columns, rows)


def _strip_extras(flags: int, payload: bytes) -> bytes:
    """The body without what the frame's flags put before it: a tracing id, warnings (the server
    warns about an aggregate without a partition key, for one), a custom payload."""
    reader = _Reader(payload)
    if flags & FLAG_TRACING:
        reader.take(16)
    if flags & FLAG_WARNING:
        for _ in range(reader.short()):
            reader.string()
    if flags & FLAG_CUSTOM_PAYLOAD:
        for _ in range(reader.short()):
            reader.string()
            reader.bytes()
    return payload[reader.at :]


def quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
