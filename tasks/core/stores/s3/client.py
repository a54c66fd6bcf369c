"""A connection to an S3-compatible server, and its failures as clikd errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from tasks.core.db.errors import StoreUnavailable
from tasks.core.errors import ClikdError, ConfigError
from tasks.core.stores import Endpoint

if TYPE_CHECKING:
    from minio import Minio

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 60.0
# Any region works for a single-node server; SigV4 needs one, and naming it spares the client a
# GetBucketLocation round trip before every first call on a bucket.
REGION = "us-east-1"
# Codes that mean the keys are wrong rather than the server being away.
AUTH_CODES = frozenset({"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied"})


class S3Failed(ClikdError):
    title = "object store request failed"


def connect(ep: Endpoint) -> Minio:
    """A client for ``ep`` with short timeouts and at most one retry (a down server fails fast)."""
    import urllib3
    from minio import Minio

    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=CONNECT_TIMEOUT, read=READ_TIMEOUT),
        retries=urllib3.Retry(total=1, backoff_factor=0.2, status_forcelist=(502, 503, 504)),
        maxsize=16,
    )
    host = f"[{ep.host}]" if ":" in ep.host else ep.host
    return Minio(
        f"{host}:{ep.port}",
        access_key=ep.user,
        secret_key=ep.password,
        secure=False,
        region=REGION,
        http_client=http,
    )


@contextmanager
def translated(ep: Endpoint, doing: str) -> Iterator[None]:
    """Turn the library's exceptions into a clikd error that names the store and what was being done."""
    import urllib3
    from minio.error import MinioException, S3Error

    try:
        yield
    except S3Error as exc:
        if exc.code in AUTH_CODES:
            raise ConfigError(
                f"{ep.name} ({ep.s3_url}) refused the keys while {doing}: {exc.code}",
                hint=f"check databases.{ep.name}.user (access key) and password (secret key) in clikd.toml",
            ) from None
        raise S3Failed(f"{ep.name} ({ep.s3_url}) answered {exc.code} while {doing}: {exc.message}") from None
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise StoreUnavailable(
            f"{ep.name} does not answer at {ep.s3_url} while {doing}: {_reason(exc)}",
            hint="start the branch's stack (clikd env.start) or check the server's address in clikd.toml",
        ) from None
    except MinioException as exc:
        raise S3Failed(f"{ep.name} ({ep.s3_url}): {exc} while {doing}") from None


def _reason(exc: BaseException) -> str:
    # urllib3 wraps the socket error twice (MaxRetryError -> NewConnectionError): say the innermost.
    inner: BaseException = exc
    while getattr(inner, "reason", None) is not None and isinstance(inner.reason, BaseException):  # type: ignore[attr-defined]
        inner = inner.reason  # type: ignore[attr-defined]
    text = str(inner)
    return text.split(": ", 1)[-1] if "Failed to establish" in text else text
