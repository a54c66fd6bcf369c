"""Modules of libraries that clikd's start-up loads but almost never uses, loaded on first use instead.

Invoke imports its vendored PyYAML when it starts (about 30 ms of a no-op ``env.start`` on the test
machine), yet reads YAML only when an Invoke-level ``clikd.yaml`` file exists, which clikd's own
configuration (clikd.toml) does not need. A stand-in module takes the vendored module's place in
``sys.modules`` until something reads one of its attributes (``yaml.safe_load``); then the real module
is imported under its own name and answers from then on, so a YAML file is read exactly as before.
(The standard library's ``LazyLoader`` does not fit: Python 3.11's import machinery reads
``__spec__`` of the module on ``from .vendor import yaml``, which would load it at once.)

The same goes for ``unittest.mock``, which Invoke imports for its ``MockContext`` (a testing aid) and
which brings asyncio and ssl with it: about 27 ms. Invoke reads one name of it at import time
(``from unittest.mock import Mock``), so the stand-in holds a ``Mock`` that loads the real module when
a MockContext first calls it.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
import threading
import types
from pathlib import Path
from typing import Any

INVOKE_YAML = "invoke.vendor.yaml"
UNITTEST_MOCK = "unittest.mock"


class _Deferred(types.ModuleType):
    """Stands for a module that is not loaded yet; the first attribute read loads it."""

    def __init__(self, spec: importlib.machinery.ModuleSpec) -> None:
        super().__init__(spec.name)
        self.__spec__ = spec
        self.__path__ = list(spec.submodule_search_locations or [])
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:  # called only for names the stand-in does not have
        return getattr(self.real(), name)

    def real(self) -> types.ModuleType:
        """The real module, imported now if it is not yet; it replaces the stand-in everywhere."""
        with self._lock:
            if sys.modules.get(self.__name__) is self:
                del sys.modules[self.__name__]
            if self.__name__ not in sys.modules:  # also after withdraw(): nobody imported it since
                _bind(self.__name__, importlib.import_module(self.__name__))
        return sys.modules[self.__name__]

    def withdraw(self) -> None:
        """Leave sys.modules (when still there): a later import of the name is an ordinary one."""
        with self._lock:
            if sys.modules.get(self.__name__) is self:
                del sys.modules[self.__name__]


def _bind(name: str, module: types.ModuleType) -> None:
    """``module`` as the attribute of its parent package (what ``import a.b; a.b.x`` reads)."""
    parent = sys.modules.get(name.rpartition(".")[0])
    if parent is not None:
        setattr(parent, name.rpartition(".")[2], module)


def defer_invoke_yaml() -> None:
    """Make Invoke's vendored YAML load on first use; nothing when Invoke is loaded already (``inv``)."""
    if "invoke" in sys.modules or INVOKE_YAML in sys.modules:
        return
    invoke = importlib.util.find_spec("invoke")  # a top-level find: Invoke is not imported by it
    if invoke is None or not invoke.submodule_search_locations:
        return
    vendor = [str(Path(folder) / "vendor") for folder in invoke.submodule_search_locations]
    spec = importlib.machinery.PathFinder.find_spec(INVOKE_YAML, vendor)
    if spec is None:
        return
    sys.modules[INVOKE_YAML] = _Deferred(spec)


def defer_unittest_mock() -> None:
    """Make ``unittest.mock`` load when first used; nothing when it or Invoke is loaded already."""
    if "invoke" in sys.modules or UNITTEST_MOCK in sys.modules:
        return
    # Found without importing the package: ``unittest/__init__`` loads its case, result, loader,
    # runner and main modules (with argparse, difflib and pprint), some 6 ms that nothing else in
    # clikd's start-up needs. ``from unittest.mock import Mock`` takes the module from sys.modules
    # without importing its parent; the real import, on first use, imports the package as usual.
    unittest = importlib.util.find_spec("unittest")  # a top-level find: nothing is imported
    if unittest is None or not unittest.submodule_search_locations:
        return
    spec = importlib.machinery.PathFinder.find_spec(UNITTEST_MOCK, list(unittest.submodule_search_locations))
    if spec is None:
        return
    stand_in = _Deferred(spec)

    def mock(*args: Any, **kwargs: Any) -> Any:
        return stand_in.real().Mock(*args, **kwargs)

    stand_in.Mock = mock  # type: ignore[attr-defined]  # the one name Invoke reads at import
    sys.modules[UNITTEST_MOCK] = stand_in
    _bind(UNITTEST_MOCK, stand_in)  # only when the package is loaded already


def settle_unittest_mock() -> None:
    """Once Invoke is imported: the ``unittest.mock`` stand-in leaves sys.modules.

    Invoke holds its ``Mock`` (which still loads the real module when called). Were the stand-in
    left there, an ``import unittest.mock`` that loads the package afterwards would find it and not
    bind it to the package, so ``unittest.mock.patch`` would be an AttributeError.
    """
    stand_in = sys.modules.get(UNITTEST_MOCK)
    if isinstance(stand_in, _Deferred):
        stand_in.withdraw()
