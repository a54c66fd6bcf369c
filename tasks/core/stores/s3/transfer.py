"""Objects between a bucket and a folder (db.dump/db.restore, seeds) or another bucket (db.branch).

A dump keeps each object as ``s3/<n>`` with ``s3/index.jsonl`` naming its key, size and content
type: keys are arbitrary text (``../``, very long, any Unicode), so they never become paths.
"""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO, cast

from tasks.core.stores import Endpoint
from tasks.core.stores.s3 import buckets
from tasks.core.stores.s3.client import connect, translated

WORKERS = 8
FOLDER = "s3"
INDEX = "index.jsonl"


def _each(jobs: list[Callable[[], Any]]) -> None:
    """Run the jobs on a small pool; the first failure is raised once all have stopped."""
    if not jobs:
        return
    with ThreadPoolExecutor(max_workers=min(WORKERS, len(jobs))) as pool:
        for future in [pool.submit(job) for job in jobs]:
            future.result()


def dump(ep: Endpoint, bucket: str, out: Path) -> dict[str, Any]:
    """Write every object of ``bucket`` below ``out/s3``; the manifest's part for the store."""
    folder = out / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    objects = buckets.listing(ep, bucket)
    client = connect(ep)
    entries: list[dict[str, Any]] = []
    jobs: list[Callable[[], Any]] = []
    for n, (key, info) in enumerate(sorted(objects.items()), start=1):
        name = f"{n:06d}"
        entries.append({"key": key, "file": name, "size": info.size})

        jobs.append(partial(_fetch, ep, client, bucket, key, folder / name))
    _each(jobs)
    (folder / INDEX).write_text(
        "".join(json.dumps(e, sort_keys=True) + "\n" for e in entries), encoding="utf-8"
    )
    return {"bucket": bucket, "objects": len(entries), "bytes": sum(e["size"] for e in entries)}


def _fetch(ep: Endpoint, client: Any, bucket: str, key: str, path: Path) -> None:
    with translated(ep, f"reading {bucket}/{key}"):
        client.fget_object(bucket, key, str(path))


def restore(ep: Endpoint, bucket: str, folder: Path) -> str:
    """Replace the bucket's objects with those of a dump folder."""
    base = folder / FOLDER
    index = base / INDEX
    entries = (
        [json.loads(line) for line in index.read_text(encoding="utf-8").splitlines() if line.strip()]
        if index.is_file()
        else []
    )
    buckets.ensure(ep, bucket)
    removed = buckets.empty(ep, bucket)
    upload(ep, bucket, [(e["key"], base / e["file"]) for e in entries])
    return f"{removed} object(s) removed, {len(entries)} restored"


def upload(ep: Endpoint, bucket: str, files: list[tuple[str, Path]]) -> int:
    """Put each (key, file) into ``bucket``; returns the bytes sent."""
    client = connect(ep)
    sizes: list[int] = []

    def put(key: str, path: Path) -> None:
        kind = mimetypes.guess_type(key)[0] or "application/octet-stream"
        with translated(ep, f"writing {bucket}/{key}"):
            client.fput_object(bucket, key, str(path), content_type=kind)
        sizes.append(path.stat().st_size)

    _each([partial(put, key, path) for key, path in files])
    return sum(sizes)


def copy(src: Endpoint, src_bucket: str, dst: Endpoint, dst_bucket: str) -> int:
    """Make ``dst_bucket`` hold exactly ``src_bucket``'s objects; returns how many were copied.

    On one server the copy is server-side (CopyObject: no bytes through this machine).
    """
    from minio.commonconfig import CopySource

    objects = buckets.listing(src, src_bucket)
    buckets.ensure(dst, dst_bucket)
    buckets.empty(dst, dst_bucket)
    same = (src.host, src.port) == (dst.host, dst.port)
    reader, writer = connect(src), connect(dst)

    def one(key: str, size: int) -> None:
        with translated(dst, f"copying {src_bucket}/{key} to {dst_bucket}"):
            if same:
                writer.copy_object(dst_bucket, key, CopySource(src_bucket, key))
                return
            response = reader.get_object(src_bucket, key)
            try:
                writer.put_object(dst_bucket, key, cast("BinaryIO", response), size)
            finally:
                response.close()
                response.release_conn()

    _each([partial(one, key, info.size) for key, info in objects.items()])
    return len(objects)


def seed_files(root: Path) -> list[tuple[str, Path]]:
    """The objects of ``seeds/s3``: each file's path below it is its key (dot-files left out)."""
    base = root / "seeds" / FOLDER
    if not base.is_dir():
        return []
    return [
        (path.relative_to(base).as_posix(), path)
        for path in sorted(base.rglob("*"))
        if path.is_file() and not any(part.startswith(".") for part in path.relative_to(base).parts)
    ]
