"""A minimal PostgreSQL frontend (protocol 3.0): connect, authenticate, run simple queries.

Enough for the readiness probe (``SELECT 1``), creating and listing the branch's databases and
reading their size, without importing psycopg (a few hundred milliseconds that a no-op env.start
and env.status cannot afford). Authentication: trust, cleartext, MD5 and SCRAM-SHA-256. No TLS:
it talks to the branch's own container on loopback.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import os
import struct
from typing import TYPE_CHECKING

from tasks.core.stack import tcp

if TYPE_CHECKING:
    import socket


class PgError(Exception):
    """The server refused or failed; ``code`` is the SQLSTATE when it sent one."""

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code


def _cstr(text: str) -> bytes:
    return text.encode() + b"\0"


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class Connection:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        user: str,
        password: str,
        dbname: str = "postgres",
        timeout: float = 3.0,
    ) -> None:
        self.sock = tcp.connect(host, port, timeout)
        self._buffer = bytearray()
        self.user = user
        self.password = password
        self.idle = False  # no request in flight: the connection can serve another query, or process
        try:
            params = _cstr("user") + _cstr(user) + _cstr("database") + _cstr(dbname) + b"\0"
            body = struct.pack(">i", 196608) + params
            self.sock.sendall(struct.pack(">i", len(body) + 4) + body)
            self._authenticate()
        except BaseException:
            self.sock.close()
            raise
        self.idle = True

    @classmethod
    def adopt(cls, sock: socket.socket, *, user: str, password: str) -> Connection:
        """An idle, authenticated connection another process opened (server/lent.py)."""
        conn = cls.__new__(cls)
        conn.sock, conn._buffer, conn.user, conn.password, conn.idle = sock, bytearray(), user, password, True
        return conn

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.sock.sendall(b"X" + struct.pack(">i", 4))
        except OSError:
            pass
        finally:
            self.sock.close()

    # ------------------------------------------------------------------ framing
    def _recv(self, n: int) -> bytes:
        # Read what the server has sent, not each message's 1 + 4 + body bytes apart: a connection's
        # start-up alone is some 15 messages, and each recv gives up the interpreter lock, which a
        # busy thread of env.status then holds for up to its switch interval before this one goes on.
        while len(self._buffer) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise PgError("the server closed the connection")
            self._buffer += chunk
        data = bytes(self._buffer[:n])
        del self._buffer[:n]
        return data

    def _message(self) -> tuple[bytes, bytes]:
        kind = self._recv(1)
        (length,) = struct.unpack(">i", self._recv(4))
        return kind, self._recv(length - 4)

    def _send(self, kind: bytes, body: bytes) -> None:
        self.sock.sendall(kind + struct.pack(">i", len(body) + 4) + body)

    @staticmethod
    def _error(body: bytes) -> PgError:
        fields: dict[str, str] = {}
        for part in body.split(b"\0"):
            if part:
                fields[chr(part[0])] = part[1:].decode(errors="replace")
        return PgError(f"{fields.get('S', 'ERROR')}: {fields.get('M', 'unknown error')}", fields.get("C", ""))

    # ------------------------------------------------------------------ auth
    def _authenticate(self) -> None:
        scram: _Scram | None = None
        while True:
            kind, body = self._message()
            if kind == b"E":
                raise self._error(body)
            if kind == b"R":
                (code,) = struct.unpack(">i", body[:4])
                if code == 0:
                    continue
                if code == 3:  # cleartext
                    self._send(b"p", _cstr(self.password))
                elif code == 5:  # md5
                    salt = body[4:8]
                    inner = hashlib.md5((self.password + self.user).encode()).hexdigest()  # noqa: S324
                    outer = hashlib.md5(inner.encode() + salt).hexdigest()  # noqa: S324  (the protocol's)
                    self._send(b"p", _cstr("md5" + outer))
                elif code == 10:  # SASL: mechanisms offered
                    if b"SCRAM-SHA-256\0" not in body[4:]:
                        raise PgError("the server offers no SASL mechanism this client supports")
                    scram = _Scram(self.password)
                    first = scram.client_first().encode()
                    self._send(b"p", _cstr("SCRAM-SHA-256") + struct.pack(">i", len(first)) + first)
                elif code == 11 and scram is not None:  # SASL continue
                    self._send(b"p", scram.client_final(body[4:].decode()).encode())
                elif code == 12 and scram is not None:  # SASL final
                    scram.verify(body[4:].decode())
                else:
                    raise PgError(f"unsupported authentication request {code}")
            elif kind == b"Z":
                return
            # S (parameter status), K (backend key), N (notice): nothing to do

    # ------------------------------------------------------------------ queries
    def query(self, sql: str) -> list[tuple[str | None, ...]]:
        """Run one simple query; the rows of its (last) result, as text."""
        self.idle = False
        self._send(b"Q", _cstr(sql))
        rows: list[tuple[str | None, ...]] = []
        error: PgError | None = None
        while True:
            kind, body = self._message()
            if kind == b"D":
                (count,) = struct.unpack(">h", body[:2])
                at = 2
                row: list[str | None] = []
                for _ in range(count):
                    (size,) = struct.unpack(">i", body[at : at + 4])
                    at += 4
                    if size < 0:
                        row.append(None)
                    else:
                        row.append(body[at : at + size].decode())
                        at += size
                rows.append(tuple(row))
            elif kind == b"T":
                rows = []
            elif kind == b"E":
                error = self._error(body)
            elif kind == b"Z":
                self.idle = not self._buffer
                if error is not None:
                    raise error
                return rows


@functools.lru_cache(maxsize=16)
def _salted(password: str, salt: str, iterations: int) -> bytes:
    """SCRAM's SaltedPassword (RFC 5802: a client may keep it): 4096 rounds of PBKDF2 once per
    process, not once per connection; ``env.status --watch`` opens several a second."""
    return hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt), iterations)


class _Scram:
    def __init__(self, password: str) -> None:
        self.password = password
        self.nonce = base64.b64encode(os.urandom(18)).decode()
        self.bare = f"n=,r={self.nonce}"
        self.server_signature = b""

    def client_first(self) -> str:
        return "n,," + self.bare

    def client_final(self, server_first: str) -> str:
        attrs = dict(part.split("=", 1) for part in server_first.split(","))
        if not attrs["r"].startswith(self.nonce):
            raise PgError("SCRAM: the server's nonce does not extend ours")
        salted = _salted(self.password, attrs["s"], int(attrs["i"]))
        client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
        stored_key = hashlib.sha256(client_key).digest()
        without_proof = f"c=biws,r={attrs['r']}"
        auth_message = f"{self.bare},{server_first},{without_proof}".encode()
        signature = hmac.new(stored_key, auth_message, hashlib.sha256).digest()
        proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
        self.server_signature = hmac.new(server_key, auth_message, hashlib.sha256).digest()
        return f"{without_proof},p={base64.b64encode(proof).decode()}"

    def verify(self, server_final: str) -> None:
        attrs = dict(part.split("=", 1) for part in server_final.split(","))
        if base64.b64decode(attrs.get("v", "")) != self.server_signature:
            raise PgError("SCRAM: the server's signature does not match")
