"""The command surface a newcomer meets: bare clikd, namespace menus, core options, exit codes,
one meaning per short flag, typed metavars, positive numbers, completion.

Everything runs the real ``clikd``/``inv`` executables (subprocesses, or a pseudo-terminal for
the menus). The walks over the collection read it at run time, so tasks added later are covered.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
from pathlib import Path

import pexpect
import pytest

from tasks.core.tasking import SHORT_FLAGS, ZERO_ALLOWED, metavar
from tasks.root import ns

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv" / "bin"
CLIKD = str(BIN / "clikd")
INV = str(BIN / "inv")
DOWN = "\x1b[B"


def env(**extra: str) -> dict[str, str]:
    found = {k: v for k, v in os.environ.items() if not k.startswith("CLIKD_")}
    found["PATH"] = f"{BIN}:{found.get('PATH', '')}"
    found.update(extra)
    return found


def run(*argv: str, cwd: Path = ROOT, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv),
        cwd=cwd,
        env=env(**extra),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def spawn(*argv: str, cwd: Path = ROOT, binary: str = "clikd", **extra: str) -> pexpect.spawn:
    return pexpect.spawn(
        str(BIN / binary),
        list(argv),
        cwd=str(cwd),
        env=env(**extra),
        encoding="utf-8",
        timeout=60,
        dimensions=(50, 160),
    )


def every_flag() -> list[tuple[str, str, list[str], type, str]]:
    """(task, long flag, short flags, kind, help) for every flag of every task in the collection."""
    rows = []
    for name in sorted(ns.task_names):
        for arg in ns[name].get_arguments():
            longs = [n for n in arg.names if len(n) > 1]
            shorts = [n for n in arg.names if len(n) == 1]
            rows.append((name, longs[0], shorts, arg.kind, arg.help or ""))
    return rows


# -- the flag table ----------------------------------------------------------------------------


def test_every_flag_has_help_and_one_meaning_per_short_flag() -> None:
    rows = every_flag()
    assert len({task for task, *_ in rows}) >= 25  # the walk saw the collection, not an empty one
    meaning: dict[str, set[str]] = {}
    for task, flag, shorts, _kind, text in rows:
        assert text.strip(), f"{task} --{flag} has no help text"
        for letter in shorts:
            meaning.setdefault(letter, set()).add(flag)
            assert SHORT_FLAGS.get(letter) == flag, (
                f"{task}: -{letter} is --{flag}, the table says --{SHORT_FLAGS.get(letter)}"
            )
    assert all(len(flags) == 1 for flags in meaning.values()), meaning
    # --env is -e everywhere it exists (it was -n in db.diff and env.logs)
    assert {tuple(s) for _t, f, s, _k, _h in rows if f == "env"} == {("e",)}
    # core options' letters are not reused by any task flag
    assert not {"h", "l", "F", "V", "d"} & set(meaning)


def test_every_value_flag_shows_a_typed_metavar_in_help() -> None:
    by_task: dict[str, list[tuple[str, type]]] = {}
    for task, flag, _shorts, kind, _text in every_flag():
        by_task.setdefault(task, []).append((flag, kind))
    for task, flags in by_task.items():
        shown = run(CLIKD, "--help", task)
        assert shown.returncode == 0, shown.stderr
        for flag, kind in flags:
            if kind is bool:
                assert re.search(rf"--(\[no-\])?{flag}\b(?!=)", shown.stdout), (task, flag)
                continue
            var = metavar(flag, kind)
            assert var and var not in {"STRING", "STR"}, (task, flag, var)
            assert f"--{flag}={var}" in shown.stdout, (task, flag, var, shown.stdout)
    timeouts = run(CLIKD, "--help", "env.start").stdout
    assert "--timeout=SECONDS" in timeouts  # a number, no longer shown as a switch


def numeric_flags() -> list[tuple[str, str]]:
    return [(task, flag) for task, flag, _s, kind, _h in every_flag() if kind in (int, float)]


# Tasks whose numeric flags come with a required positional: a value for it.
POSITIONALS = {"db.keys": ["*"]}


def test_zero_and_negative_numbers_are_usage_errors_for_every_numeric_flag() -> None:
    found = numeric_flags()
    assert ("env.start", "timeout") in found and ("env.logs", "tail") in found
    for task, flag in found:
        least = "0 or more" if flag in ZERO_ALLOWED else "more than 0"
        given = POSITIONALS.get(task, [])
        for value in ("-5",) if flag in ZERO_ALLOWED else ("0", "-5"):
            done = run(CLIKD, task, *given, f"--{flag}", value)
            assert done.returncode == 2, (task, flag, value, done.stdout, done.stderr)
            assert f"--{flag} must be {least}" in done.stderr, done.stderr
        # inv goes through the task decorator's check (a value other than the default)
        done = run(INV, task, *given, f"--{flag}", "-5")
        assert done.returncode == 2, (task, flag, done.stderr)
        assert f"--{flag} must be" in done.stderr


# -- core options and unknown input ------------------------------------------------------------

DROPPED = [
    ["-R", "deploy.staging"],
    ["--dry", "deploy.staging"],
    ["-e", "config.check"],
    ["--echo", "config.check"],
    ["-w", "config.check"],
    ["-p", "config.check"],
    ["-T", "5", "config.check"],
    ["--write-pyc", "config.check"],
    ["--prompt-for-sudo-password", "config.check"],
    ["--hide=both", "config.check"],
    ["--list-depth=1", "--list"],
]


@pytest.mark.parametrize("argv", DROPPED, ids=lambda a: a[0])
def test_invoke_core_options_are_refused(argv: list[str]) -> None:
    done = run(CLIKD, *argv)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert f"unknown flag {argv[0].split('=')[0]!r}" in done.stderr
    assert "valid" not in done.stdout  # config.check (or the deploy) did not run


def test_core_help_shows_only_clikd_options() -> None:
    shown = run(CLIKD, "--help")
    assert shown.returncode == 0
    core = shown.stdout.split("Subcommands:")[0]
    for kept in (
        "--help",
        "--list",
        "--version",
        "--print-completion-script",
        "--complete",
        "--debug",
        "--config",
    ):
        assert kept in core, kept
    for gone in (
        "--dry",
        "--echo",
        "--pty",
        "--warn-only",
        "--hide",
        "--command-timeout",
        "--write-pyc",
        "sudo",
    ):
        assert gone not in core, gone


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["env.stats"], "unknown task 'env.stats'; did you mean env.status?"),
        (["db.migrat"], "unknown task 'db.migrat'; did you mean db.migrate?"),
        (["env.status", "--wach"], "unknown flag '--wach' for env.status; did you mean --watch?"),
        (["--lst"], "unknown flag '--lst'; did you mean --list?"),
        (["--help", "env.stat"], "unknown task 'env.stat'; did you mean env.status?"),
    ],
)
def test_unknown_task_or_flag_exits_2_with_the_closest_match(argv: list[str], expected: str) -> None:
    done = run(CLIKD, *argv)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert expected in done.stderr
    assert "Traceback" not in done.stderr


def test_config_flag_chooses_the_clikd_toml_and_beats_clikd_config(tmp_path: Path) -> None:
    other = tmp_path / "elsewhere.toml"
    other.write_text('[project]\nname = "elsewhere"\n', encoding="utf-8")
    done = run(CLIKD, "--config", str(other), "config.check", "--json", CLIKD_CONFIG=str(ROOT / "clikd.toml"))
    assert done.returncode == 0, done.stderr
    assert f'"config_file": "{other}"' in done.stdout
    # Wide enough that the path is not folded: under xdist tmp_path is longer than 80 columns.
    missing = run(CLIKD, "--config", str(tmp_path / "none.toml"), "config.check", COLUMNS="400")
    assert missing.returncode == 3 and "none.toml" in missing.stderr
    # a relative path is taken from where clikd runs
    rel = run(CLIKD, "--config", "elsewhere.toml", "config.check", "--json", cwd=tmp_path)
    assert rel.returncode == 0 and f'"config_file": "{other}"' in rel.stdout, rel.stderr
    version = run(CLIKD, "--config", str(other), "--version")
    assert version.returncode == 0 and f"config: {other}" in version.stdout


def test_hints_name_the_program_that_ran(tmp_path: Path) -> None:
    (tmp_path / "clikd.toml").write_text('[project]\nname = "probe"\n', encoding="utf-8")
    (tmp_path / ".clikd").mkdir()
    (tmp_path / ".clikd" / "target").write_text("nowhere\n", encoding="utf-8")
    by_clikd = run(CLIKD, "env.start", cwd=tmp_path)
    by_inv = run(INV, "--search-root", str(ROOT), "env.start", cwd=tmp_path)
    assert by_clikd.returncode == by_inv.returncode == 3, (by_clikd.stderr, by_inv.stderr)
    assert "clikd env.switch --target local" in by_clikd.stderr and "inv env.switch" not in by_clikd.stderr
    assert "inv env.switch --target local" in by_inv.stderr
    shown = run(CLIKD, "--help", "env.start").stdout
    assert "clikd env.start --only" in shown and "inv env.start" not in shown  # the examples too
    assert "inv env.start --only" in run(INV, "--help", "env.start").stdout


# -- bare clikd, namespaces, env.switch, --version ---------------------------------------------


@pytest.mark.parametrize("binary", ["clikd", "inv"])
def test_bare_program_without_terminal_prints_the_overview_and_exits_0(binary: str) -> None:
    done = run(str(BIN / binary), CLIKD_BRANCH="h15a/overview")
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert "branch  h15a/overview" in text
    assert "target  local" in text
    assert re.search(r"stack   (not started|running|stopped|unknown)", text), text
    for space in ("env", "db", "gen", "test", "deploy", "config"):
        assert re.search(rf"^  {space}\s+\w", text, re.M), space
    assert f"{binary} --list" in text and f"{binary} --help <task>" in text
    assert "--prompt-for-sudo-password" not in text


@pytest.mark.parametrize("binary", ["clikd", "inv"])
@pytest.mark.parametrize("space", ["db", "gen", "test", "deploy", "env", "config"])
def test_a_namespace_alone_without_terminal_lists_its_tasks(binary: str, space: str) -> None:
    done = run(str(BIN / binary), space)
    assert done.returncode == 0, done.stderr
    listed = re.findall(rf"^  ({space}\.[\w-]+)", done.stdout, re.M)
    expected = [t for t in ns.task_names if t.startswith(space + ".") and t != f"{space}.menu"]
    assert sorted(listed) == sorted(expected)
    assert f"{binary} --help {space}." in done.stdout


def test_bare_clikd_in_a_terminal_runs_the_picked_quick_action() -> None:
    child = spawn(CLIKD_BRANCH="h15a/quick")
    child.expect("branch  h15a/quick")
    child.expect("What do you want to do")
    for label in (
        "Reset the databases",
        "Apply pending migrations",
        "Generate the API clients",
        "Run tests",
        "Deploy to staging",
    ):
        child.expect(label)
    child.send("\r")  # the first: the stack's status
    child.expect("h15a/quick")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert "Traceback" not in (child.before or "")


def test_bare_clikd_in_a_terminal_can_quit() -> None:
    child = spawn()
    child.expect("What do you want to do")
    child.send(DOWN * 8 + "\r")  # past the eight actions: "Nothing (quit)"
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


@pytest.mark.parametrize("binary", ["clikd", "inv"])
def test_a_namespace_alone_in_a_terminal_runs_the_picked_task(binary: str) -> None:
    child = spawn("config", binary=binary)
    child.expect("Which config task")
    child.send("\r")  # config.check, the first in the menu
    child.expect("is valid")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_deploy_menu_shows_the_environments_and_checks() -> None:
    child = spawn("deploy", CLIKD_BRANCH="h15a/deploy-menu")
    child.expect("Environments: ")
    child.expect("Pre-deployment checks")
    seen = io.StringIO()
    child.logfile_read = seen
    for check in ("git tree clean", "services healthy", "migrations up to date", "clients"):
        child.expect(check)
    child.expect("Which deploy task")
    child.expect("Run tests")
    child.send(DOWN * 6 + "\r")  # "Nothing (quit)" after the five deploy tasks and "Run tests"
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    shown = re.sub(r"\s+", " ", re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|[│┃]", " ", seen.getvalue()))
    assert "clikd env.start" in shown and "inv env.start" not in shown  # hints name the program


def test_env_switch_takes_the_target_as_a_word_and_still_opens_the_menu_alone(tmp_path: Path) -> None:
    (tmp_path / "clikd.toml").write_text('[project]\nname = "probe"\n', encoding="utf-8")
    done = run(CLIKD, "env.switch", "local", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / ".clikd" / "target").read_text(encoding="utf-8").strip() == "local"
    bad = run(CLIKD, "env.switch", "moon", cwd=tmp_path)
    assert bad.returncode == 2 and "'moon'" in bad.stderr
    alone = run(CLIKD, "env.switch", cwd=tmp_path)
    assert alone.returncode == 2 and "no terminal" in alone.stderr
    child = spawn("env.switch", cwd=tmp_path)
    child.expect("Which target")
    child.send(DOWN + "\r")  # from local (the current one) to staging: not configured here
    child.expect("environments.staging")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 3


def test_version_banner_in_a_terminal_plain_otherwise() -> None:
    plain = run(CLIKD, "--version")
    assert plain.returncode == 0 and plain.stdout.startswith("clikd 0.")
    child = spawn("--version")
    child.expect(pexpect.EOF)
    child.close()
    shown = child.before or ""
    assert child.exitstatus == 0
    assert "|_|_|_|" in shown and "clikd 0." in shown


# -- shell completion, through the real shells -------------------------------------------------


def shell(name: str) -> str:
    found = shutil.which(name)
    assert found, f"{name} is not installed: apt-get install -y {name}"
    return found


def tasks_starting(prefix: str) -> list[str]:
    """The collection's task names that begin with ``prefix``: what completion must offer."""
    from tasks.root import ns

    found = sorted(name for name in ns.task_names if name.startswith(prefix))
    assert len(found) >= 3, found  # env.start, env.status, env.stop at least
    return found


def test_bash_completion_completes_tasks_and_flags() -> None:
    script = (
        'source <(clikd --print-completion-script bash); COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); '
        '_complete_clikd clikd "${COMP_WORDS[-1]}"; printf "%s\\n" "${COMPREPLY[@]}"'
    )
    tasks = run(shell("bash"), "-c", script, "bash", "clikd", "env.st").stdout.split()
    assert sorted(tasks) == tasks_starting("env.st")
    flags = run(shell("bash"), "-c", script, "bash", "clikd", "env.logs", "--fo").stdout.split()
    assert flags == ["--follow"]
    core = run(shell("bash"), "-c", script, "bash", "clikd", "--").stdout.split()
    assert "--list" in core and "--dry" not in core and "--echo" not in core


def test_zsh_completion_gives_the_candidates() -> None:
    script = "source <(clikd --print-completion-script zsh); words=($@); _complete_clikd; print -l -- $reply"
    tasks = run(shell("zsh"), "-c", script, "zsh", "clikd", "env.st").stdout.split()
    assert set(tasks_starting("env.st")) <= set(tasks)
    flags = run(shell("zsh"), "-c", script, "zsh", "clikd", "db.diff", "--").stdout.split()
    assert "--env" in flags and "--exit-code" in flags


def test_fish_completion_completes_tasks() -> None:
    done = run(
        shell("fish"), "-c", 'clikd --print-completion-script fish | source; complete -C "clikd env.st"'
    )
    assert done.returncode == 0, done.stderr
    assert sorted(line.split()[0] for line in done.stdout.splitlines()) == tasks_starting("env.st")


@pytest.mark.parametrize("program", ["clikd", "inv"])
def test_help_after_a_task_with_a_missing_positional_shows_help_and_creates_nothing(program: str) -> None:
    before = sorted(p.name for p in (ROOT / "migrations").rglob("*"))
    done = subprocess.run(
        [str(BIN / program), "db.new", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert sorted(p.name for p in (ROOT / "migrations").rglob("*")) == before
    if program == "clikd":
        assert done.returncode == 0, done.stderr
        assert "Usage: clikd db.new" in done.stdout
    else:  # Invoke's own parser hands --help to NAME; the task refuses it
        assert done.returncode == 2, done.stdout + done.stderr
        assert "db.new needs a NAME" in done.stdout + done.stderr
