"""A small client of the Prometheus HTTP API: instant queries (GET /api/v1/query), standard library only.

The base URL may carry a path prefix (``http://monitoring.example/prometheus``). Reaching a Prometheus
that only answers inside the cluster's network goes through the environment's bastion:
:func:`remote_address` gives the ``(host, port)`` to forward (``tasks.core.remote.tunnel.forwards``)
and :meth:`Prometheus.through` a client of the forward's local port, which keeps the path prefix and
sends the original ``Host`` header (a virtual-hosted Prometheus behind an ingress still routes).
An https URL through a tunnel would check the certificate against 127.0.0.1; not supported yet.

Every failure is a :class:`~tasks.core.errors.ClikdError` that names the URL and what to check.
"""

from __future__ import annotations

import http.client
import json
import math
import ssl
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from tasks.core.errors import ClikdError, ConfigError, Unavailable


class PrometheusUnreachable(Unavailable):
    title = "prometheus unreachable"


class PrometheusHTTPError(ClikdError):
    """An HTTP error without Prometheus's own JSON error body (a proxy, a wrong path)."""

    title = "prometheus http error"


class PrometheusQueryError(ClikdError):
    """Prometheus answered ``status: error``: its errorType and error are in the message."""

    title = "prometheus query error"

    def __init__(self, message: str, hint: str | None = None, *, error_type: str, error: str) -> None:
        super().__init__(message, hint)
        self.error_type = error_type
        self.error = error


class PrometheusResultError(ClikdError):
    """A successful answer clikd cannot use as one value (a matrix, a string, several series)."""

    title = "prometheus result"


@dataclass(frozen=True)
class Sample:
    labels: dict[str, str]
    value: float  # may be NaN or +-Inf, as Prometheus computed it
    timestamp: float


@dataclass(frozen=True)
class QueryResult:
    """The answer to an instant query: ``scalar`` has one sample without labels, ``vector`` any number."""

    result_type: str  # "vector" or "scalar"
    samples: list[Sample] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _sample_value(raw: Any) -> tuple[float, float]:
    """(timestamp, value) of Prometheus's ``[1712345678.9, "0.5"]`` (values are strings: "NaN", "+Inf")."""
    if not isinstance(raw, list) or len(raw) != 2:
        raise ValueError(f"not a [time, value] pair: {raw!r}")
    return float(raw[0]), float(raw[1])


def remote_address(url: str) -> tuple[str, int]:
    """(host, port) of a Prometheus URL, as a bastion reaches it (the port defaults to the scheme's)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"prometheus_url {url!r} is not an http(s)://host[:port][/path] URL",
            hint='e.g. prometheus_url = "http://prometheus.monitoring:9090" under [deployment]',
        )
    return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)


class Prometheus:
    """Instant queries against one Prometheus (``url`` without ``/api/v1``)."""

    def __init__(self, url: str, *, timeout: float = 10.0, host_header: str | None = None) -> None:
        host, port = remote_address(url)
        parts = urlsplit(url)
        self.url = url.rstrip("/")
        self.scheme = parts.scheme
        self.host = host
        self.port = port
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout
        self.host_header = host_header

    def through(self, local_port: int) -> Prometheus:
        """The same Prometheus through a local forward on 127.0.0.1:``local_port`` (an SSH tunnel)."""
        default = 443 if self.scheme == "https" else 80
        original = self.host if self.port == default else f"{self.host}:{self.port}"
        return Prometheus(
            f"{self.scheme}://127.0.0.1:{local_port}{self.prefix}",
            timeout=self.timeout,
            host_header=self.host_header or original,
        )

    def _connection(self) -> http.client.HTTPConnection:
        if self.scheme == "https":
            return http.client.HTTPSConnection(
                self.host, self.port, timeout=self.timeout, context=ssl.create_default_context()
            )
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def _get(self, path: str, params: dict[str, str]) -> tuple[int, bytes]:
        target = f"{self.prefix}{path}?{urlencode(params)}"
        headers = {"Accept": "application/json", "User-Agent": "clikd"}
        if self.host_header:
            headers["Host"] = self.host_header
        conn = self._connection()
        try:
            conn.request("GET", target, headers=headers)
            response = conn.getresponse()
            return response.status, response.read()
        except TimeoutError:
            raise PrometheusUnreachable(
                f"Prometheus at {self.url} did not answer within {self.timeout:g}s",
                hint="is it overloaded, or is the URL pointing at something that accepts but never answers? "
                "check [deployment] prometheus_url",
            ) from None
        except ssl.SSLError as exc:
            raise PrometheusUnreachable(
                f"TLS with Prometheus at {self.url} failed: {exc.reason or exc}",
                hint="is it http rather than https? check [deployment] prometheus_url",
            ) from None
        except OSError as exc:
            why = exc.strerror or str(exc) or type(exc).__name__
            raise PrometheusUnreachable(
                f"cannot reach Prometheus at {self.url}: {why}",
                hint="check [deployment] prometheus_url (host and port), that Prometheus runs, and that "
                "this machine may reach it (a cluster-internal address needs the environment's bastion)",
            ) from None
        except http.client.HTTPException as exc:
            raise PrometheusUnreachable(
                f"Prometheus at {self.url} broke off the answer: {type(exc).__name__}: {exc}",
                hint="check [deployment] prometheus_url: is it an HTTP server at all?",
            ) from None
        finally:
            conn.close()

    def query(self, promql: str, *, at: float | None = None) -> QueryResult:
        """Evaluate ``promql`` at the time ``at`` (Unix seconds; default: Prometheus's now)."""
        params = {"query": promql}
        if at is not None:
            params["time"] = f"{at:.3f}"
        status, body = self._get("/api/v1/query", params)
        try:
            doc = json.loads(body)
        except ValueError:
            doc = None
        if not isinstance(doc, dict) or "status" not in doc:
            snippet = body[:200].decode("utf-8", "replace").strip()
            if status != 200:
                raise PrometheusHTTPError(
                    f"GET {self.url}/api/v1/query answered HTTP {status}"
                    + (f": {snippet}" if snippet else ""),
                    hint="is prometheus_url the Prometheus itself (without /api/v1)? a proxy in front of it "
                    "may need its path prefix in the URL",
                )
            raise PrometheusResultError(
                f"GET {self.url}/api/v1/query answered 200 without Prometheus's JSON: {snippet!r}",
                hint="is prometheus_url a Prometheus? (it answers /api/v1/query with a JSON document)",
            )
        if doc["status"] != "success":
            error_type = str(doc.get("errorType", "unknown"))
            error = str(doc.get("error", "no error text"))
            raise PrometheusQueryError(
                f"Prometheus refused the query ({error_type}): {error}; the query: {promql}",
                hint="check the query of this analysis check in [deployment.production.analysis]"
                if error_type == "bad_data"
                else f"Prometheus failed to evaluate it (HTTP {status}): a heavy query over a long "
                "interval, or an overloaded server; try it in Prometheus's own query page",
                error_type=error_type,
                error=error,
            )
        data = doc.get("data") or {}
        result_type = str(data.get("resultType", ""))
        result = data.get("result")
        warnings = [str(w) for w in doc.get("warnings") or []]
        try:
            if result_type == "scalar":
                ts, value = _sample_value(result)
                return QueryResult("scalar", [Sample({}, value, ts)], warnings)
            if result_type == "vector" and isinstance(result, list):
                samples = []
                for item in result:
                    ts, value = _sample_value(item.get("value"))
                    samples.append(Sample(dict(item.get("metric") or {}), value, ts))
                return QueryResult("vector", samples, warnings)
        except (ValueError, TypeError, AttributeError) as exc:
            raise PrometheusResultError(f"Prometheus's answer to {promql} is malformed: {exc}") from None
        raise PrometheusResultError(
            f"the query gives a {result_type or 'missing'} result, not one value: {promql}",
            hint="an analysis query must give an instant vector or a scalar: "
            "a range selector like [5m] belongs inside rate(...), not at the end",
        )


def describe(value: float) -> str:
    """A value as a person reads it in a result: NaN and infinities spelled out, others to 4 digits."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return f"{value:.4g}"
