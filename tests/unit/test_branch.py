"""Branch identity: every derived name is valid for its target, stable, and collision-free."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tasks.core.branch import (
    CQL_MAX,
    K8S_MAX,
    PG_MAX,
    PORT_BASE,
    PORT_BLOCK,
    PORT_BLOCKS,
    detect,
    glob_escape,
    identity,
)
from tasks.core.errors import UsageError

branches = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    min_size=1,
    max_size=300,
)
DOCKER_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
IDENT = re.compile(r"^[a-z][a-z0-9_]*$")


def all_names(branch: str) -> list[str]:
    ident = identity(branch)
    return [
        ident.container("postgres"),
        ident.network,
        ident.volume("postgres"),
        ident.postgres_db("auth"),
        ident.postgres_db("main"),
        ident.keyspace,
        ident.key_prefix,
        ident.namespace("clikd"),
        ident.bucket,
    ]


@settings(max_examples=400)
@given(branches)
def test_every_name_is_valid_for_its_target(branch: str) -> None:
    ident = identity(branch)
    for name in (ident.container("realtime"), ident.network, ident.volume("media", "uploads")):
        assert DOCKER_NAME.match(name), name
    for role in ("auth", "main"):
        db = ident.postgres_db(role)
        assert IDENT.match(db) and len(db.encode()) <= PG_MAX, db
    assert IDENT.match(ident.keyspace) and len(ident.keyspace) <= CQL_MAX
    namespace = ident.namespace("clikd")
    assert DNS_LABEL.match(namespace) and len(namespace) <= K8S_MAX, namespace
    # S3: 3-63 of [a-z0-9.-], starting and ending with a letter or digit (no dots: no IP look-alike)
    assert re.fullmatch(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]", ident.bucket), ident.bucket
    # The prefix holds exactly one ':' (its end), so no branch's keys look like another's namespace.
    assert ident.key_prefix.count(":") == 1 and ident.key_prefix.endswith(":")
    block = ident.port_block
    if branch != "main":
        assert block is not None and PORT_BASE <= block < PORT_BASE + PORT_BLOCK * PORT_BLOCKS
        # the whole block sits below the ephemeral ports (Linux from 32768), where a client
        # connection could take one of its ports between the pre-start check and Docker's bind
        assert block + PORT_BLOCK <= 32768


@settings(max_examples=400)
@given(branches, branches)
def test_different_branches_never_share_a_name(a: str, b: str) -> None:
    if a == b:
        assert all_names(a) == all_names(b)
        return
    for left, right in zip(all_names(a), all_names(b), strict=True):
        assert left != right, (a, b, left)


@given(branches)
def test_hash_suffix_only_when_the_name_had_to_change(branch: str) -> None:
    ident = identity(branch)
    if re.fullmatch(r"[a-z0-9]+", branch) and len(branch) <= 30 and not re.search(r"[0-9a-f]{10}$", branch):
        assert ident.keyspace == f"clikd_{branch}"
        assert ident.slug == branch


def test_names_look_like_the_plan_for_simple_branches() -> None:
    main = identity("main")
    assert main.postgres_db("auth") == "clikd_auth_main"
    assert main.postgres_db("main") == "clikd_main_main"
    assert main.keyspace == "clikd_main"
    assert main.key_prefix == "clikd_main:"
    assert main.bucket == "clikd-main" and identity("feat/x").bucket == identity("feat/x").network
    assert main.port_block is None
    assert identity("feat/x").is_main is False


def test_names_are_stable_across_processes() -> None:
    """Python's own hash() is salted per process; the derivation must not depend on it."""
    here = identity("feature/Über-lange Änderung").keyspace
    code = "from tasks.core.branch import identity; print(identity('feature/Über-lange Änderung').keyspace)"
    root = Path(__file__).resolve().parents[2]
    other = subprocess.run(
        [str(root / ".venv/bin/python"), "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert other.stdout.strip() == here
    assert here == "clikd_feature_ber_lange_nderung_d3387b451c"


def test_a_branch_that_looks_hashed_is_hashed_again() -> None:
    # Otherwise "x_0123456789" (valid as it is) could equal the hashed form of another branch.
    ident = identity("x_0123456789")
    assert ident.keyspace != "clikd_x_0123456789"


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("a*b", r"a\*b"),
        ("a?b", r"a\?b"),
        ("[x]", r"\[x\]"),
        ("a\\b", r"a\\b"),
        ("^x", r"\^x"),
        ("plain", "plain"),
    ],
)
def test_glob_escape(text: str, escaped: str) -> None:
    assert glob_escape(text) == escaped


def test_empty_branch_is_refused() -> None:
    with pytest.raises(UsageError):
        identity("")


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def test_detect_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLIKD_BRANCH", raising=False)
    outside = tmp_path / "plain"
    outside.mkdir()
    source = detect(outside)
    assert (source.name, source.origin) == ("main", "no-repo")
    assert source.note and "not in a git repository" in source.note

    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "feat/unborn")
    source = detect(repo)
    assert (source.name, source.origin) == ("feat/unborn", "unborn")

    _git(repo, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "--allow-empty", "-m", "one")
    assert detect(repo).name == "feat/unborn"
    assert detect(repo).origin == "git"
    _git(repo, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "--allow-empty", "-m", "two")
    _git(repo, "checkout", "-q", "HEAD~1")
    source = detect(repo)
    assert source.origin == "detached" and source.name.startswith("detached-")

    monkeypatch.setenv("CLIKD_BRANCH", "from-env")
    assert detect(repo).name == "from-env"
    assert detect(repo, flag="from-flag").name == "from-flag"
