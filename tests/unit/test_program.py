"""The two entry points, their help, start-up imports, prompts and Ctrl+C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pexpect
import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv" / "bin"
HEAVY = [
    "docker",
    "kubernetes",
    "cassandra",
    "psycopg",
    "redis",
    "openapi_python_client",
    "fabric",
    "paramiko",
    "questionary",
    "pydantic",
    "msgspec",
    "git",
    "jinja2",
]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLIKD_")}
    env.update(extra)
    return env


def run(*argv: str, cwd: Path = ROOT, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv), cwd=cwd, env=clean_env(**extra), capture_output=True, text=True, check=False, timeout=120
    )


def task_names(binary: str) -> list[str]:
    done = run(str(BIN / binary), "--list", "--list-format=json")
    assert done.returncode == 0, done.stderr
    tree = json.loads(done.stdout)
    names: list[str] = []

    def walk(node: dict[str, object], prefix: str) -> None:
        for task in node.get("tasks", []):  # type: ignore[union-attr]
            names.append(prefix + task["name"])  # type: ignore[index]
        for sub in node.get("collections", []):  # type: ignore[union-attr]
            walk(sub, prefix + sub["name"] + ".")  # type: ignore[index,operator]

    walk(tree, "")
    return sorted(names)


def test_inv_and_clikd_list_the_same_tasks() -> None:
    inv = task_names("inv")
    clikd = task_names("clikd")
    assert inv == clikd
    assert "config.show" in inv


def test_version_names_version_branch_and_config() -> None:
    done = run(str(BIN / "clikd"), "--version")
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    assert lines[0].startswith("clikd 0.")
    assert lines[1].startswith("branch: ")
    assert lines[2] == f"config: {ROOT / 'clikd.toml'}"


def test_clikd_config_flag_selects_the_file(tmp_path: Path) -> None:
    other = tmp_path / "other.toml"
    other.write_text('[project]\nname = "other"\n', encoding="utf-8")
    done = run(str(BIN / "clikd"), "--config", str(other), "config.show", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["config_file"] == str(other)
    assert report["settings"]["project"]["name"] == "other"


def test_every_task_help_shows_flags_and_an_example() -> None:
    for name in task_names("clikd"):
        done = run(str(BIN / "clikd"), "--help", name)
        assert done.returncode == 0, (name, done.stderr)
        assert "Examples:" in done.stdout, name
        assert "Options:" in done.stdout, name


def test_listing_and_help_import_no_heavy_sdk() -> None:
    probe = textwrap.dedent(
        f"""
        import sys
        from invoke.main import program as inv
        from tasks.program import program as clikd
        for prog, argv in [(inv, ["inv", "--list"]), (clikd, ["clikd", "--help"]),
                           (clikd, ["clikd", "--list"]), (inv, ["inv", "--help", "config.show"])]:
            try:
                prog.run(argv, exit=False)
            except SystemExit:
                pass
        heavy = [m for m in {HEAVY!r} if m in sys.modules]
        print("HEAVY=" + ",".join(heavy), file=sys.stderr)
        """
    )
    done = run(str(BIN / "python"), "-c", probe)
    assert "HEAVY=" in done.stderr, done.stderr
    heavy = done.stderr.split("HEAVY=")[1].strip()
    assert heavy == "", f"imported at start-up: {heavy}"


def test_json_output_is_pure_json() -> None:
    done = run(str(BIN / "inv"), "config.names", "--branch", "feat/x", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["branch"] == "feat/x" and report["origin"] == "flag"
    assert report["names"]["keyspace"] == "clikd_feat_x_" + report["names"]["keyspace"].rsplit("_", 1)[1]
    assert "from --branch" in done.stderr


# A throwaway collection built with clikd's task decorator, to drive prompts and Ctrl+C through
# a real process and a real pseudo-terminal.
PROBE_TASKS = """
import time
from tasks.core.prompts import confirm
from tasks.core.tasking import clikd_task
from tasks.core import console

@clikd_task()
def wipe(c, yes=False, json=False):
    '''Wipe something.

    Examples:
      inv wipe --yes
    '''
    confirm("Wipe everything?", assume_yes=yes)
    console.out.print("WIPED")

@clikd_task()
def wait(c):
    '''Wait until interrupted.

    Examples:
      inv wait
    '''
    print("WAITING", flush=True)
    time.sleep(60)
"""


@pytest.fixture
def probe_dir(tmp_path: Path) -> Path:
    # Not named tasks.py: that name would hide clikd's own tasks package.
    (tmp_path / "probe.py").write_text(PROBE_TASKS, encoding="utf-8")
    return tmp_path


def probe_env() -> dict[str, str]:
    return clean_env(PYTHONPATH=str(ROOT))


def test_confirmation_without_terminal_names_the_flag(probe_dir: Path) -> None:
    done = subprocess.run(
        [str(BIN / "inv"), "-c", "probe", "wipe"],
        cwd=probe_dir,
        env=probe_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 4
    assert "--yes" in done.stderr and "WIPED" not in done.stdout
    assert "Traceback" not in done.stderr
    done = subprocess.run(
        [str(BIN / "inv"), "-c", "probe", "wipe", "--json"],
        cwd=probe_dir,
        env=probe_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    assert json.loads(done.stdout)["exit_code"] == 4
    done = subprocess.run(
        [str(BIN / "inv"), "-c", "probe", "wipe", "--yes"],
        cwd=probe_dir,
        env=probe_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0 and "WIPED" in done.stdout


@pytest.mark.parametrize(("answer", "code", "seen"), [("y", 0, "WIPED"), ("n", 4, "nothing was changed")])
def test_confirmation_in_a_terminal(probe_dir: Path, answer: str, code: int, seen: str) -> None:
    child = pexpect.spawn(
        str(BIN / "inv"),
        ["-c", "probe", "wipe"],
        cwd=str(probe_dir),
        env=probe_env(),
        encoding="utf-8",
        timeout=30,
    )
    child.expect("Wipe everything")
    child.send(answer)
    child.expect(seen)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == code


def test_ctrl_c_exits_130_without_traceback(probe_dir: Path) -> None:
    proc = subprocess.Popen(
        [str(BIN / "inv"), "-c", "probe", "wait"],
        cwd=probe_dir,
        env=probe_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "WAITING"
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130
    assert "Traceback" not in err and "interrupted" in err


def test_python_is_the_supported_version() -> None:
    assert sys.version_info >= (3, 11)


NAMESPACE_PROBE = """
import sys
from tasks.program import program
try:
    program.run(["clikd", *sys.argv[1:]], exit=False)
except SystemExit:
    pass
loaded = [n for n in ("config", "db", "deploy", "env", "gen", "test") if f"tasks.{n}" in sys.modules]
print("LOADED=" + ",".join(loaded), file=sys.stderr)
"""


@pytest.mark.parametrize(
    ("argv", "loaded"),
    [
        (["config.show"], "config"),
        (["config.show", "env.list", "--help"], "config,db,deploy,env,gen,test"),  # help: every task
        (["db"], "config,db,deploy,env,gen,test"),  # a namespace's menu may run any task
        (["--list"], "config,db,deploy,env,gen,test"),
    ],
)
def test_a_command_loads_only_the_namespaces_it_names(argv: list[str], loaded: str) -> None:
    done = run(str(BIN / "python"), "-c", NAMESPACE_PROBE, *argv)
    assert f"LOADED={loaded}\n" in done.stderr, done.stderr


def test_a_misspelt_task_is_matched_against_every_namespace() -> None:
    # env's module alone is loaded for `env.migrate`; the closest task is db's
    done = run(str(BIN / "clikd"), "env.migrate")
    assert done.returncode == 2, done.stderr
    assert "unknown task 'env.migrate'; did you mean db.migrate?" in done.stderr, done.stderr
