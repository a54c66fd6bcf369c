"""The task decorator and the flag layer: the one place where flags get their short names, help
and checks, and where errors become messages and exit codes."""

from __future__ import annotations

import functools
import inspect
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from invoke.exceptions import Exit
from invoke.tasks import Task, task

from tasks.core.errors import ClikdError, ExitCode, UsageError

P = ParamSpec("P")
R = TypeVar("R")

ENV_HELP = "the target of this run: local, staging or production (default: the one env.switch chose)"

# Flags that many tasks share, described once; a task's own help= wins over these.
COMMON_HELP = {
    "json": "print the result as JSON on stdout (for scripts)",
    "branch": "act on this branch instead of the checked-out one",
    "yes": "confirm destructive steps without asking (required without a terminal)",
    "env": ENV_HELP,
    "timeout": "seconds to wait at most (default: from clikd.toml)",
    "stores": "only these stores, comma-separated: auth,main,scylla,keydb",
    "confirm": "type the environment name here to confirm without a terminal: --confirm=production",
    "force": "go on even where clikd would stop (see the task's help for what that means)",
    "no_wait": "when another clikd task is changing this branch, exit 9 at once instead of waiting for it",
}

# One meaning per short flag across every task. A flag not named here has only its long form:
# destructive switches (--force, --purge, --delete...) are long on purpose. The core options'
# letters (-h help, -l list, -F list format, -V version, -d debug) are not reused.
SHORT_FLAGS = {
    "b": "branch",
    "c": "confirm",
    "e": "env",
    "f": "follow",
    "g": "grep",
    "j": "json",
    "o": "output",
    "s": "stores",
    "t": "timeout",
    "w": "watch",
    "x": "exclude",
    "y": "yes",
}
_SHORT_OF = {name: letter for letter, name in SHORT_FLAGS.items()}

# What a value-taking flag's value is, as help shows it (--timeout=SECONDS). A flag not named
# here shows its type (TEXT, COUNT, SECONDS).
METAVARS = {
    "branch": "BRANCH",
    "confirm": "NAME",
    "env": "TARGET",
    "exclude": "NAMES",
    "export": "PATH",
    "folder": "PATH",
    "from": "BRANCH",
    "grep": "REGEX",
    "junit": "FILE",
    "level": "LEVEL",
    "name": "TEXT",
    "only": "NAMES",
    "output": "PATH",
    "scylla-empty": "MODE",
    "seed": "SEED",
    "skip-tests": "REASON",
    "service": "NAMES",
    "services": "NAMES",
    "since": "AGE",
    "spec": "PATH|URL|live",
    "store": "STORE",
    "stores": "STORES",
    "tag": "TAG",
    "tail": "COUNT",
    "target": "TARGET",
    "timeout": "SECONDS",
    "to": "REVISION",
    # core options of the clikd program
    "help": "TASK",
    "list": "NAMESPACE",
    "list-format": "FORMAT",
    "print-completion-script": "SHELL",
}
_KIND_METAVARS: dict[type, str] = {str: "TEXT", int: "COUNT", float: "SECONDS"}


def metavar(name: str, kind: type) -> str | None:
    """The placeholder help shows after a value-taking flag; None for a switch."""
    if kind is bool:
        return None
    return METAVARS.get(name.strip("-_").replace("_", "-"), _KIND_METAVARS.get(kind, kind.__name__.upper()))


class ClikdTask(Task[Any]):
    """Invoke's Task with clikd's flag table instead of Invoke's first-free-letter short flags."""

    def arg_opts(self, name: str, default: str, taken_names: set[str]) -> dict[str, Any]:
        opts: dict[str, Any] = super().arg_opts(name, default, taken_names)
        letter = _SHORT_OF.get(name.rstrip("_").replace("_", "-"))
        if letter and letter not in taken_names:
            opts["names"] = [*opts["names"], letter]
        return opts


def program_name() -> str:
    """The program the user ran: ``clikd`` or ``inv`` (hints name it)."""
    ran = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else ""
    return "inv" if ran in {"inv", "invoke"} else "clikd"


_INV = re.compile(r"(?<![\w./-])inv (?=[-a-z])")


def name_program(text: str) -> str:
    """Rewrite ``inv <task>`` in a message to the program that is running."""
    program = program_name()
    return text if program == "inv" else _INV.sub(f"{program} ", text)


# Counts where 0 means something: `env.logs --follow --tail 0` follows new lines only.
ZERO_ALLOWED = {"tail", "seed"}


def check_number(flag: str, value: object) -> None:
    """Durations and counts are positive: zero (but where ZERO_ALLOWED) or less is a usage error."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return
    if value < 0 or (value == 0 and flag not in ZERO_ALLOWED):
        least = "0 or more" if flag in ZERO_ALLOWED else "more than 0"
        raise UsageError(
            f"--{flag} must be {least}, not {value:g}",
            hint=f"leave --{flag} out for its default, or give a number {least}",
        )


def clikd_task(
    *, help: dict[str, str] | None = None, iterable: list[str] | None = None, **kwargs: Any
) -> Callable[[Callable[P, R]], Task[Any]]:
    """Wrap a task body so ClikdError and Ctrl+C end the run cleanly with their exit code."""

    def decorate(body: Callable[P, R]) -> Task[Any]:
        params = inspect.signature(body).parameters  # once: every task of every command pays it
        numbers = {
            name: p.default
            for name, p in params.items()
            if isinstance(p.default, int | float) and not isinstance(p.default, bool)
        }

        @functools.wraps(body)
        def run(*args: P.args, **kw: P.kwargs) -> R:
            as_json = bool(kw.get("json"))
            try:
                for name, default in numbers.items():
                    if name in kw and kw[name] != default:
                        check_number(name.rstrip("_").replace("_", "-"), kw[name])
                return body(*args, **kw)
            except ClikdError as error:
                from tasks.core import console  # Rich loads only when there is something to show

                error.message = name_program(error.message)
                error.hint = name_program(error.hint) if error.hint else error.hint
                error.details = [name_program(line) for line in error.details]
                console.show_error(error, as_json=as_json)
                raise Exit(code=int(error.exit_code)) from None
            except KeyboardInterrupt:
                from tasks.core import console

                console.err.print("\n[yellow]interrupted[/]: a rerun picks up from where this stopped")
                raise Exit(code=int(ExitCode.INTERRUPTED)) from None

        texts = {k: v for k, v in COMMON_HELP.items() if k in params}
        texts.update(help or {})
        kwargs.setdefault("auto_shortflags", False)
        made: Task[Any] = task(help=texts, iterable=iterable or [], klass=ClikdTask, **kwargs)(run)
        return made

    return decorate
