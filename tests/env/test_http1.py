"""http1.exchange against a real HTTP server (the standard library's): the same status, headers
and bodies as http.client for each way a body can be framed, its errors for a broken peer, and
http.client never imported by it."""

from __future__ import annotations

import http.client
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tasks.core.stack import http1

BODY = b"x" * 5000 + b"end"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *_args: object) -> None:
        return None

    def do_GET(self) -> None:
        if self.path == "/length":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY)
        elif self.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(0, len(BODY), 700):
                part = BODY[i : i + 700]
                self.wfile.write(f"{len(part):x};ext=1\r\n".encode() + part + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        elif self.path == "/close":
            self.send_response(503, "Not Ready Yet")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(BODY)
            self.close_connection = True
        elif self.path == "/empty":
            self.send_response(204)
            self.end_headers()

    def do_POST(self) -> None:
        got = self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(201)
        self.send_header("Content-Length", str(len(got)))
        self.end_headers()
        self.wfile.write(got[::-1])


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def _mine(port: int, path: str, **kw: object) -> http1.Answer:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        return http1.exchange(sock, "GET", path, host=f"127.0.0.1:{port}", **kw)  # type: ignore[arg-type]


def _theirs(port: int, path: str) -> tuple[int, str, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.reason, resp.read()
    finally:
        conn.close()


@pytest.mark.parametrize("path", ["/length", "/chunked", "/close", "/empty"])
def test_each_framing_reads_what_http_client_reads(port: int, path: str) -> None:
    mine = _mine(port, path)
    assert (mine.status, mine.reason, mine.body) == _theirs(port, path)
    if path == "/length":
        assert mine.header("content-type") == mine.header("Content-Type") == "application/json"


@pytest.mark.parametrize("path", ["/length", "/chunked", "/close"])
def test_a_limit_reads_no_more(port: int, path: str) -> None:
    assert _mine(port, path, limit=600).body == BODY[:600]


def test_a_body_is_sent(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        answer = http1.exchange(sock, "POST", "/", host="x", body=b"abc", headers={"X-A": "1"})
    assert (answer.status, answer.body) == (201, b"cba")


def _peer(reply: bytes) -> int:
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(reply)
        listener.close()

    threading.Thread(target=serve, daemon=True).start()
    return int(listener.getsockname()[1])


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (b"", http1.RemoteDisconnected),
        (b"SSH-2.0-OpenSSH_9.2\r\n", http1.ProtocolError),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", http1.IncompleteRead),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", http1.IncompleteRead),
    ],
)
def test_a_broken_peer_is_named(reply: bytes, error: type[Exception]) -> None:
    port = _peer(reply)
    with pytest.raises(error):
        _mine(port, "/")


def test_a_closed_peer_is_an_os_error_and_http_client_stays_unloaded() -> None:
    assert issubclass(http1.RemoteDisconnected, OSError)
    code = "import sys, tasks.core.stack.http1; print('http.client' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
