"""The suite's xdist groups hold: tests that share one test bed part run on one worker.

pytest 9.2 with pytest-xdist 3.8 silently stopped honouring ``xdist_group`` (pytest-xdist issue
#1386): the fault suite and the single sshd bastion were then shared by four workers and failed at
random. This runs a small suite the way the real one runs and fails if grouping is lost again.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

GROUPED = """
import os
import pytest

pytestmark = pytest.mark.xdist_group("one")


@pytest.mark.parametrize("n", range(8))
def test_records_its_worker(n):
    out = os.environ["GROUPS_OUT"]
    with open(os.path.join(out, str(n)), "w") as f:
        f.write(os.environ["PYTEST_XDIST_WORKER"])
"""


def test_grouped_tests_run_on_one_worker(tmp_path: Path) -> None:
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "pytest.ini").write_text("[pytest]\n")
    (suite / "test_grouped.py").write_text(GROUPED)
    out = tmp_path / "workers"
    out.mkdir()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            "-n",
            "2",
            "--dist",
            "loadgroup",
            "-c",
            str(suite / "pytest.ini"),
            str(suite),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=suite,
        env={**os.environ, "GROUPS_OUT": str(out)},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    workers = {p.read_text() for p in out.iterdir()}
    assert len(list(out.iterdir())) == 8
    assert len(workers) == 1, f"one group ran on {sorted(workers)}: xdist_group is not honoured"
