"""Invoke's vendored YAML is loaded only when an Invoke-level YAML file is read, and then reads it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CHECK = """
import sys
import tasks.program
from tasks.core.deferred import INVOKE_YAML, _Deferred
assert isinstance(sys.modules[INVOKE_YAML], _Deferred), "loaded at start-up"
assert "invoke.vendor.yaml.scanner" not in sys.modules

from tasks.program import ClikdConfig
config = ClikdConfig(runtime_path=sys.argv[1])
config.load_runtime()
assert config.timeouts.command == 42, dict(config)
assert not isinstance(sys.modules[INVOKE_YAML], _Deferred), "the real module answers now"
print("ok")
"""


def test_the_yaml_module_loads_on_first_use_and_reads_invoke_config(tmp_path: Path) -> None:
    runtime = tmp_path / "clikd.yaml"
    runtime.write_text("timeouts:\n  command: 42\n")
    done = subprocess.run(
        [sys.executable, "-c", CHECK, str(runtime)], capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stdout + done.stderr


MOCK_CHECK = """
import sys
import tasks.program
from tasks.core.deferred import UNITTEST_MOCK
assert UNITTEST_MOCK not in sys.modules, "loaded at start-up (or its stand-in left behind)"
assert "unittest" not in sys.modules, "the unittest package (case, runner, argparse...) came along"
assert "asyncio" not in sys.modules, "unittest.mock's asyncio came along"

from invoke.context import MockContext  # Invoke's testing aid wraps run() in a Mock
assert MockContext(run={"ls": "a b"}).run("ls").stdout == "a b"
assert UNITTEST_MOCK in sys.modules, "the real module answers now"

import unittest.mock
assert unittest.mock.patch is sys.modules[UNITTEST_MOCK].patch
print("ok")
"""

# Something imports unittest.mock itself after start-up, before any MockContext: an ordinary
# import, bound to its package (the stand-in would have been returned unbound).
LATE_IMPORT_CHECK = """
import sys
import tasks.program
import unittest.mock
assert unittest.mock.patch is sys.modules["unittest.mock"].patch
from invoke.context import MockContext
assert MockContext(run={"ls": "a b"}).run("ls").stdout == "a b"
print("ok")
"""


def test_unittest_mock_loads_when_a_mock_context_first_needs_it() -> None:
    done = subprocess.run(
        [sys.executable, "-c", MOCK_CHECK], capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stdout + done.stderr


def test_unittest_mock_imported_after_start_up_is_the_real_module() -> None:
    done = subprocess.run(
        [sys.executable, "-c", LATE_IMPORT_CHECK], capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stdout + done.stderr
