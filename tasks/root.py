"""The root collection: one namespace per area of work, each with a menu as its default task.

``ns`` is the whole collection (what ``inv`` and the listings show). :func:`collection` builds it
with only some namespaces: a command that names its tasks (``clikd env.start``) imports only their
namespace modules instead of all six (tasks/program.py decides which; a few ms of every command).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable

from invoke.collection import Collection

from tasks import menus

# The namespace modules, in the order the collection has always added them.
NAMESPACES = ("config", "db", "deploy", "env", "gen", "test")

_built: dict[frozenset[str], Collection] = {}


def collection(names: Iterable[str] = NAMESPACES) -> Collection:
    """The root collection with the namespaces ``names`` (all by default), built once per set.

    It becomes the collection the menus offer tasks from; the overview and the namespace menus
    run only with every namespace, as they may run a task of any (tasks/program.py).
    """
    wanted = frozenset(names) & frozenset(NAMESPACES)
    if wanted not in _built:
        ns = Collection()
        # `clikd` / `inv` alone: the overview (and the quick-actions menu in a terminal).
        ns.add_task(menus.overview, default=True)
        for name in NAMESPACES:
            if name not in wanted:
                continue
            space = Collection.from_module(importlib.import_module(f"tasks.{name}"))
            # `clikd db` alone: the namespace's menu (its task list without a terminal).
            space.add_task(menus.namespace_menu(space.name or ""), name="menu", default=True)
            ns.add_collection(space)
        _built[wanted] = ns
    menus.serve(_built[wanted])
    return _built[wanted]


def __getattr__(name: str) -> Collection:
    # `from tasks.root import ns` (tasks.py for inv, the tests): the whole collection, on first use.
    if name == "ns":
        return collection()
    raise AttributeError(name)
