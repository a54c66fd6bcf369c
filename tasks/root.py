"""The root collection: one namespace per area of work, each with a menu as its default task."""

from __future__ import annotations

from invoke.collection import Collection

from tasks import config, db, deploy, env, gen, menus, test

ns = Collection()
# `clikd` / `inv` alone: the overview (and the quick-actions menu in a terminal).
ns.add_task(menus.overview, default=True)
for module in (config, db, deploy, env, gen, test):
    space = Collection.from_module(module)
    # `clikd db` alone: the namespace's menu (its task list without a terminal).
    space.add_task(menus.namespace_menu(space.name or ""), name="menu", default=True)
    ns.add_collection(space)
menus.serve(ns)
