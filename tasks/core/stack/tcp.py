"""A TCP connection to a host and port, without the name lookup when the host is an address.

``socket.create_connection`` hands its host to ``getaddrinfo``, which encodes a ``str`` host with
the ``idna`` codec: the first connection of a process imports ``encodings.idna``, ``stringprep``
and ``unicodedata`` (about 2 ms of CPU, more when a probe thread and the main thread import at
once), although the stack's endpoints are literal loopback addresses (127.0.0.1) that need no
lookup. An IPv4 or IPv6 literal is connected to directly; any other host goes through
``create_connection`` as before, so a name still resolves (and tries each address it has).
"""

from __future__ import annotations

import socket


def _family(host: str) -> socket.AddressFamily | None:
    """AF_INET / AF_INET6 when ``host`` is an address literal, else None (a name to look up)."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
        except (OSError, ValueError):  # ValueError: a NUL in the text
            continue
        return family
    return None


def connect(host: str, port: int, timeout: float | None) -> socket.socket:
    """A connected TCP socket with ``timeout`` set, raising what ``create_connection`` raises."""
    family = _family(host)
    if family is None:
        return socket.create_connection((host, port), timeout=timeout)
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect((host, port))
    except BaseException:
        sock.close()
        raise
    return sock
