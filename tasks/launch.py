"""The ``clikd`` console script: an everyday command goes to the warm clikd server, everything else runs here.

``env.start`` and ``env.status`` are what an engineer types many times an hour; handed to the server
(tasks/core/server), they skip loading Python's share of clikd. Everything else, and these two
whenever the server cannot take them, runs in this process through tasks/program.py, and such a
run starts a server in the background for the next time.
"""

from __future__ import annotations

import sys

SERVED = frozenset({"env.start", "env.status"})


def main() -> None:
    served = len(sys.argv) > 1 and sys.argv[1] in SERVED
    if served:
        import os

        from tasks.core.server import client

        served = client.wanted(os.environ)
        if served:
            code = client.run(sys.argv)
            if code is not None:
                # nothing of this process needs the interpreter's teardown (1-2 ms)
                sys.stderr.flush()
                sys.stdout.flush()
                os._exit(code)
    from tasks.program import main as run_here

    try:
        run_here()
    finally:
        if served:
            client.spawn()
