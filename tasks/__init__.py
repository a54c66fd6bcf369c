"""clikd: the Clikd development CLI as an Invoke task collection.

The root collection lives in :mod:`tasks.root`; the namespace modules (``env``, ``db``, ``gen``,
``deploy``) are thin layers over the core library in :mod:`tasks.core`.
"""

__version__ = "0.1.0"
