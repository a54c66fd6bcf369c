"""Host-port blocks: a new branch takes the first free block from its hash; a recorded one keeps it.

Every collision here is made on purpose: a second branch name found to hash onto the first one's
recorded block, or a socket this test binds in a branch's hashed block. Nothing depends on where a
random name happens to land (the test bed's own servers listen in the branch port range).
"""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.env.conftest import Branches, base_env, clikd, host_port, settings_for
from tests.env.test_interrupts import Pauses, Run, _no_paused_leftovers  # noqa: F401  (the fixture)

pytestmark = pytest.mark.testbed

BLOCK = 20


def _ident(branch: str) -> Any:
    from tasks.core.branch import identity

    return identity(branch, project=settings_for().project.name)


def _hashing_to(branches: Branches, block: int, label: str) -> str:
    """A new branch name whose hash lands on ``block`` (about 1138 names tried on average)."""
    for _ in range(200_000):
        name = f"t/{label}-{uuid.uuid4().hex[:10]}"
        if _ident(name).port_block == block:
            branches.made.append((name, base_env()))
            return name
    pytest.fail("no branch name hashed to the block")


def _free_hashed_branch(branches: Branches, label: str) -> str:
    """A new, unrecorded branch whose hashed block no branch claims and nothing listens in."""
    import docker

    from tasks.core.stack.holders import listening_inodes
    from tasks.core.stack.portclaim import claims

    client = docker.from_env()
    for _ in range(100):
        name = f"t/{label}-{uuid.uuid4().hex[:8]}"
        block = _ident(name).port_block
        if block not in claims(client, _ident(name)) and not listening_inodes(range(block, block + BLOCK)):
            branches.made.append((name, base_env()))
            return name
    pytest.fail("no free hashed block found in 100 names")


@contextlib.contextmanager
def _listening(ports: list[int]) -> Iterator[None]:
    with contextlib.ExitStack() as stack:
        for port in ports:
            sock = stack.enter_context(socket.socket())
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))
            sock.listen()
        yield


def _ports(run: Any) -> set[int]:
    return {p for c in run.data["components"] for p in c["host_ports"].values()}


def _block(port: int) -> int:
    from tasks.core.stack.portclaim import block_containing

    block = block_containing(port)
    assert block is not None
    return block


def test_a_branch_on_a_taken_block_moves_keeps_its_block_and_forgets_it_on_purge(branches: Branches) -> None:
    a = branches.new()
    home = _block(host_port(a, "keydb.main"))  # a's recorded block
    b = _hashing_to(branches, home, "same-block")

    ra = clikd("env.start", "--branch", a, "--only", "keydb", "--json")
    assert ra.code == 0, ra.text
    assert _ports(ra) == {home}  # keydb.main is the first port of the block

    rb = clikd("env.start", "--branch", b, "--only", "keydb", "--json")
    assert rb.code == 0, rb.text
    moved = _ports(rb)
    assert moved and not moved & set(range(home, home + BLOCK)), moved
    said = f"host ports {home}-{home + BLOCK - 1} are branch {a!r}"
    assert any(said in n for n in rb.data["notes"]), rb.data["notes"]

    # every task reads the recorded block: config.names and the port the tests' helper computes
    names = clikd("config.names", "--branch", b, "--json")
    assert names.code == 0, names.text
    assert set(names.data["host_ports"].values()) >= moved
    assert host_port(b, "keydb.main") in moved

    # a rerun keeps the block and changes nothing, even once the home block is free again
    stop_a = clikd("env.stop", "--branch", a, "--purge", "--yes", "--json")
    assert stop_a.code == 0, stop_a.text
    again = clikd("env.start", "--branch", b, "--only", "keydb", "--json")
    assert again.code == 0, again.text
    assert _ports(again) == moved and again.data["changed"] is False

    purge = clikd("env.stop", "--branch", b, "--purge", "--yes", "--json")
    assert purge.code == 0, purge.text
    assert host_port(b, "keydb.main") == home, "a purge forgets the recorded block"


def test_two_new_branches_of_one_block_starting_at_once_get_two_blocks(
    branches: Branches, tmp_path: Any
) -> None:
    """Both runs pass the block claim before either creates a container (held at the pull marker):
    each claim must see the other's record, not only its containers."""
    a = branches.new()
    home = _block(host_port(a, "keydb.main"))
    b, c = (_hashing_to(branches, home, f"same-block-race{i}") for i in range(2))
    pauses = Pauses(tmp_path / "pauses")
    args = ("env.start", "--only", "keydb", "--json")
    runs = [Run(*args, "--branch", n, env=pauses.env("pull")) for n in (b, c)]
    pauses.reached("pull", runs[0], count=2)
    pauses.go("pull")
    codes = [r.finish() for r in runs]
    assert codes == [0, 0], "\n---\n".join(r.text for r in runs)
    blocks = [_block(host_port(name, "keydb.main")) for name in (a, b, c)]
    assert len(set(blocks)) == 3, blocks
    assert blocks[0] == home, "the recorded branch keeps its block"
    for s in (clikd("env.status", "--branch", name, "--json") for name in (b, c)):
        assert s.code == 0, s.text


def test_a_new_branch_whose_hashed_block_has_a_listener_moves_and_says_who(branches: Branches) -> None:
    branch = _free_hashed_branch(branches, "listener")
    home = _ident(branch).port_block
    held = home + 7  # not a port keydb uses: any listener in the block moves a new branch
    with _listening([held]):
        run = clikd("env.start", "--branch", branch, "--only", "keydb", "--json")
    assert run.code == 0, run.text
    port = host_port(branch, "keydb.main")
    assert _ports(run) == {port} and not home <= port < home + BLOCK
    note = f"host ports {home}-{home + BLOCK - 1}: port {held} is held by process"
    assert any(note in n and f"pid {os.getpid()}" in n for n in run.data["notes"]), run.data["notes"]
    names = clikd("config.names", "--branch", branch, "--json")
    assert names.code == 0, names.text
    assert port in names.data["host_ports"].values()
    status = clikd("env.status", "--branch", branch, "--json")
    assert status.code == 0, status.text
    assert str(port) in status.out


def test_a_port_held_by_a_process_does_not_move_a_recorded_branch(branches: Branches) -> None:
    """Only another branch's claim moves a recorded branch; a foreign listener is named (exit 8)."""
    branch = branches.new()
    port = host_port(branch, "keydb.main")
    with _listening([port]):
        run = clikd("env.start", "--branch", branch, "--only", "keydb")
    assert run.code == 8, run.text
    assert f"port {port} is held by process" in run.text
    assert f"pid {os.getpid()}" in run.text
    assert host_port(branch, "keydb.main") == port


# ------------------------------------------------- the claim itself, in this process, on the real engine


@pytest.fixture
def claim(branches: Branches) -> Iterator[Any]:
    """claim_block for one new branch with a free hashed block; its record is forgotten afterwards."""
    import docker

    from tasks.core.ports import forget_block, recorded_block
    from tasks.core.stack.portclaim import claim_block

    ident = _ident(_free_hashed_branch(branches, "claim"))
    client = docker.from_env()

    def run() -> tuple[str | None, int | None]:
        return claim_block(client, ident), recorded_block(ident)

    run.ident = ident  # type: ignore[attr-defined]
    try:
        yield run
    finally:
        forget_block(ident)


@pytest.mark.parametrize("offset", range(BLOCK))
def test_a_listener_on_any_port_of_the_hashed_block_moves_a_new_branch(claim: Any, offset: int) -> None:
    home = claim.ident.port_block
    with _listening([home + offset]):
        note, block = claim()
    assert block is not None and block != home
    assert note is not None and f"port {home + offset} is held by process" in note, note
    assert f"now uses {block}-{block + BLOCK - 1}" in note


def test_every_port_of_the_block_taken_moves_a_new_branch_and_names_the_first(claim: Any) -> None:
    home = claim.ident.port_block
    with _listening(list(range(home, home + BLOCK))):
        note, block = claim()
    assert block is not None and not home <= block < home + BLOCK
    assert note is not None and f"port {home} is held by process" in note, note


def test_a_free_hashed_block_is_kept_and_a_recorded_block_is_not_moved_by_a_listener(claim: Any) -> None:
    home = claim.ident.port_block
    assert claim() == (None, home)
    with _listening([home + 3]):
        assert claim() == (None, home), "the port check names the holder; the claim keeps the block"
