"""The `clikd test` tests use the env tests' test bed pieces: its runner, unique branches, cleanup."""

from __future__ import annotations

from tests.env.conftest import branches, testbed

__all__ = ["branches", "testbed"]
