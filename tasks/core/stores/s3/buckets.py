"""A branch's bucket: created at start, listed, measured, emptied, dropped.

Every call names the bucket: nothing here lists or touches another branch's bucket (env.prune
drops a gone branch's bucket through that branch's own purge). env.status, a no-op env.start and
db.inspect read through wire.py instead; :func:`stats` is the client's answer a test holds them to.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tasks.core.stores import Endpoint
from tasks.core.stores.s3.client import connect, translated

DELETE_BATCH = 1000  # DeleteObjects takes at most 1000 keys per request


@dataclass(frozen=True)
class ObjectInfo:
    size: int
    etag: str


def ensure(ep: Endpoint, bucket: str) -> bool:
    """Create ``bucket`` when it is missing; True when it was created now."""
    from minio.error import S3Error

    client = connect(ep)
    with translated(ep, f"creating bucket {bucket}"):
        if client.bucket_exists(bucket):
            return False
        try:
            client.make_bucket(bucket)
        except S3Error as exc:
            # Created meanwhile by a concurrent start of the same branch.
            if exc.code in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                return False
            raise
        return True


def exists(ep: Endpoint, bucket: str) -> bool:
    with translated(ep, f"looking for bucket {bucket}"):
        return connect(ep).bucket_exists(bucket)


def listing(ep: Endpoint, bucket: str, prefix: str = "") -> dict[str, ObjectInfo]:
    """Every object of ``bucket`` (under ``prefix``) by key; empty when the bucket does not exist."""
    from minio.error import S3Error

    client = connect(ep)
    found: dict[str, ObjectInfo] = {}
    with translated(ep, f"listing bucket {bucket}"):
        try:
            for obj in client.list_objects(bucket, prefix=prefix or None, recursive=True):
                if obj.object_name is None or obj.is_dir:
                    continue
                found[obj.object_name] = ObjectInfo(int(obj.size or 0), (obj.etag or "").strip('"'))
        except S3Error as exc:
            if exc.code != "NoSuchBucket":
                raise
    return found


def stats(ep: Endpoint, bucket: str) -> tuple[int, int] | None:
    """(objects, bytes) of ``bucket``; None when it does not exist."""
    if not exists(ep, bucket):
        return None
    objects = listing(ep, bucket)
    return len(objects), sum(o.size for o in objects.values())


def delete(ep: Endpoint, bucket: str, keys: Iterable[str]) -> int:
    """Delete ``keys`` from ``bucket`` in batches; returns how many were deleted."""
    from minio.deleteobjects import DeleteObject

    client = connect(ep)
    batch: list[str] = []
    count = 0

    def flush() -> None:
        nonlocal count
        with translated(ep, f"deleting objects of bucket {bucket}"):
            errors = list(client.remove_objects(bucket, [DeleteObject(k) for k in batch]))
        if errors:
            from tasks.core.stores.s3.client import S3Failed

            first = errors[0]
            raise S3Failed(
                f"{ep.name} kept {len(errors)} object(s) of {bucket}: {first.name}: {first.message}"
            )
        count += len(batch)
        batch.clear()

    for key in keys:
        batch.append(key)
        if len(batch) >= DELETE_BATCH:
            flush()
    if batch:
        flush()
    return count


def empty(ep: Endpoint, bucket: str) -> int:
    """Delete every object of ``bucket``; returns how many there were."""
    return delete(ep, bucket, list(listing(ep, bucket)))


def drop(ep: Endpoint, bucket: str) -> int | None:
    """Empty and remove ``bucket``: the objects it held, or None when there was no such bucket."""
    from minio.error import S3Error

    if not exists(ep, bucket):
        return None
    removed = empty(ep, bucket)
    with translated(ep, f"removing bucket {bucket}"):
        try:
            connect(ep).remove_bucket(bucket)
        except S3Error as exc:
            if exc.code != "NoSuchBucket":
                raise
    return removed
