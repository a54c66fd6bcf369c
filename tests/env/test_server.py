"""The warm clikd server (tasks/core/server): a served command is the same command, only sooner.

Each test has its own server (its own XDG_RUNTIME_DIR, so its own socket and log) and tells served
runs from in-process ones by the server's log, which names every command it forked. Every wait
is for an event (a line of output, a log line, a process gone), bounded by a generous deadline.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import signal
import struct
import subprocess
import termios
import threading
from pathlib import Path

import pytest

from tests.env.conftest import CLIKD, ROOT, Branches
from tests.env.serving import WAIT, Served, gone, until

pytestmark = [pytest.mark.testbed, pytest.mark.xdist_group("server")]

SOURCE = ROOT / "tasks" / "core" / "server" / "paths.py"  # a module every server has loaded


def test_a_served_command_answers_as_the_program_does(served: Served, tmp_path: Path) -> None:
    served.start()
    cases = [
        (("env.start", "--bogus"), {}, ROOT),  # usage error: exit 2, stderr only
        (("env.status",), {"CLIKD_CONFIG": "missing/clikd.toml"}, tmp_path),  # resolved against the cwd
        (("env.status",), {"CLIKD_CONFIG": "/elsewhere/clikd.toml"}, ROOT),  # the caller's environment
    ]
    answers = []
    for args, extra, cwd in cases:
        here = served.run(*args, cwd=cwd, CLIKD_SERVER="0", **extra)
        before = len(served.commands())
        there = served.run(*args, cwd=cwd, **extra)
        assert len(served.commands()) == before + 1, served.log()  # it really went to the server
        assert (there.returncode, there.stdout, there.stderr) == (here.returncode, here.stdout, here.stderr)
        answers.append(there)
    assert [a.returncode for a in answers] == [2, 3, 3]
    assert str(tmp_path / "missing" / "clikd.toml") in answers[1].stderr
    assert "/elsewhere/clikd.toml" in answers[2].stderr


def test_the_caller_s_environment_replaces_the_server_s(served: Served, tmp_path: Path) -> None:
    # The server was started by a caller with CLIKD_CONFIG set; a caller without it must not get it.
    served.env["CLIKD_CONFIG"] = "/elsewhere/clikd.toml"
    served.start()
    env = {k: v for k, v in served.env.items() if k != "CLIKD_CONFIG"}

    def run(**extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(CLIKD), "env.status"],
            check=False,
            cwd=tmp_path,
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=300,
        )

    here = run(CLIKD_SERVER="0")
    before = len(served.commands())
    there = run()
    told = run(CLIKD_CONFIG="/elsewhere/clikd.toml")  # the same variable given: it is used
    assert len(served.commands()) == before + 2, served.log()
    assert there.returncode == here.returncode
    assert there.stderr.splitlines()[:1] == here.stderr.splitlines()[:1], (there.stderr, here.stderr)
    assert "/elsewhere" not in there.stderr + there.stdout
    assert told.returncode == 3 and "/elsewhere/clikd.toml" in told.stderr, told.stderr


def test_the_served_commands_import_nothing_the_server_had_not(served: Served, branches: Branches) -> None:
    # What a served command imports itself it pays for on every run: the server preloads it all.
    branch = branches.new(served.env)
    served.start()
    assert served.run("env.start", "--branch", branch).returncode == 0
    for args in (("env.status",), ("env.status", "--json"), ("env.start",), ("env.start", "--json")):
        before = len(served.commands())
        done = served.run(*args, "--branch", branch)
        assert done.returncode == 0, done.stderr
        pid, task = served.commands()[before]
        assert task == args[0]
        noted = until(
            f"pid {pid}'s imports in the log",
            lambda pid=pid: re.search(rf"pid {pid}: imported (\d+) module\(s\)[^\n]*", served.log()),
        )
        assert isinstance(noted, re.Match)
        assert noted.group(1) == "0", f"{' '.join(args)}: {noted.group(0)}"


def _in_a_terminal(served: Served, *args: str, **extra: str) -> bytes:
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [str(CLIKD), *args],
        env={**served.env, "COLUMNS": "100", **extra},
        stdin=follower,
        stdout=follower,
        stderr=follower,
    )
    os.close(follower)
    out = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: every writer has closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(leader)
    assert proc.wait(timeout=WAIT) == 3
    return out


def test_a_terminal_stays_a_terminal(served: Served) -> None:
    served.start()
    here = _in_a_terminal(served, "env.status", CLIKD_SERVER="0", CLIKD_CONFIG="/nowhere/clikd.toml")
    before = len(served.commands())
    there = _in_a_terminal(served, "env.status", CLIKD_CONFIG="/nowhere/clikd.toml")
    assert len(served.commands()) == before + 1
    assert b"\x1b[" in there  # Rich saw a terminal and coloured the error
    assert there == here


class Watch:
    """``env.status --watch`` in a terminal (Rich draws frames only there), its output read as it comes."""

    def __init__(self, served: Served, branch: str) -> None:
        leader, follower = pty.openpty()
        # tall enough for the whole frame: Rich crops a frame to the terminal, from its last line
        fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 200, 120, 0, 0))
        self.proc = subprocess.Popen(
            [str(CLIKD), "env.status", "--branch", branch, "--watch"],
            env={**served.env, "COLUMNS": "120"},
            stdin=follower,
            stdout=follower,
            stderr=follower,
        )
        os.close(follower)
        self.leader = leader
        self.out = b""
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        until(
            "the first frame of env.status --watch",
            lambda: b"taken " in self.output() or self.proc.poll() is not None,
        )
        assert self.proc.poll() is None, self.output().decode(errors="replace")

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.leader, 65536)
            except OSError:  # EIO: every writer has closed the terminal
                return
            if not chunk:
                return
            with self.lock:
                self.out += chunk

    def output(self) -> bytes:
        with self.lock:
            return self.out

    def finish(self) -> int:
        code = self.proc.wait(timeout=WAIT)
        self.reader.join(timeout=WAIT)
        os.close(self.leader)
        return code


def test_ctrl_c_reaches_the_command_and_its_status_comes_back(served: Served) -> None:
    served.start()
    codes = []
    for switch in ("0", "1"):
        served.env["CLIKD_SERVER"] = switch
        watch = Watch(served, "server-watch")
        watch.proc.send_signal(signal.SIGINT)
        codes.append(watch.finish())
    (pid, task) = served.commands()[-1]
    assert task == "env.status"
    until(f"the served command {pid} to end", lambda: gone(pid))
    assert codes == [0, 0]  # Ctrl+C is the normal end of env.status --watch, served or not


def test_a_killed_caller_takes_its_command_with_it(served: Served) -> None:
    served.start()
    watch = Watch(served, "server-watch")
    (pid, _) = served.commands()[-1]
    assert not gone(pid)
    watch.proc.kill()  # SIGKILL cannot be passed on; the command sees its caller go
    watch.proc.wait(timeout=WAIT)
    until(f"the orphaned command {pid} to end", lambda: gone(pid))
    before = len(served.commands())
    assert served.run("env.start", "--bogus").returncode == 2  # the server goes on serving
    assert len(served.commands()) == before + 1


def test_changed_code_makes_the_server_step_down(served: Served) -> None:
    first = served.start()
    loaded = SOURCE.stat()
    try:
        os.utime(SOURCE, ns=(loaded.st_atime_ns, loaded.st_mtime_ns + 1_000_000_000))
        before = len(served.commands())
        done = served.run("env.start", "--bogus")
        assert done.returncode == 2 and "unknown flag '--bogus'" in done.stderr  # answered in-process
        assert len(served.commands()) == before
        assert f"stepping down: {SOURCE} changed" in served.log()
        until("the old server to exit", lambda: gone(first))
        until("a new server", lambda: len(served.servers()) == 2 and list(served.folder.glob("*.sock")))
        assert served.run("env.start", "--bogus").returncode == 2
        assert served.commands()[-1][1] == "env.start"
        assert len(served.commands()) == before + 1
    finally:
        os.utime(SOURCE, ns=(loaded.st_atime_ns, loaded.st_mtime_ns))


def test_sigterm_lets_running_commands_finish(served: Served) -> None:
    server = served.start()
    watch = Watch(served, "server-watch")
    os.kill(server, signal.SIGTERM)
    until("the step-down", lambda: "stepping down: SIGTERM" in served.log())
    assert not list(served.folder.glob("*.sock"))  # no new command goes to it
    assert not gone(server)  # it still owes the running command its status
    watch.proc.send_signal(signal.SIGINT)
    assert watch.finish() == 0, watch.output()[-600:]  # leaving the watch is its normal end
    until("the server to exit", lambda: gone(server))
    assert "exiting after 1 command(s)" in served.log()


def test_an_idle_server_exits(served: Served) -> None:
    served.env["CLIKD_SERVER_IDLE"] = "0.5"
    server = served.start()
    until("the idle server to exit", lambda: gone(server))
    assert "stepping down: idle for 0.5 s" in served.log()
    assert not list(served.folder.glob("*.sock"))


def test_the_switch_turns_it_off(served: Served) -> None:
    served.env["CLIKD_SERVER"] = "0"
    assert served.run("env.start", "--bogus").returncode == 2
    assert served.run("env.status", "--bogus").returncode == 2
    assert not served.folder.exists() or not list(served.folder.iterdir())  # none started, none asked


def test_stop_asks_the_server_to_step_down(served: Served) -> None:
    server = served.start()
    asked = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "-m", "tasks.core.server.daemon", "--stop"],
        env=served.env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert f"asked the clikd server (pid {server}) to step down" in asked.stdout
    until("the server to exit", lambda: gone(server))
    again = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "-m", "tasks.core.server.daemon", "--stop"],
        env=served.env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "no clikd server runs" in again.stdout
