"""db.inspect for a branch's bucket: objects and bytes, per top-level prefix ("folder").

Read with the light signed listing (tasks/core/stores/s3/wire.py), as env.status does: the S3
client's import would be most of db.inspect's time.
"""

from __future__ import annotations

from tasks.core.insight.model import NamespaceInsight, StoreInsight
from tasks.core.stores import Endpoint

NO_PREFIX = "(top)"


def inspect(ep: Endpoint, bucket: str) -> StoreInsight:
    from tasks.core.stores.s3 import wire

    out = StoreInsight("s3", "s3", bucket, exists=False)
    try:
        objects = wire.listing(ep, bucket)
    except wire.WireError as error:
        out.error = f"{ep.name} at {ep.s3_url} refused the listing of {bucket}: {error}"
        return out
    except OSError as error:
        out.error = f"{ep.name} does not answer at {ep.s3_url}: {error}"
        return out
    if objects is None:
        return out
    out.exists = True
    counts: dict[str, list[int]] = {}
    for key, size in objects:
        head = key.split("/", 1)[0] if "/" in key else NO_PREFIX
        seen = counts.setdefault(head, [0, 0])
        seen[0] += 1
        seen[1] += size
    out.namespaces = [NamespaceInsight(name, n, size) for name, (n, size) in sorted(counts.items())]
    out.keys = len(objects)
    out.bytes = sum(size for _, size in objects)
    return out
