"""db.inspect for a branch's bucket: objects and bytes, per top-level prefix ("folder")."""

from __future__ import annotations

from tasks.core.errors import ClikdError
from tasks.core.insight.model import NamespaceInsight, StoreInsight
from tasks.core.stores import Endpoint

NO_PREFIX = "(top)"


def inspect(ep: Endpoint, bucket: str) -> StoreInsight:
    from tasks.core.stores.s3 import buckets

    out = StoreInsight("s3", "s3", bucket, exists=False)
    try:
        if not buckets.exists(ep, bucket):
            return out
        objects = buckets.listing(ep, bucket)
    except ClikdError as error:
        out.error = error.message
        return out
    out.exists = True
    counts: dict[str, list[int]] = {}
    for key, info in objects.items():
        head = key.split("/", 1)[0] if "/" in key else NO_PREFIX
        seen = counts.setdefault(head, [0, 0])
        seen[0] += 1
        seen[1] += info.size
    out.namespaces = [NamespaceInsight(name, n, size) for name, (n, size) in sorted(counts.items())]
    out.keys = len(objects)
    out.bytes = sum(info.size for info in objects.values())
    return out
