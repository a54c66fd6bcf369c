"""One HTTP/1.1 request and its answer on a connected socket, for the everyday reads.

``http.client`` parses every answer's headers with the ``email`` package's feed parser: about half a
millisecond of CPU per answer here, which the engine's dozen answers per ``env.status`` frame and
the services' probes paid each second under ``--watch``. These callers send one request per
connection (``Connection: close``), read a status, a few headers and a body framed by
Content-Length, chunks or the close: that is all this module reads. A broken answer raises this
module's ProtocolError (a peer that closed before answering: RemoteDisconnected, an OSError, like
http.client's of that name); ``http.client`` itself (10-15 ms of import with the email package)
is not loaded.
"""

from __future__ import annotations

import io
import socket
from dataclasses import dataclass

MAX_LINE = 65536
MAX_HEADERS = 100


class ProtocolError(Exception):
    """The peer's answer is not the HTTP/1.1 this module reads."""


class RemoteDisconnected(ConnectionResetError, ProtocolError):
    """The peer closed the connection before it answered."""


class IncompleteRead(ProtocolError):
    """The body ended before its length or its last chunk."""

    def __init__(self, partial: bytes, expected: int | None = None) -> None:
        more = f", {expected} more expected" if expected is not None else ""
        super().__init__(f"IncompleteRead({len(partial)} bytes read{more})")
        self.partial = partial


@dataclass(frozen=True)
class Answer:
    status: int
    reason: str
    headers: dict[str, str]  # names in lower case
    body: bytes

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")


def exchange(
    sock: socket.socket,
    method: str,
    target: str,
    *,
    host: str,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    limit: int | None = None,
) -> Answer:
    """Send the request, read the answer (its body up to ``limit`` bytes when given)."""
    sock.sendall(_request(method, target, host, headers or {}, body))
    with sock.makefile("rb") as fp:
        status, reason = _status_line(fp.readline(MAX_LINE + 1))
        fields = _headers(fp)
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            data = b""
        elif fields.get("transfer-encoding", "").lower() == "chunked":
            data = _chunks(fp, limit)
        elif "content-length" in fields:
            data = _sized(fp, fields["content-length"], limit)
        else:
            data = fp.read() if limit is None else fp.read(limit)
    return Answer(status, reason, fields, data)


def _request(method: str, target: str, host: str, given: dict[str, str], body: bytes | None) -> bytes:
    lines = [f"{method} {target} HTTP/1.1"]
    if not any(name.lower() == "host" for name in given):  # (a signed request names its own)
        lines.append(f"Host: {host}")
    lines += ["Connection: close", "Accept-Encoding: identity"]
    lines += [f"{name}: {value}" for name, value in given.items()]
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


def _headers(fp: io.BufferedReader) -> dict[str, str]:
    fields: dict[str, str] = {}
    for _ in range(MAX_HEADERS + 1):
        line = fp.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            raise ProtocolError("a header line longer than 64 KiB")
        if line in (b"\r\n", b"\n", b""):
            return fields
        name, colon, value = line.decode("latin-1").partition(":")
        if colon:  # (a line without a colon is ignored, as http.client does)
            fields[name.strip().lower()] = value.strip()
    raise ProtocolError(f"got more than {MAX_HEADERS} headers")


def _sized(fp: io.BufferedReader, declared: str, limit: int | None) -> bytes:
    try:
        length = int(declared)
    except ValueError:
        raise ProtocolError(f"bad Content-Length {declared!r}") from None
    want = length if limit is None else min(length, limit)
    data = fp.read(want)
    if len(data) < want:
        raise IncompleteRead(data, want - len(data))
    return data


def _status_line(line: bytes) -> tuple[int, str]:
    if len(line) > MAX_LINE:
        raise ProtocolError("a status line longer than 64 KiB")
    if not line:
        raise RemoteDisconnected("Remote end closed connection without response")
    version, _, rest = line.decode("latin-1").rstrip("\r\n").partition(" ")
    code, _, reason = rest.partition(" ")
    if not version.startswith("HTTP/") or len(code) != 3 or not code.isdigit():
        raise ProtocolError(f"not an HTTP status line: {line[:80]!r}")
    return int(code), reason.strip()


def _chunks(fp: io.BufferedReader, limit: int | None) -> bytes:
    out = bytearray()
    while True:
        size_line = fp.readline(MAX_LINE + 1)
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise IncompleteRead(bytes(out)) from None
        if size == 0:
            return bytes(out)
        chunk = fp.read(size)
        if len(chunk) < size:
            raise IncompleteRead(bytes(out) + chunk, size - len(chunk))
        out += chunk
        fp.read(2)  # the CRLF after each chunk
        if limit is not None and len(out) >= limit:
            return bytes(out[:limit])
