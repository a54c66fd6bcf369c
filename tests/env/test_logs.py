"""env.logs filters, export and follow, and env.list / env.prune, on the test bed."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.env.conftest import CLIKD, ROOT, Branches, base_env, clikd, write_config

pytestmark = pytest.mark.testbed


@pytest.fixture
def chatty(branches: Branches, tmp_path: Path) -> tuple[str, dict[str, str]]:
    def change(tree: dict[str, Any]) -> None:
        tree["services"]["auth"]["environment"]["CLIKD_REF_LOG_RATE"] = "20"

    env = base_env(write_config(tmp_path / "clikd.toml", change))
    branch = branches.new(env)
    run = clikd("env.start", "--branch", branch, "--only", "auth", env=env)
    assert run.code == 0, run.text
    time.sleep(2.5)  # let it write a few dozen lines
    return branch, env


def test_logs_filters(chatty: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    branch, env = chatty
    every = clikd("env.logs", "--branch", branch, "--json", env=env)
    assert every.code == 0, every.text
    lines = [json.loads(ln) for ln in every.out.splitlines()]
    assert {ln["service"] for ln in lines} == {"auth", "postgres"}
    assert [ln["ts"] for ln in lines] == sorted(ln["ts"] for ln in lines)
    assert {"DEBUG", "INFO", "WARN", "ERROR"} <= {ln["level"] for ln in lines}

    tail = clikd("env.logs", "--branch", branch, "--service", "auth", "--tail", "5", env=env)
    assert tail.code == 0 and len(tail.out.splitlines()) == 5
    assert all(ln.startswith("auth |") for ln in tail.out.splitlines())

    errors = clikd("env.logs", "--branch", branch, "--service", "auth", "--level", "error", "--json", env=env)
    got = [json.loads(ln) for ln in errors.out.splitlines()]
    assert got and {ln["level"] for ln in got} == {"ERROR"}
    assert any(ln["message"].startswith("{") for ln in got) and any(
        "plain-text error" in ln["message"] for ln in got
    )

    warn_up = clikd(
        "env.logs", "--branch", branch, "--service", "auth", "--level", "warn", "--tail", "8", env=env
    )
    assert len(warn_up.out.splitlines()) == 8
    assert all((" WARN " in ln or " ERROR " in ln) for ln in warn_up.out.splitlines())

    grep = clikd("env.logs", "--branch", branch, "--grep", "heart(beat)?", "--json", env=env)
    assert all("heartbeat" in json.loads(ln)["message"] for ln in grep.out.splitlines())
    assert grep.out.splitlines()

    recent = clikd("env.logs", "--branch", branch, "--service", "auth", "--since", "1s", "--json", env=env)
    assert 0 < len(recent.out.splitlines()) < len([ln for ln in lines if ln["service"] == "auth"])

    target = tmp_path / "auth.jsonl"
    export = clikd(
        "env.logs", "--branch", branch, "--service", "auth", "--tail", "12", "--export", str(target), env=env
    )
    assert export.code == 0
    exported = [json.loads(ln) for ln in target.read_text().splitlines()]
    assert len(exported) == 12 and set(exported[0]) == {"ts", "service", "level", "message"}
    plain = tmp_path / "auth.log"
    clikd("env.logs", "--branch", branch, "--service", "auth", "--tail", "3", "--export", str(plain), env=env)
    assert all(ln.startswith("auth | ") for ln in plain.read_text().splitlines())

    bad = clikd("env.logs", "--branch", branch, "--service", "nope", env=env)
    assert bad.code == 2 and "no container for nope" in bad.text
    assert clikd("env.logs", "--branch", branch, "--level", "loud", env=env).code == 2


def test_logs_follow_streams_new_lines_until_ctrl_c(chatty: tuple[str, dict[str, str]]) -> None:
    import threading

    branch, env = chatty
    proc = subprocess.Popen(
        [
            str(CLIKD),
            "env.logs",
            "--branch",
            branch,
            "--follow",
            "--service",
            "auth",
            "--tail",
            "0",
            "--json",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[dict[str, Any]] = []
    first = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            lines.append(json.loads(raw))
            first.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert first.wait(60), "no line arrived while following"
    time.sleep(3)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=15)
    reader.join(timeout=5)
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
    assert len(lines) >= 20, f"only {len(lines)} lines in 3s at 20 lines/s"
    assert [ln["ts"] for ln in lines] == sorted(ln["ts"] for ln in lines)


def test_list_and_prune_environments_of_deleted_branches(testbed: dict[str, Any], tmp_path: Path) -> None:
    def change(tree: dict[str, Any]) -> None:
        tree["project"]["name"] = "tprune"  # a project of its own: prune never sees other tests' stacks

    env = base_env(write_config(tmp_path / "clikd.toml", change))
    gone = "t/deleted-branch-for-prune"
    try:
        assert clikd("env.start", "--branch", gone, "--only", "keydb", env=env).code == 0
        listing = clikd("env.list", "--json", env=env)
        assert listing.code == 0, listing.text
        envs = {e["branch"]: e for e in listing.data["environments"]}
        assert envs[gone]["state"] == "running" and envs[gone]["branch_exists"] is False
        assert envs[gone]["containers"] == 1 and len(envs[gone]["volumes"]) == 1 and envs[gone]["ports"]
        human = clikd("env.list", env=env)
        assert gone in human.out and "deleted" in human.out

        refused = clikd("env.prune", env=env)
        assert refused.code == 4 and gone in refused.text
        pruned = clikd("env.prune", "--yes", "--json", env=env)
        assert pruned.code == 0, pruned.text
        assert [r["branch"] for r in pruned.data["removed"]] == [gone]
        assert pruned.data["removed"][0]["removed_volumes"]
        after = clikd("env.list", "--json", env=env)
        assert gone not in {e["branch"] for e in after.data["environments"]}
    finally:
        clikd("env.stop", "--branch", gone, "--purge", "--yes", env=env)
