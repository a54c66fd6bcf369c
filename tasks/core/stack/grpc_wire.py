"""The grpc.health.v1 Check over one plain HTTP/2 connection, for the everyday answer "SERVING".

grpcio costs 60-80 ms of CPU to import and its first channel another 50-70 ms of threads and
polling before the first answer; a no-op env.start and env.status ask every gRPC port, so grpcio
was a quarter of their time. A Check is one tiny request: the connection preface, an empty
SETTINGS frame, a HEADERS frame (five headers HPACK-encoded from the static table and as literals:
no dynamic table, no Huffman coding to produce) and a DATA frame with the request message; the
answer is a DATA frame whose message is one varint. Response headers are never decoded: the
message itself is the answer.

Only what is read exactly is answered here: a non-zero status from the message, a refused
connection, no answer in time. Anything else (an empty message, which may come with an error status
in the trailers; a trailers-only error such as UNIMPLEMENTED; RST_STREAM, GOAWAY, a peer that is
not HTTP/2) gives ``None`` and the caller asks grpcio, whose words for the failure
the probe reports. A failing port is the rare case; it may pay for grpcio.
"""

from __future__ import annotations

import socket
import struct
import time

from tasks.core.stack import tcp

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
CHECK_PATH = b"/grpc.health.v1.Health/Check"

# Frame types and flags (RFC 9113, section 6).
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY = 0x0, 0x1, 0x3, 0x4, 0x6, 0x7
END_STREAM = ACK = 0x1
END_HEADERS = 0x4
PADDED = 0x8
STREAM = 1

# grpc.health.v1.HealthCheckResponse.ServingStatus
STATUS_NAMES = {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}


class Refused(Exception):
    """Nothing listens on the port."""


class TimedOut(Exception):
    """No complete answer before the deadline."""


def check(host: str, port: int, timeout: float, service: str = "") -> str | None:
    """The ServingStatus name the server answers, or None when only grpcio can say what happened.

    Raises Refused and TimedOut, the two failures that need no more words.
    """
    deadline = time.monotonic() + timeout
    try:
        sock = tcp.connect(host, port, timeout)
    except ConnectionRefusedError as exc:
        raise Refused from exc
    except TimeoutError as exc:
        raise TimedOut from exc
    except OSError:
        return None
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(PREFACE + frame(SETTINGS, 0, 0, b"") + request(f"{host}:{port}", service))
        return _answer(sock, deadline)
    except TimeoutError as exc:
        raise TimedOut from exc
    except OSError:
        return None
    finally:
        sock.close()


def request(authority: str, service: str) -> bytes:
    """The HEADERS and DATA frames of one Check on stream 1."""
    block = (
        b"\x83"  # :method POST (static index 3)
        + b"\x86"  # :scheme http (static index 6)
        + b"\x04"
        + hpack_string(CHECK_PATH)  # :path, literal value, name from static index 4
        + b"\x01"
        + hpack_string(authority.encode())  # :authority (static index 1)
        + b"\x0f\x10"
        + hpack_string(b"application/grpc")  # content-type (static index 31)
        + b"\x00"
        + hpack_string(b"te")
        + hpack_string(b"trailers")  # a literal name
    )
    name = service.encode()
    message = b"\x0a" + varint(len(name)) + name if name else b""  # field 1, length-delimited
    body = b"\x00" + struct.pack(">I", len(message)) + message  # uncompressed gRPC message
    return frame(HEADERS, END_HEADERS, STREAM, block) + frame(DATA, END_STREAM, STREAM, body)


def frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload))[1:] + bytes((kind, flags)) + struct.pack(">I", stream) + payload


def hpack_string(value: bytes) -> bytes:
    """A string literal without Huffman coding: its length as a 7-bit-prefix integer, then it."""
    return hpack_int(len(value), 7) + value


def hpack_int(value: int, prefix: int) -> bytes:
    limit = (1 << prefix) - 1
    if value < limit:
        return bytes((value,))
    out = bytearray((limit,))
    value -= limit
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _answer(sock: socket.socket, deadline: float) -> str | None:
    reader = _Reader(sock, deadline)
    message = b""
    while True:
        length, kind, flags, stream = struct.unpack(">IBBI", b"\x00" + reader.read(9))
        payload = reader.read(length)
        if kind == SETTINGS and not flags & ACK:
            sock.sendall(frame(SETTINGS, ACK, 0, b""))
        elif kind == PING and not flags & ACK:
            sock.sendall(frame(PING, ACK, 0, payload))
        elif kind in (RST_STREAM, GOAWAY) and (kind == GOAWAY or stream == STREAM):
            return None
        elif kind == HEADERS and stream == STREAM and flags & END_STREAM and not message:
            return None  # trailers only: an error status, which grpcio names
        elif kind == DATA and stream == STREAM:
            if flags & PADDED:
                payload = payload[1 : len(payload) - payload[0]]
            message += payload
            if len(message) >= 5:
                size = struct.unpack(">I", message[1:5])[0]
                if message[0] != 0:
                    return None  # a compressed message: not one this reader decodes
                if len(message) >= 5 + size:
                    return _status(message[5 : 5 + size])
            if flags & END_STREAM:
                return None


def _status(message: bytes) -> str | None:
    """HealthCheckResponse: field 1 (varint) is the status.

    An empty message (status 0, UNKNOWN) is also what a server sends beside an error status in
    its trailers (grpcio's servicer answers an unknown service so, with NOT_FOUND), and trailers
    are not decoded here: that one goes to grpcio.
    """
    code, i = 0, 0
    while i < len(message):
        key, i = _read_varint(message, i)
        if key == 0x08:
            code, i = _read_varint(message, i)
        elif key & 0x7 == 0:
            _, i = _read_varint(message, i)
        elif key & 0x7 == 2:
            size, i = _read_varint(message, i)
            i += size
        else:
            return None  # a wire type a HealthCheckResponse does not have
    if code == 0:
        return None
    return STATUS_NAMES.get(code, f"status {code}")


def _read_varint(data: bytes, i: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if i >= len(data):
            raise OSError("truncated varint")
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, i
        shift += 7


class _Reader:
    """Exact reads from the socket, each within what is left of the deadline."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock
        self.deadline = deadline
        self.buffer = b""

    def read(self, n: int) -> bytes:
        while len(self.buffer) < n:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            self.sock.settimeout(left)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionResetError("closed")
            self.buffer += chunk
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out
