"""tcp.connect: an address literal without the name lookup (and its idna import), a name as before."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading

import pytest

from tasks.core.stack import tcp


def _listener(family: socket.AddressFamily, host: str) -> tuple[socket.socket, int]:
    server = socket.socket(family, socket.SOCK_STREAM)
    server.bind((host, 0))
    server.listen(4)

    def accept() -> None:
        # the test closes the listener when done; the accept that is then waiting ends with EBADF
        with contextlib.suppress(OSError):
            for _ in range(4):
                server.accept()

    threading.Thread(target=accept, daemon=True).start()
    return server, int(server.getsockname()[1])


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_connects_to_an_address_and_to_a_name_with_the_timeout_set(host: str) -> None:
    server, port = _listener(socket.AF_INET, "127.0.0.1")
    with server, tcp.connect(host, port, 2.5) as sock:
        assert sock.getpeername() == ("127.0.0.1", port)
        assert sock.gettimeout() == 2.5


def test_connects_to_an_ipv6_literal() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    try:
        server, port = _listener(socket.AF_INET6, "::1")
    except OSError:
        pytest.skip("no IPv6 loopback here")
    with server, tcp.connect("::1", port, 1.0) as sock:
        assert sock.family == socket.AF_INET6


def test_a_refused_connection_raises_what_create_connection_raises() -> None:
    with socket.socket() as bound:  # bound, so no one else takes the port, and not listening
        bound.bind(("127.0.0.1", 0))
        with pytest.raises(ConnectionRefusedError):
            tcp.connect("127.0.0.1", bound.getsockname()[1], 1.0)


def test_an_address_literal_does_not_load_the_idna_codec() -> None:
    check = (
        "import sys, socket, threading\n"
        "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(1)\n"
        "from tasks.core.stack import tcp\n"
        "tcp.connect('127.0.0.1', s.getsockname()[1], 1.0).close()\n"
        "print('encodings.idna' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0 and done.stdout.strip() == "False", done.stdout + done.stderr
