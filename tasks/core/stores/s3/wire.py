"""Two signed S3 reads for the everyday commands: does the bucket exist (HeadBucket), and what it
holds (ListObjectsV2), signed with AWS Signature Version 4 over the standard library's hmac.

env.status reads every store on every frame within its 0.5 s budget, a no-op env.start checks that
the branch's bucket is there, and db.inspect lists it; the minio client's import alone (its admin
and crypto modules load with it) cost each of them 0.18 s on the test machine. These are the
requests the client sends, signed the same way, and nothing else: every call that changes the
store goes through minio.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from urllib.parse import quote

from tasks.core.stack import http1, tcp
from tasks.core.stores import Endpoint

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
REGION = "us-east-1"  # as tasks.core.stores.s3.client
NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


class WireError(Exception):
    """The server answered with an error (its code and message)."""


def _key(secret: str, day: str) -> bytes:
    key = hmac.new(f"AWS4{secret}".encode(), day.encode(), hashlib.sha256).digest()
    for part in (REGION, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def signed_headers(
    ep: Endpoint, path: str, query: dict[str, str], now: dt.datetime, method: str = "GET"
) -> dict[str, str]:
    """The headers of a signed ``method`` of ``path`` with ``query`` (no body)."""
    host = f"{ep.host}:{ep.port}"
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    day = stamp[:8]
    canonical_query = "&".join(
        f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(query.items())
    )
    headers = {"host": host, "x-amz-content-sha256": EMPTY_SHA256, "x-amz-date": stamp}
    names = ";".join(sorted(headers))
    canonical = "\n".join(
        [
            method,
            quote(path, safe="/-_.~"),
            canonical_query,
            "".join(f"{k}:{headers[k]}\n" for k in sorted(headers)),
            names,
            EMPTY_SHA256,
        ]
    )
    scope = f"{day}/{REGION}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    signature = hmac.new(_key(ep.password, day), to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={ep.user}/{scope}, SignedHeaders={names}, Signature={signature}"
    )
    return headers


def listing(
    ep: Endpoint, bucket: str, *, timeout: float = 2.0, page: int = 1000
) -> list[tuple[str, int]] | None:
    """Every (key, size) of ``bucket``; None when it does not exist. Raises WireError or OSError."""
    import xml.etree.ElementTree as ET

    found: list[tuple[str, int]] = []
    token = ""
    while True:
        query = {"list-type": "2", "max-keys": str(page)}
        if token:
            query["continuation-token"] = token
        headers = signed_headers(ep, f"/{bucket}", query, dt.datetime.now(dt.UTC))
        target = f"/{quote(bucket)}?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in query.items())
        answer = _exchange(ep, "GET", target, headers, timeout)
        # the configured store's answer; expat (2.4+) refuses entity expansion attacks
        root = ET.fromstring(answer.body) if answer.body.strip() else None  # noqa: S314
        if answer.status != 200:
            code = root.findtext("Code", "") if root is not None else ""
            if answer.status == 404 and code == "NoSuchBucket":
                return None
            message = root.findtext("Message", "") if root is not None else ""
            raise WireError(f"{answer.status} {code or answer.reason}: {message}".strip(": "))
        if root is None:
            raise WireError(f"{answer.status}: an empty listing")
        for item in root.iter(f"{NS}Contents"):
            found.append((item.findtext(f"{NS}Key", ""), int(item.findtext(f"{NS}Size", "0"))))
        token = root.findtext(f"{NS}NextContinuationToken", "")
        if root.findtext(f"{NS}IsTruncated", "false") != "true" or not token:
            return found


def _exchange(
    ep: Endpoint, method: str, target: str, headers: dict[str, str], timeout: float
) -> http1.Answer:
    """One request on its own connection (a broken answer is a WireError)."""
    with tcp.connect(ep.host, ep.port, timeout) as sock:
        try:
            return http1.exchange(sock, method, target, host=f"{ep.host}:{ep.port}", headers=headers)
        except http1.RemoteDisconnected:
            raise
        except http1.ProtocolError as exc:
            raise WireError(f"not an S3 answer: {exc}") from None


def bucket_stats(
    ep: Endpoint, bucket: str, *, timeout: float = 2.0, page: int = 1000
) -> tuple[int, int] | None:
    """(objects, bytes) of ``bucket``; None when it does not exist. Raises WireError or OSError."""
    found = listing(ep, bucket, timeout=timeout, page=page)
    return None if found is None else (len(found), sum(size for _, size in found))


def bucket_exists(ep: Endpoint, bucket: str, *, timeout: float = 5.0) -> bool:
    """Whether ``bucket`` exists (HeadBucket). Raises WireError (keys refused) or OSError."""
    path = f"/{bucket}"
    headers = signed_headers(ep, path, {}, dt.datetime.now(dt.UTC), "HEAD")
    response = _exchange(ep, "HEAD", quote(path), headers, timeout)
    if response.status == 200:
        return True
    if response.status == 404:
        return False
    raise WireError(f"HeadBucket {bucket} answered {response.status} {response.reason}")
