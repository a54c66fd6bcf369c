"""The root collection: one namespace per area of work."""

from __future__ import annotations

from invoke.collection import Collection

from tasks import config

ns = Collection()
ns.add_collection(Collection.from_module(config))
