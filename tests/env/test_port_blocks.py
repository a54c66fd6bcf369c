"""Two branches whose names hash to one host-port block both start: the second moves and keeps it."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.env.conftest import Branches, base_env, clikd, host_port, settings_for
from tests.env.test_interrupts import Pauses, Run, _no_paused_leftovers  # noqa: F401  (the fixture)

pytestmark = pytest.mark.testbed


def _ident(branch: str) -> Any:
    from tasks.core.branch import identity

    return identity(branch, project=settings_for().project.name)


def _same_block(branches: Branches, branch: str, label: str) -> str:
    """A new branch name whose hash lands on ``branch``'s block (about 1138 names tried on average)."""
    wanted = _ident(branch).port_block
    for _ in range(200_000):
        name = f"t/{label}-{uuid.uuid4().hex[:10]}"
        if _ident(name).port_block == wanted:
            branches.made.append((name, base_env()))
            return name
    pytest.fail("no branch name hashed to the block")


def _ports(run: Any) -> set[int]:
    return {p for c in run.data["components"] for p in c["host_ports"].values()}


def test_a_branch_on_a_taken_block_moves_keeps_its_block_and_forgets_it_on_purge(branches: Branches) -> None:
    a = branches.new()
    b = _same_block(branches, a, "same-block")
    home = _ident(b).port_block
    assert home == _ident(a).port_block

    ra = clikd("env.start", "--branch", a, "--only", "keydb", "--json")
    assert ra.code == 0, ra.text
    assert _ports(ra) == {home}  # keydb.main is the first port of the block

    rb = clikd("env.start", "--branch", b, "--only", "keydb", "--json")
    assert rb.code == 0, rb.text
    moved = _ports(rb)
    assert moved and not moved & set(range(home, home + 20)), moved
    said = f"host ports {home}-{home + 19} are branch {a!r}"
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


def test_two_branches_of_one_block_starting_at_once_get_two_blocks(branches: Branches, tmp_path: Any) -> None:
    """Both runs pass the block claim before either creates a container (held at the pull marker):
    the claim must see the other's record, not only its containers."""
    a = branches.new()
    b = _same_block(branches, a, "same-block-race")
    pauses = Pauses(tmp_path / "pauses")
    args = ("env.start", "--only", "keydb", "--json")
    runs = [Run(*args, "--branch", n, env=pauses.env("pull")) for n in (a, b)]
    pauses.reached("pull", runs[0], count=2)
    pauses.go("pull")
    codes = [r.finish() for r in runs]
    assert codes == [0, 0], "\n---\n".join(r.text for r in runs)
    ports = [host_port(name, "keydb.main") for name in (a, b)]
    assert ports[0] != ports[1]
    assert _ident(a).port_block in ports, "one of the two keeps the hashed block"
    status = [clikd("env.status", "--branch", name, "--json") for name in (a, b)]
    for s in status:
        assert s.code == 0, s.text


def test_a_port_held_by_a_process_does_not_move_the_branch(branches: Branches) -> None:
    """Only another branch's claim moves a branch; a foreign listener is named (exit 8)."""
    import socket

    branch = branches.new()
    port = host_port(branch, "keydb.main")
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", port))
        holder.listen()
        run = clikd("env.start", "--branch", branch, "--only", "keydb")
    assert run.code == 8, run.text
    assert f"port {port} is held by process" in run.text
    assert host_port(branch, "keydb.main") == port
