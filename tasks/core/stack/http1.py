"""One HTTP/1.1 request and its answer on a connected socket, for the everyday reads.

``http.client`` parses every answer's headers with the ``email`` package's feed parser: about half a
millisecond of CPU per answer here, which the engine's dozen answers per ``env.status`` frame and
the services' probes paid each second under ``--watch``. These callers send one request per
connection (``Connection: close``), read a status, a few headers and a body framed by
Content-Length, chunks or the close: that is all this module reads. Anything else is an
``http.client`` error of the same name, so callers handle both the same way.
"""

from __future__ import annotations

import http.client
import io
import socket
from dataclasses import dataclass

MAX_LINE = 65536
MAX_HEADERS = 100


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
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", "Connection: close", "Accept-Encoding: identity"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b""))
    with sock.makefile("rb") as fp:
        status, reason = _status_line(fp.readline(MAX_LINE + 1))
        fields: dict[str, str] = {}
        for _ in range(MAX_HEADERS + 1):
            line = fp.readline(MAX_LINE + 1)
            if len(line) > MAX_LINE:
                raise http.client.LineTooLong("header line")
            if line in (b"\r\n", b"\n", b""):
                break
            name, colon, value = line.decode("latin-1").partition(":")
            if colon:  # (a line without a colon is ignored, as http.client does)
                fields[name.strip().lower()] = value.strip()
        else:
            raise http.client.HTTPException(f"got more than {MAX_HEADERS} headers")
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            data = b""
        elif fields.get("transfer-encoding", "").lower() == "chunked":
            data = _chunks(fp, limit)
        elif "content-length" in fields:
            try:
                length = int(fields["content-length"])
            except ValueError:
                raise http.client.HTTPException(f"bad Content-Length {fields['content-length']!r}") from None
            want = length if limit is None else min(length, limit)
            data = fp.read(want)
            if len(data) < want:
                raise http.client.IncompleteRead(data, want - len(data))
        else:
            data = fp.read() if limit is None else fp.read(limit)
    return Answer(status, reason, fields, data)


def _status_line(line: bytes) -> tuple[int, str]:
    if len(line) > MAX_LINE:
        raise http.client.LineTooLong("status line")
    if not line:
        raise http.client.RemoteDisconnected("Remote end closed connection without response")
    version, _, rest = line.decode("latin-1").rstrip("\r\n").partition(" ")
    code, _, reason = rest.partition(" ")
    if not version.startswith("HTTP/") or len(code) != 3 or not code.isdigit():
        raise http.client.BadStatusLine(line.decode("latin-1"))
    return int(code), reason.strip()


def _chunks(fp: io.BufferedReader, limit: int | None) -> bytes:
    out = bytearray()
    while True:
        size_line = fp.readline(MAX_LINE + 1)
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise http.client.IncompleteRead(bytes(out)) from None
        if size == 0:
            return bytes(out)
        chunk = fp.read(size)
        if len(chunk) < size:
            raise http.client.IncompleteRead(bytes(out) + chunk, size - len(chunk))
        out += chunk
        fp.read(2)  # the CRLF after each chunk
        if limit is not None and len(out) >= limit:
            return bytes(out[:limit])
