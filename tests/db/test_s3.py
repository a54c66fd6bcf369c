"""The object store (kind = "s3") against the test bed's SeaweedFS: seeds, reset, dump/restore,
branch, diff, inspect, flush and connect, each on the branch's own bucket and never another's."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import pytest

from tasks.core.stores.s3 import buckets
from tasks.core.stores.s3.client import connect
from tests.db.conftest import Branches, Project

SEED = Path(__file__).resolve().parents[2] / "seeds" / "s3"


def _seed_objects() -> dict[str, int]:
    return {p.relative_to(SEED).as_posix(): p.stat().st_size for p in SEED.rglob("*") if p.is_file()}


def _objects(t: Any) -> dict[str, int]:
    return {k: o.size for k, o in buckets.listing(t.object_store(), t.bucket).items()}


def _put(t: Any, key: str, data: bytes) -> None:
    buckets.ensure(t.object_store(), t.bucket)
    connect(t.object_store()).put_object(t.bucket, key, io.BytesIO(data), len(data))


def _read(t: Any, key: str) -> bytes:
    response = connect(t.object_store()).get_object(t.bucket, key)
    try:
        return bytes(response.read())
    finally:
        response.close()
        response.release_conn()


def test_reset_seeds_the_branch_bucket_and_drops_what_was_added(project: Project, branches: Branches) -> None:
    branch, other = branches.new(), branches.new("other")
    t, o = project.target(branch), project.target(other)
    assert t.bucket != o.bucket and t.bucket.startswith("clikd-")
    _put(o, "keep/me.txt", b"other branch")

    done = project.inv("db.reset", "--yes", "--json", branch=branch)
    assert done.returncode == 0, done.stderr
    seeded = _seed_objects()
    assert len(seeded) == 320 and _objects(t) == seeded
    first = sorted(seeded)[0]
    assert _read(t, first) == (SEED / first).read_bytes()
    report = {s["store"]: s for s in json.loads(done.stdout)["stores"]}
    assert report["s3"]["target"] == t.bucket and "put 320 seed object(s)" in report["s3"]["how"]

    _put(t, "uploads/new.bin", b"x" * 1000)
    done = project.inv("db.reset", "--yes", "--stores", "s3", "--no-seed", branch=branch)
    assert done.returncode == 0, done.stderr
    assert _objects(t) == {}
    assert _objects(o) == {"keep/me.txt": 12}  # the other branch's bucket is untouched


def test_dump_and_restore_keep_every_object_and_odd_keys(
    project: Project, branches: Branches, tmp_path: Path
) -> None:
    branch, into = branches.new(), branches.new("into")
    t, i = project.target(branch), project.target(into)
    assert project.inv("db.reset", "--yes", branch=branch).returncode == 0
    odd = {
        "odd key ü %2F?&.txt": b"not a path",
        "a/b/c/" + "long" * 60 + ".bin": bytes(range(256)) * 40,
        "top": b"",
    }
    for key, data in odd.items():
        _put(t, key, data)
    _put(i, "stale.txt", b"goes away")

    out = tmp_path / "dump"
    done = project.inv("db.dump", "--output", str(out), "--json", branch=branch)
    assert done.returncode == 0, done.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["stores"]["s3"] == {
        "bucket": t.bucket,
        "objects": 323,
        "bytes": sum(_seed_objects().values()) + sum(len(v) for v in odd.values()),
    }
    assert sorted(p.name for p in (out / "s3").iterdir())[-1] == "index.jsonl"  # keys never become paths

    done = project.inv("db.restore", str(out), "--yes", branch=into)
    assert done.returncode == 0, done.stderr
    assert _objects(i) == _objects(t)
    assert "stale.txt" not in _objects(i)
    for key, data in odd.items():
        assert hashlib.sha256(_read(i, key)).digest() == hashlib.sha256(data).digest(), key


def test_branch_copies_the_bucket_and_diff_names_objects(project: Project, branches: Branches) -> None:
    source, copy = branches.new("src"), branches.new("copy")
    s, c = project.target(source), project.target(copy)
    assert project.inv("db.reset", "--yes", branch=source).returncode == 0
    assert project.inv("db.reset", "--yes", "--no-seed", branch=copy).returncode == 0
    _put(s, "drops/1/clip.mp4", b"0" * 2048)

    done = project.inv("db.branch", "--from", source, "--yes", "--json", branch=copy)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["stores"]["s3"] == f"321 object(s) copied from {s.bucket}"
    assert _objects(c) == _objects(s)

    _put(c, "uploads/only-here.png", b"p" * 10)
    _put(c, "drops/1/clip.mp4", b"1" * 4096)
    connect(c.object_store()).remove_object(c.bucket, sorted(_seed_objects())[0])
    done = project.inv("db.diff", "--branch", source, "--json", branch=copy)
    assert done.returncode == 0, done.stderr
    changes = {(x["op"], x["name"]) for x in json.loads(done.stdout)["changes"] if x["store"] == "s3"}
    assert changes == {
        ("+", "uploads/only-here.png"),
        ("~", "drops/1/clip.mp4"),
        ("-", sorted(_seed_objects())[0]),
    }
    assert _objects(s)["drops/1/clip.mp4"] == 2048  # the source is read, never written


def test_inspect_and_flush_cover_the_bucket(project: Project, branches: Branches) -> None:
    branch, other = branches.new(), branches.new("other")
    t, o = project.target(branch), project.target(other)
    assert project.inv("db.reset", "--yes", branch=branch).returncode == 0
    _put(t, "README", b"top level")
    _put(o, "avatars/foreign.svg", b"<svg/>")

    done = project.inv("db.inspect", "--json", branch=branch)
    assert done.returncode == 0, done.stderr
    s3 = {s["store"]: s for s in json.loads(done.stdout)["stores"]}["s3"]
    seeded = _seed_objects()
    assert s3["exists"] and s3["target"] == t.bucket and s3["keys"] == 321
    assert s3["bytes"] == sum(seeded.values()) + 9
    prefixes = {n["name"]: (n["keys"], n["bytes"]) for n in s3["namespaces"]}
    assert prefixes == {"avatars": (320, sum(seeded.values())), "(top)": (1, 9)}
    human = project.inv("db.inspect", "--stores", "s3", branch=branch)
    assert human.returncode == 0 and "321 object(s)" in human.stdout and "avatars/" in human.stdout

    refused = project.inv("db.flush", "--stores", "s3", branch=branch)
    assert refused.returncode == 4 and len(_objects(t)) == 321  # asks first; nothing lost
    done = project.inv("db.flush", "--stores", "s3", "--yes", "--json", branch=branch)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["deleted"] == 321 and _objects(t) == {}
    assert _objects(o) == {"avatars/foreign.svg": 6}
    both = project.inv("db.flush", "--stores", "keydb,s3", "--yes", branch=branch)
    assert both.returncode == 2 and "one store per run" in both.stderr

    info = project.inv("db.connect", "s3", "--json", branch=branch)
    assert info.returncode == 0, info.stderr
    facts = json.loads(info.stdout)
    assert facts["name"] == t.bucket and facts["url"].endswith("/" + t.bucket)
    assert t.object_store().password not in info.stdout


def test_a_wrong_secret_and_a_server_away_are_named(project: Project, branches: Branches) -> None:
    branch = branches.new()
    config = project.root / "clikd.toml"
    text = config.read_text()
    s3 = project.target(branch).object_store()
    config.write_text(text.replace(f'password = "{s3.password}"', 'password = "not-the-secret"'))
    done = project.inv("db.reset", "--yes", "--stores", "s3", branch=branch)
    assert done.returncode == 3, done.stderr
    assert "refused the keys" in done.stderr and "databases.s3.user" in done.stderr
    assert "Traceback" not in done.stderr

    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        free = sock.getsockname()[1]
    config.write_text(text.replace(f"port = {s3.port}", f"port = {free}"))
    done = project.inv("db.inspect", "--stores", "s3", "--json", branch=branch)
    assert done.returncode == 5
    s = json.loads(done.stdout)["stores"][0]
    assert not s["exists"] and f"does not answer at http://127.0.0.1:{free}" in s["error"]


def test_a_project_without_an_object_store_says_so(project: Project, branches: Branches) -> None:
    branch = branches.new()
    config = project.root / "clikd.toml"
    config.write_text(config.read_text().split("[databases.s3]")[0])
    done = project.inv("db.flush", "--stores", "s3", "--yes", branch=branch)
    assert done.returncode == 2 and "no object store is configured" in done.stderr, done.stderr
    assert 'kind = "s3"' in done.stderr  # the hint says how to add one
    inspected = project.inv("db.inspect", "--json", branch=branch)
    assert inspected.returncode == 0, inspected.stderr
    assert [s["store"] for s in json.loads(inspected.stdout)["stores"]] == ["auth", "main", "scylla", "keydb"]
    migrate = project.inv("db.migrate", "--stores", "s3", branch=branch)
    assert migrate.returncode == 2 and "store 's3' has no migrations" in " ".join(migrate.stderr.split())


def test_the_light_reads_agree_with_the_client(project: Project, branches: Branches) -> None:
    """env.status's and env.start's signed requests (wire.py) against the same server as minio."""
    from dataclasses import replace

    from tasks.core.stores.s3 import transfer, wire

    t = project.target(branches.new())
    ep = t.object_store()
    assert wire.bucket_exists(ep, t.bucket) is False and wire.bucket_stats(ep, t.bucket) is None
    buckets.ensure(ep, t.bucket)
    files = transfer.seed_files(project.root)[:23]
    transfer.upload(ep, t.bucket, files)
    _put(t, "odd key ü +&=?.bin", b"z" * 77)
    assert wire.bucket_exists(ep, t.bucket) is True
    expected = buckets.stats(ep, t.bucket)
    assert expected == (24, sum(p.stat().st_size for _, p in files) + 77)
    assert wire.bucket_stats(ep, t.bucket) == expected
    assert wire.bucket_stats(ep, t.bucket, page=5) == expected  # five pages and a continuation token each
    wrong = replace(ep, password="not-the-secret")
    with pytest.raises(wire.WireError, match="SignatureDoesNotMatch"):
        wire.bucket_stats(wrong, t.bucket)
    with pytest.raises(wire.WireError, match="403"):
        wire.bucket_exists(wrong, t.bucket)
