"""The clikd program raises the collector's young threshold for its start-up, and keeps it on."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import gc
import tasks.program
assert gc.isenabled(), "the collector is off: --watch and --follow would never collect a cycle"
assert gc.get_threshold()[0] == 50_000, gc.get_threshold()
print("ok")
"""


def test_the_collector_stays_on_with_a_larger_young_generation() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHECK], capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stdout + done.stderr
