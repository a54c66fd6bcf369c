"""The engine's read calls over its Unix socket, without importing docker-py.

The everyday commands (a no-op ``env.start``, ``env.status``) ask the engine a handful of questions:
is it there, which containers does the branch have, which images, which network, and whether the
registry's digest is the local one. docker-py answers them through requests and urllib3, whose import
alone costs a no-op start about 55 ms of its budget. These calls are plain HTTP/1.1 on a Unix socket,
so a plain HTTP/1.1 exchange serves them (http1.py); every other call (create, pull, build, logs,
exec, ...) goes to docker-py, imported the first time one is made. Errors are docker-py's own
(``NotFound``, ``ImageNotFound``, ``APIError``), built from the engine's answer, so callers cannot tell
the two paths apart. Only a local ``unix://`` engine without TLS takes this path (:func:`usable`).
"""

from __future__ import annotations

import base64
import json
import os
import socket
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode

from tasks.core.stack import http1

DEFAULT_SOCKET = "/var/run/docker.sock"


def socket_path() -> str | None:
    """The socket of a local engine reached without TLS, or None (docker-py handles the others)."""
    host = os.environ.get("DOCKER_HOST") or f"unix://{DEFAULT_SOCKET}"
    if not host.startswith("unix://") or os.environ.get("DOCKER_TLS_VERIFY"):
        return None
    return host[len("unix://") :] or DEFAULT_SOCKET


def _unix_socket(path: str, timeout: float) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        raise
    return sock


def encode_filters(filters: dict[str, Any]) -> str:
    """The engine's ``filters`` parameter as docker-py writes it: every value a list of strings."""
    out: dict[str, list[str]] = {}
    for key, value in filters.items():
        given = ("true" if value else "false") if isinstance(value, bool) else value
        values = given if isinstance(given, list) else [given]
        out[key] = [item if isinstance(item, str) else str(item) for item in values]
    return json.dumps(out)


def _raise_api_error(status: int, reason: str, body: bytes, url: str) -> None:
    """docker-py's exception for this answer (its import is paid only on this error path)."""
    import requests
    from docker.errors import create_api_error_from_http_exception

    response = requests.models.Response()
    response.status_code = status
    response.reason = reason
    response.url = url
    response._content = body
    try:
        response.raise_for_status()
    except requests.HTTPError as exc:
        create_api_error_from_http_exception(exc)


class EngineAPI:
    """The low-level API (docker-py's ``APIClient`` names and answers) for the read calls clikd makes
    most; any other attribute is docker-py's, from a client made on first use by ``full``."""

    def __init__(self, path: str, timeout: float, full: Callable[[], Any]) -> None:
        self._path = path
        self._timeout = timeout
        self._full = full
        # (engine version, API version) from the headers of the last ping: env.status shows them,
        # and /version costs the engine some 7 ms (it asks containerd and runc for theirs)
        self.pinged: tuple[str, str] | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._full().api, name)

    @property
    def base_url(self) -> str:
        return "http+docker://localhost"  # what docker-py's client says for a Unix socket

    def _call(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        *,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        url = path + (f"?{urlencode(params)}" if params else "")
        # A connection per call: callers ask from several threads, and connecting to a Unix socket
        # costs microseconds.
        sock = _unix_socket(self._path, self._timeout)
        try:
            sent = dict(headers or {})
            data = None
            if body is not None:
                data = json.dumps(body).encode()
                sent["Content-Type"] = "application/json"
            answer = http1.exchange(sock, method, url, host="localhost", headers=sent, body=data)
        finally:
            sock.close()
        raw = answer.body
        if answer.status >= 400:
            _raise_api_error(answer.status, answer.reason, raw, f"http+docker://localhost{url}")
        if not raw:
            return None
        if answer.header("Content-Type").startswith("application/json"):
            return json.loads(raw)
        return raw.decode(errors="replace")

    def ping(self) -> bool:
        sock = _unix_socket(self._path, self._timeout)
        try:
            answer = http1.exchange(sock, "GET", "/_ping", host="localhost")
        finally:
            sock.close()
        if answer.status >= 400:
            _raise_api_error(answer.status, answer.reason, answer.body, "http+docker://localhost/_ping")
        server = answer.header("Server")  # "Docker/20.10.24+dfsg1 (linux)"
        if server.startswith("Docker/") and answer.header("Api-Version"):
            self.pinged = (server[len("Docker/") :].split(" ", 1)[0], answer.header("Api-Version"))
        return answer.body == b"OK"

    def version(self) -> dict[str, Any]:
        found: dict[str, Any] = self._call("GET", "/version")
        return found

    def containers(self, all: bool = False, filters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"all": 1} if all else {}
        if filters:
            params["filters"] = encode_filters(filters)
        found: list[dict[str, Any]] = self._call("GET", "/containers/json", params) or []
        return found

    def inspect_container(self, container: str) -> dict[str, Any]:
        found: dict[str, Any] = self._call("GET", f"/containers/{quote(container, safe='/:')}/json")
        return found

    def inspect_image(self, image: str) -> dict[str, Any]:
        found: dict[str, Any] = self._call("GET", f"/images/{quote(image, safe='/:')}/json")
        return found

    def images(
        self,
        name: str | None = None,
        quiet: bool = False,
        all: bool = False,
        filters: dict[str, Any] | None = None,
    ) -> list[Any]:
        wanted = dict(filters or {})
        if name:
            wanted["reference"] = name
        params: dict[str, Any] = {"only_ids": int(quiet), "all": int(all)}
        if wanted:
            params["filters"] = encode_filters(wanted)
        found: list[dict[str, Any]] = self._call("GET", "/images/json", params) or []
        return [image["Id"] for image in found] if quiet else found

    def inspect_distribution(self, image: str, auth_config: dict[str, Any] | None = None) -> dict[str, Any]:
        if auth_config is None:  # docker-py's own credential lookup: leave it to docker-py
            return dict(self._full().api.inspect_distribution(image))
        header = base64.urlsafe_b64encode(json.dumps(auth_config).encode("ascii")).decode()
        found: dict[str, Any] = self._call(
            "GET", f"/distribution/{quote(image, safe='/:')}/json", headers={"X-Registry-Auth": header}
        )
        return found

    def networks(
        self, names: list[str] | None = None, filters: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        wanted = dict(filters or {})
        if names:
            wanted["name"] = names
        params = {"filters": encode_filters(wanted)} if wanted else None
        found: list[dict[str, Any]] = self._call("GET", "/networks", params) or []
        return found

    def stats(self, container: str, stream: bool = False, one_shot: bool = False) -> Any:
        if stream:
            return self._full().api.stats(container, stream=True, one_shot=one_shot)
        params = {"stream": 0, "one-shot": 1 if one_shot else 0}
        found: dict[str, Any] = self._call("GET", f"/containers/{quote(container, safe='/:')}/stats", params)
        return found

    def volumes(self, filters: dict[str, Any] | None = None) -> dict[str, Any]:
        params = {"filters": encode_filters(filters)} if filters else None
        found: dict[str, Any] = self._call("GET", "/volumes", params) or {}
        return found

    def df(self) -> dict[str, Any]:
        found: dict[str, Any] = self._call("GET", "/system/df") or {}
        return found

    def login(
        self, username: str, password: str | None = None, registry: str | None = None, reauth: bool = False
    ) -> dict[str, Any]:
        if not reauth:  # docker-py first looks in its own config for a stored login
            return dict(self._full().api.login(username=username, password=password, registry=registry))
        request = {"username": username, "password": password, "email": None, "serveraddress": registry}
        found: dict[str, Any] = self._call("POST", "/auth", body=request) or {}
        return found


class Engine:
    """A ``docker.DockerClient`` look-alike: ``api`` is :class:`EngineAPI`; everything else (the
    high-level collections, ``close``) is docker-py's client, made on first use."""

    def __init__(self, path: str, timeout: int, make: Callable[[], Any]) -> None:
        self._make = make
        self._client: Any = None
        self._lock = threading.Lock()
        self.api = EngineAPI(path, timeout, self._docker)

    def _docker(self) -> Any:
        with self._lock:  # pulls ask from several threads at once: one docker-py client for all
            if self._client is None:
                self._client = self._make()
            return self._client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._docker(), name)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
