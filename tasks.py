"""Entry point for ``inv``: serve the ``tasks/`` package's root collection.

Invoke's loader finds this file before the ``tasks/`` folder and imports it under the module name
``tasks``, which hides the package of the same name. Giving this module a ``__path__`` that points
at the folder turns it into that package's stand-in, so ``tasks.root`` and every ``tasks.core``
module import exactly as they do for the installed ``clikd`` console script: one import path for
both entry points, and no sys.path edits.
"""

from pathlib import Path

__path__ = [str(Path(__file__).resolve().parent / "tasks")]

from tasks.root import ns

__all__ = ["ns"]
