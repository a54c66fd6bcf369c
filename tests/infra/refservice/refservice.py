"""Reference service for the clikd test bed: one small HTTP server that stands in for every Clikd service.

It needs only the Python 3 standard library (and `psql` on PATH for Postgres checks), so it runs in the
test bed's `clikd-testbed/service:1` image and, for debugging, straight from a checkout.

Environment
    CLIKD_SERVICE        service name reported everywhere (default "service")
    PORT                 HTTP port (default 8080)
    GRPC_PORT            optional: the port of the gRPC health service (below)
    DATABASE_URL         optional postgres://user:pass@host:port/db, checked with `psql -Atc 'select 1'`
    AUTH_DATABASE_URL    optional second Postgres DSN, checked the same way
    REDIS_URL            optional redis://[user:pass@|:pass@]host:port/N, checked with AUTH/SELECT/PING
    SCYLLA_HOSTS         optional host:port[,host:port], checked with CQL native protocol v4
    SCYLLA_KEYSPACE      optional keyspace: whether it exists is reported (not required for health)
    SCYLLA_USERNAME, SCYLLA_PASSWORD   optional CQL credentials (PasswordAuthenticator)
    CLIKD_REF_LOG_RATE   periodic log lines per second (default 1, 0 disables them)
    CLIKD_REF_FAIL       fault mode: "crash" (exit 3 after CLIKD_REF_FAIL_AFTER s), "unhealthy" (/health is
                         always 503) or "slow" (/health is 503 for the first CLIKD_REF_FAIL_AFTER s)
    CLIKD_REF_FAIL_AFTER seconds for the fault modes (default 1)
    CLIKD_REF_OPENAPI    path of the OpenAPI JSON document (default /srv/openapi.json)
    CLIKD_REF_CONTRACT_BUG  "1": deliberate contract bugs for `clikd test.contract` to catch: GET /users/{userId}
                         answers 500 for an unknown user (instead of its documented 404), and POST /auth/register's
                         201 carries expires_in as a string (AuthTokens says integer)
    CLIKD_REF_GRPC       gRPC variant: "serving" (default), "not_serving" (Check and Watch answer
                         NOT_SERVING, to prove a health probe) or "off" (no gRPC server, as without grpcio)

HTTP
    GET /                  JSON banner
    GET /health            200 {"status": "ok", "service", "checks": {name: {"ok", "latency_ms", ...}}} when every
                           configured database answers a real query, else 503 with "status": "unhealthy"
                           and the failing checks' "error" text. Results are cached for 0.5 s.
                           /healthz and /api/health are aliases.
    GET /api/openapi.json  the OpenAPI document (application/json)
    A small in-memory fake of the Clikd API (codegen/spec/clikd.openapi.yaml), enough for generated-client
    round trips; state lives in the process and starts empty:
    POST /auth/register    201 AuthTokens; 409 Problem (handle or email taken); 422 ValidationProblem
    POST /auth/login       200 AuthTokens; 401 Problem (code invalid_credentials)
    GET  /users/me         200 User with email (Authorization: Bearer <access_token>); 401 Problem
    GET  /users/{userId}   200 User without email; 404 Problem (code not_found)
    GET  /feed             200 FeedPage of 5 items (drop, crew_activity, announcement), cursor/limit; 401
    Problems are served as application/problem+json; any other path is 404. Any other method (PUT, PATCH, DELETE,
    OPTIONS, TRACE, QUERY, ...) is 405 with an Allow header, as web frameworks answer, not http.server's 501.

gRPC (refgrpc.py beside this file, with grpcio: Debian's python3-grpcio in the image)
    grpc.health.v1.Health on GRPC_PORT: Check and Watch, for the service "" (the whole server) and
    CLIKD_SERVICE; another name is NOT_FOUND (Watch: SERVICE_UNKNOWN). The messages are encoded by
    hand, so no protobuf code is needed. Without grpcio importable (or with CLIKD_REF_GRPC=off) GRPC_PORT
    is a plain TCP listener that accepts connections and closes them at once.

Logging goes to stdout, one flushed line per event: mostly JSON lines
{"ts": "...Z", "level": "debug|info|warn|error", "service": ..., "msg": ...}, plus, among the periodic lines,
plain-text lines such as "2026-11-25T10:00:00.123Z WARN ..." and a line with no level at all. Each HTTP
request is logged at debug level. SIGTERM and SIGINT stop the server and exit 0.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

CHECK_TIMEOUT_S = 2.0
HEALTH_CACHE_S = 0.5
VERSION = "1"


# --------------------------------------------------------------------------- logging


class Logger:
    """Thread-safe line logger writing JSON or plain-text lines to stdout."""

    def __init__(self, service: str) -> None:
        self.service = service
        self._lock = threading.Lock()

    @staticmethod
    def timestamp() -> str:
        now = datetime.now(timezone.utc)
        return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"

    def raw(self, line: str) -> None:
        with self._lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    def log(self, level: str, msg: str, **fields: Any) -> None:
        record: dict[str, Any] = {"ts": self.timestamp(), "level": level, "service": self.service, "msg": msg}
        record.update(fields)
        self.raw(json.dumps(record, separators=(",", ":")))

    def debug(self, msg: str, **fields: Any) -> None:
        self.log("debug", msg, **fields)

    def info(self, msg: str, **fields: Any) -> None:
        self.log("info", msg, **fields)

    def warn(self, msg: str, **fields: Any) -> None:
        self.log("warn", msg, **fields)

    def error(self, msg: str, **fields: Any) -> None:
        self.log("error", msg, **fields)


# --------------------------------------------------------------------------- database checks


class CheckError(Exception):
    """A database did not answer as expected; the message is reported in /health."""


def recv_exact(sock: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise CheckError("connection closed by server")
        chunks.extend(chunk)
    return bytes(chunks)


def split_host_port(value: str, default_port: int) -> tuple[str, int]:
    value = value.strip()
    if value.startswith("["):  # [ipv6]:port
        host, _, rest = value[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else default_port
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        return value, default_port
    return host, int(port)


def check_postgres(dsn: str) -> dict[str, Any]:
    """Run `select 1` through psql: a real login and query, with the password from the DSN."""
    env = dict(os.environ, PGCONNECT_TIMEOUT=str(int(CHECK_TIMEOUT_S)))
    try:
        proc = subprocess.run(
            ["psql", "--no-psqlrc", dsn, "-Atc", "select 1"],
            capture_output=True,
            text=True,
            timeout=CHECK_TIMEOUT_S + 1,
            env=env,
            check=False,
        )
    except FileNotFoundError as exc:
        raise CheckError("psql not found on PATH") from exc
    except subprocess.TimeoutExpired as exc:
        raise CheckError("psql timed out") from exc
    if proc.returncode != 0 or proc.stdout.strip() != "1":
        message = proc.stderr.strip() or f"psql exited {proc.returncode} with {proc.stdout.strip()!r}"
        raise CheckError(" ".join(message.split()))
    return {}


def resp_command(*parts: str) -> bytes:
    out = [f"*{len(parts)}\r\n".encode()]
    for part in parts:
        data = part.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def resp_simple_reply(sock: socket.socket) -> str:
    """Read one RESP reply line (simple string or error)."""
    line = bytearray()
    while not line.endswith(b"\r\n"):
        line.extend(recv_exact(sock, 1))
    text = line[:-2].decode(errors="replace")
    if text.startswith("-"):
        raise CheckError(text[1:])
    return text


def check_redis(url: str) -> dict[str, Any]:
    """AUTH (when the URL has a password), SELECT (when it names a database) and PING expecting +PONG."""
    parts = urlsplit(url)
    host, port = parts.hostname or "localhost", parts.port or 6379
    database = parts.path.lstrip("/") or "0"
    with socket.create_connection((host, port), timeout=CHECK_TIMEOUT_S) as sock:
        sock.settimeout(CHECK_TIMEOUT_S)
        if parts.password is not None:
            auth = ["AUTH", unquote(parts.password)]
            if parts.username:
                auth.insert(1, unquote(parts.username))
            sock.sendall(resp_command(*auth))
            resp_simple_reply(sock)
        if database != "0":
            sock.sendall(resp_command("SELECT", database))
            resp_simple_reply(sock)
        sock.sendall(resp_command("PING"))
        reply = resp_simple_reply(sock)
        if reply != "+PONG":
            raise CheckError(f"unexpected reply to PING: {reply!r}")
    return {}


class CqlConnection:
    """The few CQL native protocol v4 messages a health check needs."""

    VERSION = 0x04
    OP_ERROR, OP_STARTUP, OP_READY, OP_AUTHENTICATE = 0x00, 0x01, 0x02, 0x03
    OP_OPTIONS, OP_SUPPORTED, OP_QUERY, OP_RESULT = 0x05, 0x06, 0x07, 0x08
    OP_AUTH_RESPONSE, OP_AUTH_SUCCESS = 0x0F, 0x10
    RESULT_ROWS = 0x0002
    FLAG_WARNING = 0x08
    CONSISTENCY_ONE = 0x0001

    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.create_connection((host, port), timeout=CHECK_TIMEOUT_S)
        self.sock.settimeout(CHECK_TIMEOUT_S)
        self.stream = 0

    def close(self) -> None:
        self.sock.close()

    @staticmethod
    def string(value: str) -> bytes:
        data = value.encode()
        return struct.pack(">H", len(data)) + data

    @staticmethod
    def long_string(value: str) -> bytes:
        data = value.encode()
        return struct.pack(">i", len(data)) + data

    def request(self, opcode: int, body: bytes) -> tuple[int, bytes]:
        self.stream += 1
        header = struct.pack(">BBhBi", self.VERSION, 0, self.stream, opcode, len(body))
        self.sock.sendall(header + body)
        version, flags, _stream, reply_op, length = struct.unpack(">BBhBi", recv_exact(self.sock, 9))
        if version & 0x7F != self.VERSION:
            raise CheckError(f"server answered with protocol version {version & 0x7F}")
        payload = recv_exact(self.sock, length)
        if flags & self.FLAG_WARNING:  # [string list] of warnings precedes the body
            (count,) = struct.unpack_from(">H", payload)
            offset = 2
            for _ in range(count):
                (size,) = struct.unpack_from(">H", payload, offset)
                offset += 2 + size
            payload = payload[offset:]
        if reply_op == self.OP_ERROR:
            code, size = struct.unpack_from(">iH", payload)
            raise CheckError(f"CQL error 0x{code:04x}: {payload[6:6 + size].decode(errors='replace')}")
        return reply_op, payload

    def handshake(self, username: str | None, password: str | None) -> None:
        op, _ = self.request(self.OP_OPTIONS, b"")
        if op != self.OP_SUPPORTED:
            raise CheckError(f"OPTIONS answered with opcode 0x{op:02x}, expected SUPPORTED")
        body = struct.pack(">H", 1) + self.string("CQL_VERSION") + self.string("3.0.0")
        op, _ = self.request(self.OP_STARTUP, body)
        if op == self.OP_AUTHENTICATE:
            if username is None or password is None:
                raise CheckError("server requires authentication: set SCYLLA_USERNAME and SCYLLA_PASSWORD")
            token = b"\x00" + username.encode() + b"\x00" + password.encode()
            op, _ = self.request(self.OP_AUTH_RESPONSE, struct.pack(">i", len(token)) + token)
            if op != self.OP_AUTH_SUCCESS:
                raise CheckError(f"authentication answered with opcode 0x{op:02x}")
        elif op != self.OP_READY:
            raise CheckError(f"STARTUP answered with opcode 0x{op:02x}, expected READY")

    def query_rows(self, cql: str) -> list[list[bytes | None]]:
        body = self.long_string(cql) + struct.pack(">HB", self.CONSISTENCY_ONE, 0)
        op, payload = self.request(self.OP_QUERY, body)
        if op != self.OP_RESULT:
            raise CheckError(f"QUERY answered with opcode 0x{op:02x}, expected RESULT")
        (kind,) = struct.unpack_from(">i", payload)
        if kind != self.RESULT_ROWS:
            raise CheckError(f"QUERY returned result kind {kind}, expected Rows")
        return self._parse_rows(payload, 4)

    @staticmethod
    def _parse_rows(payload: bytes, offset: int) -> list[list[bytes | None]]:
        flags, columns = struct.unpack_from(">ii", payload, offset)
        offset += 8
        if flags & 0x0002:  # has_more_pages: [bytes] paging state
            (size,) = struct.unpack_from(">i", payload, offset)
            offset += 4 + max(size, 0)
        if not flags & 0x0004:  # metadata present
            if flags & 0x0001:  # global table spec: keyspace and table names
                for _ in range(2):
                    (size,) = struct.unpack_from(">H", payload, offset)
                    offset += 2 + size
            for _ in range(columns):
                if not flags & 0x0001:
                    for _ in range(2):
                        (size,) = struct.unpack_from(">H", payload, offset)
                        offset += 2 + size
                (size,) = struct.unpack_from(">H", payload, offset)
                offset += 2 + size
                offset = CqlConnection._skip_type(payload, offset)
        (count,) = struct.unpack_from(">i", payload, offset)
        offset += 4
        rows: list[list[bytes | None]] = []
        for _ in range(count):
            row: list[bytes | None] = []
            for _ in range(columns):
                (size,) = struct.unpack_from(">i", payload, offset)
                offset += 4
                if size < 0:
                    row.append(None)
                else:
                    row.append(payload[offset:offset + size])
                    offset += size
            rows.append(row)
        return rows

    @staticmethod
    def _skip_type(payload: bytes, offset: int) -> int:
        (type_id,) = struct.unpack_from(">H", payload, offset)
        offset += 2
        if type_id == 0x0000:  # custom: [string] class name
            (size,) = struct.unpack_from(">H", payload, offset)
            return offset + 2 + size
        if type_id in (0x0020, 0x0022):  # list, set
            return CqlConnection._skip_type(payload, offset)
        if type_id == 0x0021:  # map
            return CqlConnection._skip_type(payload, CqlConnection._skip_type(payload, offset))
        if type_id == 0x0031:  # tuple
            (count,) = struct.unpack_from(">H", payload, offset)
            offset += 2
            for _ in range(count):
                offset = CqlConnection._skip_type(payload, offset)
            return offset
        if type_id == 0x0030:  # udt: keyspace, name, fields
            for _ in range(2):
                (size,) = struct.unpack_from(">H", payload, offset)
                offset += 2 + size
            (count,) = struct.unpack_from(">H", payload, offset)
            offset += 2
            for _ in range(count):
                (size,) = struct.unpack_from(">H", payload, offset)
                offset = CqlConnection._skip_type(payload, offset + 2 + size)
            return offset
        return offset


def check_cql(hosts: str, keyspace: str | None, username: str | None, password: str | None) -> dict[str, Any]:
    """Handshake and `SELECT release_version FROM system.local` on the first host that answers."""
    errors: list[str] = []
    for entry in filter(None, (h.strip() for h in hosts.split(","))):
        host, port = split_host_port(entry, 9042)
        try:
            conn = CqlConnection(host, port)
        except OSError as exc:
            errors.append(f"{entry}: {exc}")
            continue
        try:
            conn.handshake(username, password)
            rows = conn.query_rows("SELECT release_version FROM system.local")
            if not rows or rows[0][0] is None:
                raise CheckError("system.local returned no release_version")
            detail: dict[str, Any] = {"host": entry, "release_version": rows[0][0].decode()}
            if keyspace:
                found = conn.query_rows(
                    "SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = "
                    + "'" + keyspace.replace("'", "''") + "'"
                )
                detail["keyspace"] = keyspace
                detail["keyspace_exists"] = bool(found)
            return detail
        except (OSError, CheckError, struct.error) as exc:
            errors.append(f"{entry}: {exc}")
        finally:
            conn.close()
    raise CheckError("; ".join(errors) or "SCYLLA_HOSTS names no host")


# --------------------------------------------------------------------------- health


@dataclass
class Check:
    name: str
    probe: Callable[[], dict[str, Any]]

    def run(self) -> dict[str, Any]:
        started = time.monotonic()
        result: dict[str, Any] = {"ok": True}
        try:
            result.update(self.probe())
        except (OSError, CheckError, ValueError, struct.error) as exc:
            result = {"ok": False, "error": f"{type(exc).__name__}: {exc}" if not str(exc) else str(exc)}
        result["latency_ms"] = round((time.monotonic() - started) * 1000, 1)
        return result


def checks_from_env(env: dict[str, str]) -> list[Check]:
    checks: list[Check] = []
    for name, var in (("database", "DATABASE_URL"), ("auth_database", "AUTH_DATABASE_URL")):
        dsn = env.get(var)
        if dsn:
            checks.append(Check(name, lambda dsn=dsn: check_postgres(dsn)))
    redis_url = env.get("REDIS_URL")
    if redis_url:
        checks.append(Check("redis", lambda: check_redis(redis_url)))
    scylla_hosts = env.get("SCYLLA_HOSTS")
    if scylla_hosts:
        checks.append(
            Check(
                "scylla",
                lambda: check_cql(
                    scylla_hosts,
                    env.get("SCYLLA_KEYSPACE") or None,
                    env.get("SCYLLA_USERNAME"),
                    env.get("SCYLLA_PASSWORD"),
                ),
            )
        )
    return checks


@dataclass
class Health:
    service: str
    checks: list[Check]
    fail_mode: str
    fail_after: float
    started: float = field(default_factory=time.monotonic)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _cached: tuple[float, int, dict[str, Any]] | None = None

    def report(self) -> tuple[int, dict[str, Any]]:
        """(HTTP status, body); concurrent callers share one run, reused for HEALTH_CACHE_S."""
        with self._lock:
            now = time.monotonic()
            if self._cached and now - self._cached[0] < HEALTH_CACHE_S:
                return self._cached[1], self._cached[2]
            status, body = self._compute(now)
            self._cached = (time.monotonic(), status, body)
            return status, body

    def _compute(self, now: float) -> tuple[int, dict[str, Any]]:
        body: dict[str, Any] = {"service": self.service}
        if self.fail_mode == "unhealthy":
            body.update(status="unhealthy", reason="fault mode CLIKD_REF_FAIL=unhealthy", checks={})
            return 503, body
        if self.fail_mode == "slow" and now - self.started < self.fail_after:
            reason = f"fault mode CLIKD_REF_FAIL=slow: starting, healthy after {self.fail_after:g}s"
            body.update(status="starting", reason=reason, checks={})
            return 503, body
        results = {check.name: check.run() for check in self.checks}
        failing = [name for name, result in results.items() if not result["ok"]]
        if failing:
            reason = "; ".join(f"{name}: {results[name]['error']}" for name in failing)
            body.update(status="unhealthy", reason=reason, checks=results)
            return 503, body
        body.update(status="ok", checks=results)
        return 200, body


# --------------------------------------------------------------------------- fake Clikd API


class ApiError(Exception):
    """An RFC 9457 problem answer, shaped like the spec's Problem / ValidationProblem schemas."""

    def __init__(self, status: int, code: str, title: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.body: dict[str, Any] = {
            "type": f"https://clikd.dev/problems/{code.replace('_', '-')}",
            "title": title,
            "status": status,
            "detail": detail,
            "code": code,
            **extra,
        }


def iso_now() -> str:
    return Logger.timestamp()


class FakeApi:
    """An in-memory stand-in for a subset of codegen/spec/clikd.openapi.yaml (no persistence).

    POST /auth/register -> 201 AuthTokens | 409 Problem | 422 ValidationProblem
    POST /auth/login    -> 200 AuthTokens | 401 Problem
    GET  /users/me      -> 200 User | 401 Problem (bearer access token)
    GET  /users/{id}    -> 200 User | 404 Problem
    GET  /feed          -> 200 FeedPage (drop, crew_activity and announcement items, cursor and limit) | 401
    """

    ENDPOINTS = (
        "POST /auth/register",
        "POST /auth/login",
        "GET /users/me",
        "GET /users/{userId}",
        "GET /feed",
    )
    ACCESS_TTL_S = 900
    PLATFORMS = ("pc", "playstation", "xbox", "switch", "ios", "android")
    FEED_SIZE = 5

    def __init__(self, contract_bug: bool = False) -> None:
        self.contract_bug = contract_bug  # CLIKD_REF_CONTRACT_BUG: see the module docstring
        self._lock = threading.Lock()
        self.users: dict[str, dict[str, Any]] = {}  # id -> User body (with "email")
        self.passwords: dict[str, str] = {}  # email -> password
        self.tokens: dict[str, str] = {}  # access token -> user id

    def route(
        self, method: str, path: str, query: dict[str, list[str]], headers: Any, body: Any
    ) -> tuple[int, Any]:
        """(status, JSON body) for an API path, or raise LookupError when the path is not part of the fake."""
        if method == "POST" and path == "/auth/register":
            return 201, self.register(body)
        if method == "POST" and path == "/auth/login":
            return 200, self.login(body)
        if method == "GET" and path == "/users/me":
            return 200, self.users[self.authenticate(headers)]
        if method == "GET" and path.startswith("/users/") and path.count("/") == 2:
            return 200, self.public_user(path.rsplit("/", 1)[1])
        if method == "GET" and path == "/feed":
            return 200, self.feed(self.authenticate(headers), query)
        raise LookupError(path)

    def register(self, body: Any) -> dict[str, Any]:
        errors = []
        if not isinstance(body, dict):
            body = {}
        email, password, handle = body.get("email"), body.get("password"), body.get("handle")
        if not isinstance(email, str) or "@" not in email:
            errors.append({"field": "/email", "message": "must be an email address"})
        if not isinstance(password, str) or len(password) < 8:
            errors.append({"field": "/password", "message": "must be at least 8 characters"})
        if not isinstance(handle, str) or not re.fullmatch(r"[a-z0-9_]{3,20}", handle):
            errors.append({"field": "/handle", "message": "must match ^[a-z0-9_]{3,20}$"})
        if body.get("display_name") is not None and not isinstance(body.get("display_name"), str):
            errors.append({"field": "/display_name", "message": "must be a string"})
        platforms = body.get("platforms")
        if platforms is not None and (
            not isinstance(platforms, list) or any(p not in self.PLATFORMS for p in platforms)
        ):
            errors.append({"field": "/platforms", "message": f"must be a list of {', '.join(self.PLATFORMS)}"})
        if errors:
            raise ApiError(
                422, "validation_failed", "Validation failed", "The request body is invalid.", errors=errors
            )
        with self._lock:
            if any(u["handle"] == handle or u["email"] == email for u in self.users.values()):
                raise ApiError(409, "handle_taken", "Conflict", "The handle or email is taken.")
            user = {
                "id": str(uuid.uuid4()),
                "handle": handle,
                "display_name": body.get("display_name"),
                "email": email,
                "role": "player",
                "avatar_url": None,
                "platforms": list(platforms or []),
                "created_at": iso_now(),
                "settings": {},
                "coins": 0,
            }
            self.users[user["id"]] = user
            self.passwords[email] = password
        tokens = self.issue_tokens(user)
        if self.contract_bug:
            tokens["expires_in"] = str(tokens["expires_in"])  # deliberate: AuthTokens.expires_in is an integer
        return tokens

    def login(self, body: Any) -> dict[str, Any]:
        email = body.get("email") if isinstance(body, dict) else None
        password = body.get("password") if isinstance(body, dict) else None
        with self._lock:
            if not isinstance(email, str) or not isinstance(password, str) or self.passwords.get(email) != password:
                raise ApiError(401, "invalid_credentials", "Unauthorized", "Wrong email or password.")
            user = next(u for u in self.users.values() if u["email"] == email)
        return self.issue_tokens(user)

    def issue_tokens(self, user: dict[str, Any]) -> dict[str, Any]:
        access = "at_" + secrets.token_urlsafe(24)
        with self._lock:
            self.tokens[access] = user["id"]
        return {
            "access_token": access,
            "refresh_token": "rt_" + secrets.token_urlsafe(24),
            "token_type": "Bearer",
            "expires_in": self.ACCESS_TTL_S,
            "user": user,
        }

    def authenticate(self, headers: Any) -> str:
        scheme, _, token = (headers.get("Authorization") or "").partition(" ")
        with self._lock:
            user_id = self.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if user_id is None:
            raise ApiError(401, "token_expired", "Unauthorized", "Missing, expired or revoked access token.")
        return user_id

    def public_user(self, user_id: str) -> dict[str, Any]:
        user = self.users.get(user_id.lower())
        if user is None:
            if self.contract_bug:  # deliberate: the documented answer is 404 Problem
                raise ApiError(500, "internal", "Internal Server Error", f"lookup of {user_id} failed")
            raise ApiError(404, "not_found", "Not Found", f"No user {user_id}.")
        return {key: value for key, value in user.items() if key != "email"}

    def feed(self, user_id: str, query: dict[str, list[str]]) -> dict[str, Any]:
        """FEED_SIZE items, newest first, cycling drop / crew_activity / announcement; cursor = offset."""
        try:
            start = int((query.get("cursor") or ["0"])[0])
            limit = int((query.get("limit") or ["25"])[0])
        except ValueError as exc:
            raise ApiError(
                422,
                "validation_failed",
                "Validation failed",
                f"bad cursor or limit: {exc}",
                errors=[{"field": "/cursor", "message": str(exc)}],
            ) from exc
        limit = min(max(limit, 1), 100)
        user = self.public_user(user_id)
        items = [self.feed_item(user, n) for n in range(self.FEED_SIZE)]
        end = start + limit
        return {"items": items[start:end], "next_cursor": str(end) if end < len(items) else None}

    @staticmethod
    def feed_item(user: dict[str, Any], n: int) -> dict[str, Any]:
        created = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc) - timedelta(minutes=n)
        common = {"id": f"feed-{n}", "created_at": created.strftime("%Y-%m-%dT%H:%M:%SZ")}
        kind = ("drop", "crew_activity", "announcement")[n % 3]
        if kind == "drop":
            drop = {
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"clikd-drop-{n}")),
                "author": user,
                "kind": "clip",
                "caption": f"clip {n}",
                "media": {
                    "url": f"https://media.clikd.dev/{n}.mp4",
                    "status": "ready",
                    "content_type": "video/mp4",
                },
                "visibility": "public",
                "tags": ["ace"],
                "reactions": {"gg": n + 1},
                "created_at": common["created_at"],
            }
            return {"type": "drop", **common, "drop": drop}
        if kind == "crew_activity":
            crew = {
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, "clikd-crew")),
                "name": "Night Owls",
                "emblem_url": None,
            }
            return {"type": "crew_activity", **common, "crew": crew, "action": "joined", "actor": user}
        return {
            "type": "announcement",
            **common,
            "title": "Season 3",
            "body": "Ranked resets on Friday.",
            "link": None,
            "priority": 2,
        }


# --------------------------------------------------------------------------- HTTP


class App:
    """Configuration and shared state of one running reference service."""

    def __init__(self, env: dict[str, str]) -> None:
        self.service = env.get("CLIKD_SERVICE") or "service"
        self.port = int(env.get("PORT") or 8080)
        self.grpc_port = int(env["GRPC_PORT"]) if env.get("GRPC_PORT") else None
        self.grpc_mode = (env.get("CLIKD_REF_GRPC") or "serving").strip().lower()
        self.log_rate = float(env.get("CLIKD_REF_LOG_RATE") or 1)
        self.fail_mode = (env.get("CLIKD_REF_FAIL") or "").strip().lower()
        self.fail_after = float(env.get("CLIKD_REF_FAIL_AFTER") or 1)
        self.openapi_path = Path(env.get("CLIKD_REF_OPENAPI") or "/srv/openapi.json")
        self.log = Logger(self.service)
        self.stopping = threading.Event()
        self.health = Health(self.service, checks_from_env(env), self.fail_mode, self.fail_after)
        self.api = FakeApi(contract_bug=(env.get("CLIKD_REF_CONTRACT_BUG") or "") not in ("", "0"))

    def banner(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "kind": "clikd test bed reference service",
            "version": VERSION,
            "checks": [check.name for check in self.health.checks],
            "endpoints": ["/", "/health", "/api/openapi.json", *FakeApi.ENDPOINTS],
        }


class Handler(BaseHTTPRequestHandler):
    server_version = "clikd-refservice/" + VERSION
    protocol_version = "HTTP/1.1"
    # TCP_NODELAY: headers and body go out as two writes, and on a kept-alive connection Nagle held the body
    # back until the client's delayed ACK of the headers (40 ms per request).
    disable_nagle_algorithm = True
    app: App  # set on the subclass made by serve()

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        self._handle(send_body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._handle(send_body=False)

    def do_POST(self) -> None:  # noqa: N802
        self._handle(send_body=True)

    def _not_allowed(self) -> None:
        """405 for the methods the fake serves on no path (http.server alone would answer 501)."""
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        started = time.monotonic()
        payload = json.dumps({"error": "method not allowed", "method": self.command}).encode() + b"\n"
        self._status = 405
        self.send_response(405)
        self.send_header("Allow", "GET, HEAD, POST")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)
        self._status_logged(started)

    def __getattr__(self, name: str) -> Any:
        # http.server looks up do_<METHOD>; every method without one (PUT, DELETE, TRACE, QUERY...) is a 405.
        if name.startswith("do_"):
            return self._not_allowed
        raise AttributeError(name)

    def _handle(self, send_body: bool) -> None:
        started = time.monotonic()
        parts = urlsplit(self.path)
        path = parts.path
        if self.command == "POST" or path == "/feed" or path.startswith("/users/"):
            self._api(path, parse_qs(parts.query), send_body)
        elif path in ("/health", "/healthz", "/api/health"):
            status, body = self.app.health.report()
            self._send_json(status, body, send_body)
        elif path == "/api/openapi.json":
            try:
                document = self.app.openapi_path.read_bytes()
            except OSError as exc:
                self._send_json(404, {"error": f"no OpenAPI document: {exc}"}, send_body)
            else:
                self._send(200, document, "application/json", send_body)
        elif path == "/":
            self._send_json(200, self.app.banner(), send_body)
        else:
            self._send_json(404, {"error": "not found", "path": path}, send_body)
        self._status_logged(started)

    def _api(self, path: str, query: dict[str, list[str]], send_body: bool) -> None:
        """Dispatch to the fake Clikd API; problems are answered as application/problem+json."""
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        method = "GET" if self.command == "HEAD" else self.command
        try:
            status, answer = self.app.api.route(method, path, query, self.headers, body)
        except LookupError:
            self._send_json(404, {"error": "not found", "path": path}, send_body)
        except ApiError as exc:
            problem = json.dumps(exc.body).encode() + b"\n"
            self._send(exc.status, problem, "application/problem+json", send_body)
        else:
            self._send_json(status, answer, send_body)

    def _send_json(self, status: int, body: dict[str, Any], send_body: bool) -> None:
        self._send(status, json.dumps(body).encode() + b"\n", "application/json", send_body)

    def _send(self, status: int, payload: bytes, content_type: str, send_body: bool) -> None:
        self._status = status
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if send_body:
            self.wfile.write(payload)

    def _status_logged(self, started: float) -> None:
        duration = round((time.monotonic() - started) * 1000, 1)
        status = getattr(self, "_status", 0)
        self.app.log.debug(
            f"{self.command} {self.path} {status} {duration}ms",
            method=self.command,
            path=self.path,
            status=status,
            duration_ms=duration,
            remote=self.client_address[0],
        )

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (signature of the base class)
        """Silence http.server's stderr log: requests are logged as JSON lines instead."""


# --------------------------------------------------------------------------- background threads


def periodic_logs(app: App) -> None:
    """Lines at CLIKD_REF_LOG_RATE per second cycling through every level and format."""
    if app.log_rate <= 0:
        return
    interval = 1.0 / app.log_rate
    n = 0
    while not app.stopping.wait(interval):
        n += 1
        step = n % 10
        if step == 1:
            app.log.info("heartbeat", seq=n)
        elif step == 2:
            app.log.debug("cache stats", seq=n, hits=n * 3, misses=n)
        elif step == 3:
            app.log.raw(f"{Logger.timestamp()} WARN {app.service}: slow request simulated seq={n}")
        elif step == 4:
            app.log.warn("queue depth above soft limit", seq=n, depth=17)
        elif step == 5:
            app.log.raw(f"{app.service} plain line without a level seq={n}")
        elif step == 6:
            app.log.error("simulated upstream error", seq=n, upstream="example")
        elif step == 7:
            app.log.raw(f"{Logger.timestamp()} INFO {app.service}: plain-text info line seq={n}")
        elif step == 8:
            app.log.debug("gc pause", seq=n, pause_ms=1.5)
        elif step == 9:
            app.log.raw(f"{Logger.timestamp()} ERROR {app.service}: plain-text error line seq={n}")
        else:
            app.log.info("request rate", seq=n, rps=42)


def crash_later(app: App) -> None:
    if app.stopping.wait(app.fail_after):
        return
    app.log.error(f"fault mode CLIKD_REF_FAIL=crash: exiting with status 3 after {app.fail_after:g}s")
    os._exit(3)


def grpc_stub(app: App, listener: socket.socket) -> None:
    """Accept TCP connections on GRPC_PORT and close them: enough for a port probe."""
    listener.settimeout(0.5)
    while not app.stopping.is_set():
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            continue
        except OSError:
            return
        conn.close()


def start_grpc(app: App) -> Any:
    """The gRPC health server on GRPC_PORT (refgrpc.py), else the accept-and-close listener."""
    if app.grpc_port is None:
        return None
    server = None
    if app.grpc_mode != "off":
        try:
            import refgrpc  # beside this file
        except ImportError:
            refgrpc = None
        if refgrpc is not None and app.grpc_mode not in refgrpc.MODES:
            app.log.warn(f"unknown CLIKD_REF_GRPC={app.grpc_mode!r}: serving")
            app.grpc_mode = "serving"
        server = refgrpc.serve(app.grpc_port, app.service, app.grpc_mode) if refgrpc is not None else None
        if server is None:
            app.log.warn("no gRPC (grpcio or refgrpc.py not importable): GRPC_PORT only accepts connections")
    if server is None:
        listener = socket.create_server(("0.0.0.0", app.grpc_port), reuse_port=False)
        start_thread(grpc_stub, app, listener)
    return server


def start_thread(target: Callable[..., None], *args: Any) -> None:
    threading.Thread(target=target, args=args, daemon=True).start()


# --------------------------------------------------------------------------- main


def main() -> int:
    app = App(dict(os.environ))
    handler = type("BoundHandler", (Handler,), {"app": app})
    ThreadingHTTPServer.allow_reuse_address = True
    server = ThreadingHTTPServer(("0.0.0.0", app.port), handler)
    server.daemon_threads = True

    def stop(signum: int, _frame: object) -> None:
        if app.stopping.is_set():
            return
        app.stopping.set()
        app.log.info(f"received {signal.Signals(signum).name}, shutting down")
        start_thread(server.shutdown)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    grpc_server = start_grpc(app)
    start_thread(periodic_logs, app)
    if app.fail_mode == "crash":
        start_thread(crash_later, app)
    elif app.fail_mode not in ("", "unhealthy", "slow"):
        app.log.warn(f"unknown CLIKD_REF_FAIL={app.fail_mode!r} ignored")

    app.log.info(
        f"{app.service} listening on :{app.port}",
        port=app.port,
        grpc_port=app.grpc_port,
        grpc=app.grpc_mode if grpc_server is not None else "tcp listener" if app.grpc_port else None,
        checks=[check.name for check in app.health.checks],
        fail_mode=app.fail_mode or None,
    )
    server.serve_forever(poll_interval=0.2)
    server.server_close()
    if grpc_server is not None:
        grpc_server.stop()
    app.log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
