"""Settings for every test session."""

from __future__ import annotations

import os
import signal

import pytest

# A shell that starts pytest in the background without job control (`nohup ... &` in a script)
# makes it ignore SIGINT, and every clikd a test starts would inherit that: the Ctrl+C tests would
# wait for an interrupt that cannot land. A handled signal is reset to the default at exec, so
# installing Python's own handler here gives the children the behaviour of a terminal.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# pytest-xdist workers get COLUMNS=80 and LINES=24 in their environment, and Rich believes those
# over the pseudo-terminal a test opens with its own size: a 24-line env.status --watch frame is
# cut, a menu wraps. Tests that want a width set it; everything else sees what a shell would.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.pop("COLUMNS", None)
    os.environ.pop("LINES", None)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Long tests and groups marked ``early`` first: xdist hands out work in collection order."""
    items.sort(key=lambda item: item.get_closest_marker("early") is None)
