"""Snapshots of the generated Clikd clients: a template or generator change shows up as a reviewable diff.

Update them with ``CLIKD_UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/gen/test_snapshots.py`` and commit the
result with the change that caused it.
"""

from __future__ import annotations

import difflib
import os
import shutil
from pathlib import Path

import pytest

from tasks.core.codegen.run import generate
from tasks.core.codegen.writer import STAMP, read_tree
from tasks.core.config.schema import Settings
from tests.gen.conftest import REPO

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"
UPDATE = os.environ.get("CLIKD_UPDATE_SNAPSHOTS") == "1"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("snap")
    generate(Settings(), REPO, ["swift", "kotlin", "typescript"], output=str(out), validate=False)
    return out


@pytest.mark.parametrize("language", ["swift", "kotlin", "typescript"])
def test_generated_clikd_client_matches_snapshot(generated: Path, language: str) -> None:
    actual = {k: v for k, v in read_tree(generated / language).items() if k != STAMP}
    snapshot = SNAPSHOTS / language
    if UPDATE:
        shutil.rmtree(snapshot, ignore_errors=True)
        for rel, data in actual.items():
            (snapshot / rel).parent.mkdir(parents=True, exist_ok=True)
            (snapshot / rel).write_bytes(data)
    expected = read_tree(snapshot)
    problems: list[str] = []
    for rel in sorted(expected.keys() | actual.keys()):
        if rel not in actual:
            problems.append(f"no longer generated: {rel}")
        elif rel not in expected:
            problems.append(f"new file: {rel}")
        elif expected[rel] != actual[rel]:
            diff = difflib.unified_diff(
                expected[rel].decode().splitlines(),
                actual[rel].decode().splitlines(),
                f"snapshot/{rel}",
                rel,
                lineterm="",
            )
            problems.append("\n".join(list(diff)[:40]))
    assert not problems, "\n".join(problems) + "\n(CLIKD_UPDATE_SNAPSHOTS=1 to accept)"
