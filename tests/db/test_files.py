"""The pieces that need no server: statement splitting, file names, checksums, templates, plans."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tasks.core.db import sqlsplit
from tasks.core.db.files import MigrationFileError, Source, checksum, load, new_migration
from tasks.core.db.models import Applied, plan

REPO = Path(__file__).resolve().parents[2]


def test_split_keeps_semicolons_inside_strings_bodies_and_comments() -> None:
    text = (
        "-- a comment; not a statement\n"
        "CREATE TABLE a (x text DEFAULT 'a;b''c');\n"
        "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $body$ BEGIN RETURN 1; END; $body$;\n"
        '/* block; /* nested; */ still */ SELECT "odd;name" FROM a;\n'
        "SELECT E'back\\\\slash\\'; still string';\n"
        "\n-- trailing comment only\n"
    )
    statements = sqlsplit.split(text)
    assert [s.line for s in statements] == [2, 3, 4, 5]
    assert statements[1].text.endswith("$body$")
    assert statements[2].text.endswith('"odd;name" FROM a')
    assert sqlsplit.split("SELECT 1 // not a comment in SQL;", cql=False)[0].text.endswith("in SQL")
    assert len(sqlsplit.split("// a CQL comment; here\nSELECT 1;", cql=True)) == 1


@given(st.lists(st.text(alphabet="abc xyz'();$-\n", max_size=30), max_size=8))
def test_split_never_loses_or_invents_text(parts: list[str]) -> None:
    text = "".join(parts)
    for statement in sqlsplit.split(text):
        assert statement.text in text
        assert statement.text.strip()


def test_checksum_ignores_line_endings_and_bom_only() -> None:
    assert checksum("a\nb\n") == checksum("a\r\nb\r\n") == checksum("\ufeffa\rb\r")
    assert checksum("a\nb\n") != checksum("a\nb \n")


def test_load_refuses_misnamed_files_and_duplicate_versions(tmp_path: Path) -> None:
    folder = tmp_path / "migrations/postgres/main"
    folder.mkdir(parents=True)
    (folder / "20260101000000_ok.sql").write_text("SELECT 1;")
    assert [m.description for m in load(Source(tmp_path), "main")] == ["ok"]
    (folder / "create_users.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationFileError, match="not named like a migration"):
        load(Source(tmp_path), "main")
    (folder / "create_users.sql").unlink()
    (folder / "20260101000000_again.sql").write_text("SELECT 2;")
    with pytest.raises(MigrationFileError, match="share the version"):
        load(Source(tmp_path), "main")


def test_new_migration_stays_last_even_with_a_clock_behind(tmp_path: Path) -> None:
    first = new_migration(
        tmp_path, "scylla", "Reactions per drop!", now=dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
    )
    assert first.name == "20270101000000_reactions_per_drop.cql"
    second = new_migration(tmp_path, "scylla", "later", now=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    assert second.name == "20270101000001_later.cql"
    assert "IF NOT EXISTS" in first.read_text()


def test_plan_states() -> None:
    migrations = load(Source(REPO), "auth")
    first, second = migrations[0], migrations[1]
    history = {
        first.version: Applied(first.version, "x", first.checksum, None, 1.0),
        second.version: Applied(second.version, "x", b"other", None, 1.0),
        1: Applied(1, "gone", b"", None, 1.0),
    }
    states = {s.version: s for s in plan("auth", migrations, history)}
    assert states[first.version].state == "applied"
    assert states[second.version].state == "drift"
    assert states[1].state == "missing"
    assert all(states[m.version].state == "pending" for m in migrations[2:])
    history = {
        migrations[-1].version: Applied(migrations[-1].version, "x", migrations[-1].checksum, None, 1.0)
    }
    assert all(s.out_of_order for s in plan("auth", migrations, history) if s.state == "pending")


def test_the_repository_migrations_load() -> None:
    for store in ("auth", "main", "scylla", "keydb"):
        assert load(Source(REPO), store), store
    no_tx = [m for m in load(Source(REPO), "main") if not m.transactional]
    assert [m.description for m in no_tx] == ["drops published index"]
