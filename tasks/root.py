"""The root collection: one namespace per area of work."""

from __future__ import annotations

from invoke.collection import Collection

from tasks import config, db, deploy, env, gen

ns = Collection()
ns.add_collection(Collection.from_module(config))
ns.add_collection(Collection.from_module(db))
ns.add_collection(Collection.from_module(deploy))
ns.add_collection(Collection.from_module(env))
ns.add_collection(Collection.from_module(gen))
