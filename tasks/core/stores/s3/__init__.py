"""The object store (``kind = "s3"``): one bucket per branch on an S3-compatible server.

:mod:`.client` opens a connection and turns the library's failures into clikd errors,
:mod:`.buckets` creates, lists, measures, empties and drops a branch's bucket, and
:mod:`.transfer` moves objects between a bucket and a folder (dumps, seeds) or another bucket.
"""
