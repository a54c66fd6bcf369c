"""The per-branch record of a host-port block: read by every task, seen as a claim by other branches."""

from __future__ import annotations

from pathlib import Path

import pytest

from tasks.core.branch import PORT_BLOCK, identity
from tasks.core.ports import (
    block_of,
    forget_block,
    record_block,
    record_path,
    recorded_block,
    recorded_claims,
)


@pytest.fixture(autouse=True)
def _state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


def test_a_branch_without_a_record_uses_its_hashed_block_and_main_none() -> None:
    feat = identity("feat/x", project="clikd")
    assert recorded_block(feat) is None
    assert block_of(feat) == feat.port_block
    assert block_of(identity("main", project="clikd")) is None


def test_a_record_wins_until_it_is_forgotten() -> None:
    feat = identity("feat/x", project="clikd")
    assert feat.port_block is not None
    other = feat.port_block + PORT_BLOCK
    record_block(feat, other)
    assert block_of(feat) == other
    forget_block(feat)
    assert block_of(feat) == feat.port_block
    forget_block(feat)  # forgetting twice is fine


def test_claims_are_other_branches_records_of_any_project_and_skip_bad_files() -> None:
    mine = identity("feat/x", project="clikd")
    theirs = identity("feat/y", project="other")
    record_block(mine, 10000)
    record_block(theirs, 10020)
    (record_path(mine).parent / "broken.json").write_text("{not json")
    claims = recorded_claims(mine)
    assert claims == {10020: "branch 'feat/y' of clikd project 'other'"}
    assert recorded_claims(theirs) == {10000: "branch 'feat/x' of clikd project 'clikd'"}


def test_a_record_written_for_another_branch_name_is_ignored() -> None:
    """Two branch names can share a slug's file only if the slug collides; the name inside decides."""
    feat = identity("feat/x", project="clikd")
    record_path(feat).parent.mkdir(parents=True)
    record_path(feat).write_text('{"project": "clikd", "branch": "feat/other", "block": 10040}')
    assert recorded_block(feat) is None
