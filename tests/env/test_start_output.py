"""What env.start prints while it runs and after: one short line per pull, no repeated steps."""

from __future__ import annotations

import re

import pytest

from tests.env.conftest import Branches, base_env, clikd

pytestmark = pytest.mark.testbed


def test_start_prints_one_short_line_per_pull_and_each_step_once(branches: Branches) -> None:
    branch = branches.new()
    run = clikd("env.start", "--branch", branch, env=base_env(COLUMNS="80"))
    assert run.code == 0, run.text
    lines = run.text.splitlines()
    pulls = [ln for ln in lines if ln.lstrip().startswith("pulled ")]
    assert len(pulls) == 5, run.text  # the five service images of the test bed's registry
    for line in pulls:
        assert re.fullmatch(r"  pulled \S+ \((up to date|new image.*)\)", line), line
        assert "Status:" not in line and len(line) <= 80
    # no line is the wrapped tail of a pull line: each image appears on its pull line only
    assert not [ln for ln in lines if ln.strip().endswith(":latest")], run.text
    # progress goes to stderr as it happens; the summary on stdout does not repeat it
    for step in ("migrations:", "seeded "):
        shown = [ln for ln in lines if step in ln]
        assert len(shown) == 1 and step in run.err, f"{step!r} shown {len(shown)} times:\n{run.text}"
    assert "is up and healthy" in run.out
    assert not [ln for ln in run.out.splitlines() if ln.strip().startswith("created ")], run.out


def test_start_json_keeps_the_steps_it_showed_as_progress(branches: Branches) -> None:
    branch = branches.new()
    run = clikd("env.start", "--branch", branch, "--json")
    assert run.code == 0, run.text
    progress = run.data["progress"]
    assert any(p.startswith("migrations: ") for p in progress), progress
    assert any(p.startswith("seeded ") for p in progress), progress
    assert not any(n.startswith(("migrations:", "seeded ")) for n in run.data["notes"])
