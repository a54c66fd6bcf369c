"""env.status --inspect: db.inspect's per-store report in the snapshot (real servers, real numbers)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tasks.core.db import keydb, postgres
from tests.db.helpers import cql_count, cql_tables, pg_count, pg_tables
from tests.env.conftest import ROOT, TEST_CONFIG, Branches, base_env, clikd

pytestmark = pytest.mark.testbed
PROBE_ROWS = 7
PROBE_KEYS = 5
PROBE_OBJECT = 1234  # bytes


def _target(branch: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The branch's stores as clikd reaches them (the product's own endpoints and names)."""
    from tasks.core.db import target
    from tasks.core.session import Session

    monkeypatch.setenv("CLIKD_CONFIG", str(TEST_CONFIG))
    return target.for_session(Session(branch=branch, cwd=ROOT))


def _by(items: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    return {item[key]: item for item in items}


def test_status_inspect_reports_what_each_store_holds(
    branches: Branches, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from tasks.core.stores.s3 import transfer

    branch = branches.new()
    assert clikd("env.start", "--branch", branch).code == 0
    t = _target(branch, monkeypatch)
    with postgres.connect(t.postgres, t.database("main")) as conn:
        conn.execute("CREATE TABLE status_probe (id int PRIMARY KEY)")
        conn.execute(f"INSERT INTO status_probe SELECT generate_series(1, {PROBE_ROWS})".encode())
    kv = keydb.client(t.keydb)
    for n in range(PROBE_KEYS):
        kv.set(f"{t.prefix}probe:{n}", "x" * 1000)
    blob = tmp_path / "probe.bin"
    blob.write_bytes(b"\0" * PROBE_OBJECT)
    transfer.upload(t.object_store(), t.bucket, [("probe/one.bin", blob)])

    plain = clikd("env.status", "--branch", branch, "--json")
    assert plain.code == 0, plain.text
    assert plain.data["inspect"] is None  # only when asked for: it costs the snapshot 45-80 ms

    run = clikd("env.status", "--branch", branch, "--json", "--inspect")
    assert run.code == 0, run.text
    report = run.data["inspect"]
    assert report["branch"] == branch and 0 < report["seconds"] < 1.0
    stores = _by(report["stores"], "store")
    assert list(stores) == ["auth", "main", "scylla", "keydb", "s3"]
    assert all(s["error"] == "" and s["exists"] for s in stores.values()), stores
    files = t.migrations()

    for role in ("auth", "main"):
        s = stores[role]
        assert s["target"] == t.database(role)
        assert s["applied"] == s["total"] == len(files[role]) > 0
        assert s["version"] == max(m.version for m in files[role])
        tables = {x["name"]: x for x in s["tables"]}
        assert set(tables) == pg_tables(t, role) - {postgres.HISTORY}
        for name, table in tables.items():
            assert table["exact"] and table["rows"] == pg_count(t, role, name), name
            assert table["bytes"] > 0, name
    assert {x["name"]: x["rows"] for x in stores["main"]["tables"]}["status_probe"] == PROBE_ROWS

    cql = stores["scylla"]
    assert cql["target"] == t.keyspace and cql["applied"] == cql["total"] == len(files["scylla"])
    assert cql["version"] == max(m.version for m in files["scylla"])
    names = cql_tables(t) - {"clikd_migrations", "clikd_seed_state"}
    assert {x["name"]: x["rows"] for x in cql["tables"]} == {n: cql_count(t, n) for n in names}

    cache = stores["keydb"]
    keys = [k.decode() for k in kv.scan_iter(match=t.pattern, count=1000) if b":_clikd:" not in k]
    assert cache["keys"] == len(keys) and cache["uptime_s"] > 0
    assert cache["applied"] == cache["total"] == len(files["keydb"])
    probe = _by(cache["namespaces"], "name")["probe"]
    assert probe["keys"] == PROBE_KEYS and probe["bytes"] >= PROBE_KEYS * 1000 and probe["exact"]

    bucket = stores["s3"]
    held = _listing(t)
    assert bucket["target"] == t.bucket and bucket["keys"] == len(held)
    assert bucket["bytes"] == sum(held.values())
    assert _by(bucket["namespaces"], "name")["probe"] == {
        "name": "probe",
        "keys": 1,
        "bytes": PROBE_OBJECT,
        "exact": True,
    }

    # the same report db.inspect gives (its own run: the key counts and sizes agree)
    alone = clikd("db.inspect", "--branch", branch, "--json")
    assert alone.code == 0, alone.text
    again = _by(alone.data["stores"], "store")
    for name, s in stores.items():
        rows = [(x["name"], x["rows"]) for x in again[name]["tables"]]
        assert rows == [(x["name"], x["rows"]) for x in s["tables"]], name
        assert again[name]["keys"] == s["keys"] and again[name]["version"] == s["version"], name

    human = clikd("env.status", "--branch", branch, "--inspect", env=base_env(COLUMNS="200"))
    assert human.code == 0, human.text
    assert f"stores of branch {branch}" in human.out and "status_probe" in human.out
    assert "probe:*" in human.out and "taken" in human.out  # the dashboard, then the stores


def _listing(t: Any) -> dict[str, int]:
    """Every object of the branch's bucket with its size, read with the S3 client library."""
    from tasks.core.stores.s3 import buckets

    return {key: info.size for key, info in buckets.listing(t.object_store(), t.bucket).items()}


def test_status_inspect_reads_only_the_stores_that_answer(
    testbed: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # no stack: only the test bed's shared CQL server (and object store) answer the probes
    branch = "t/status-inspect-no-stack"
    run = clikd("env.status", "--branch", branch, "--json", "--inspect")
    assert run.code == 0, run.text
    healthy = {d["kind"] for d in run.data["databases"] if d["health"] == "healthy"}
    stores = _by(run.data["inspect"]["stores"], "store")
    for name, s in stores.items():
        kind = "postgres" if name in ("auth", "main") else name
        if kind in healthy:
            assert s["error"] == "" and not s["exists"], s  # read: the branch never created it
        else:
            assert "did not answer env.status's probe" in s["error"], s
    assert "scylla" in healthy and stores["scylla"]["total"] > 0


def test_status_inspect_reports_a_store_past_the_deadline(
    testbed: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from tasks.core.insight import run as insight_run
    from tasks.core.session import Session
    from tasks.core.stack import status_inspect

    monkeypatch.setenv("CLIKD_CONFIG", str(TEST_CONFIG))
    session = Session(branch="t/status-inspect-deadline", cwd=ROOT)
    # Each real reader held until the report is made: "past the deadline" by a hook, not by how fast
    # the shared servers answer (a missing keyspace can answer within a 0 s deadline).
    gate = threading.Event()
    real = insight_run.reader

    def held(*args: Any) -> Any:
        read = real(*args)

        def after_the_gate() -> Any:
            gate.wait(30)
            return read()

        return after_the_gate

    monkeypatch.setattr(insight_run, "reader", held)
    try:
        late = status_inspect.inspect(session, {"scylla", "s3"}, deadline_s=0.0)
    finally:
        gate.set()
        monkeypatch.setattr(insight_run, "reader", real)
    assert late is not None and late.seconds < 0.5
    errors = {s.store: s.error for s in late.stores}
    assert errors["scylla"] == "not read within 0 s: inv db.inspect --stores scylla waits for it"
    assert errors["s3"].startswith("not read within 0 s"), errors
    assert "did not answer env.status's probe" in errors["main"], errors
    on_time = status_inspect.inspect(session, {"scylla"})
    assert on_time is not None
    (cql,) = [s for s in on_time.stores if s.store == "scylla"]
    assert cql.error == "" and not cql.exists and cql.total > 0


def test_status_inspect_is_refused_with_watch(testbed: dict[str, Any]) -> None:
    run = clikd("env.status", "--watch", "--inspect", "--branch", "t/status-inspect-watch")
    assert run.code == 2, run.text
    assert "not every --watch frame" in run.err and "db.inspect shows what the stores hold" in run.err
