"""Modules of libraries that clikd's start-up loads but almost never uses, loaded on first use instead.

Invoke imports its vendored PyYAML when it starts (about 30 ms of a no-op ``env.start`` on the test
machine), yet reads YAML only when an Invoke-level ``clikd.yaml`` file exists, which clikd's own
configuration (clikd.toml) does not need. A stand-in module takes the vendored module's place in
``sys.modules`` until something reads one of its attributes (``yaml.safe_load``); then the real module
is imported under its own name and answers from then on, so a YAML file is read exactly as before.
(The standard library's ``LazyLoader`` does not fit: Python 3.11's import machinery reads
``__spec__`` of the module on ``from .vendor import yaml``, which would load it at once.)
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


class _Deferred(types.ModuleType):
    """Stands for a module that is not loaded yet; the first attribute read loads it."""

    def __init__(self, spec: importlib.machinery.ModuleSpec) -> None:
        super().__init__(spec.name)
        self.__spec__ = spec
        self.__path__ = list(spec.submodule_search_locations or [])
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:  # called only for names the stand-in does not have
        with self._lock:
            if sys.modules.get(self.__name__) is self:
                del sys.modules[self.__name__]
                real = importlib.import_module(self.__name__)
                parent = sys.modules.get(self.__name__.rpartition(".")[0])
                if parent is not None:
                    setattr(parent, self.__name__.rpartition(".")[2], real)
        return getattr(sys.modules[self.__name__], name)


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
