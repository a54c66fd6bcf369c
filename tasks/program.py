"""The ``clikd`` console script: the same collection as ``inv``, as its own program.

Differences from Invoke's Program: only the core options that mean something for clikd (help,
list, version, completion, debug, config), ``--config`` naming a clikd.toml, exit 2 with the
closest match for an unknown task or flag, zero or negative numbers refused while parsing, typed
placeholders in help, and ``env.switch TARGET`` as a positional. (The overview and menus of
`clikd` / `clikd db` alone are the collections' default tasks, in tasks/menus.py.)
"""

from __future__ import annotations

import gc

# A command's first 0.2 s allocate the modules, classes and functions it keeps until it exits: at
# the default threshold (700) the collector made some 50 young and 5 middle-generation passes over
# them in a no-op env.start, about 8 ms of CPU to free a few hundred objects. At 50,000 the young
# generation is still collected, less often, in the commands that run for long (--watch, --follow,
# env.dev); the older generations keep their thresholds.
gc.set_threshold(50_000, *gc.get_threshold()[1:])

import atexit  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from tasks.core.deferred import defer_invoke_yaml, defer_unittest_mock, settle_unittest_mock  # noqa: E402

# before Invoke's first import, which the lines below make
defer_invoke_yaml()
defer_unittest_mock()

from invoke.collection import Collection  # noqa: E402
from invoke.config import Config  # noqa: E402
from invoke.exceptions import Exit, ParseError  # noqa: E402
from invoke.parser import Parser  # noqa: E402
from invoke.parser.argument import Argument  # noqa: E402
from invoke.parser.context import ParserContext  # noqa: E402
from invoke.program import Program  # noqa: E402

settle_unittest_mock()  # Invoke has taken its Mock

from tasks import __version__, root  # noqa: E402

# The core options clikd keeps; Invoke's others (--dry, --echo, --pty, --warn-only, --hide,
# --command-timeout, --write-pyc, --prompt-for-sudo-password, --list-depth) steer shell commands
# run through Invoke, which no clikd task does, so they are refused rather than silently ignored.
KEPT_CORE = {
    "help",
    "list",
    "list-format",
    "version",
    "complete",
    "print-completion-script",
    "debug",
    "config",
}
# What Invoke's own code reads of the dropped options, with the value they have when not given.
_DROPPED_DEFAULTS: dict[str, tuple[type, Any]] = {
    "command-timeout": (int, None),
    "dry": (bool, False),
    "echo": (bool, False),
    "hide": (str, None),
    "list-depth": (int, None),
    "prompt-for-sudo-password": (bool, False),
    "pty": (bool, False),
    "warn-only": (bool, False),
    "write-pyc": (bool, False),
}
CORE_HELP = {
    "config": "the clikd.toml to use (like CLIKD_CONFIG)",
    "debug": "show Invoke's debug log (how the command line was parsed)",
}

BANNER = r"""
       _ _ _       _
   ___| (_) | ____| |
  / __| | | |/ / _` |
 | (__| | |   < (_| |
  \___|_|_|_|\_\__,_|
"""

_UNKNOWN = re.compile(r"^No idea what '(?P<token>.*)' is!$")


class ClikdConfig(Config):
    # Invoke-level settings come from clikd.yaml / CLIKD_* etc., never from invoke.yaml:
    # clikd is its own program.
    prefix = "clikd"


class ClikdProgram(Program):
    """Invoke's Program with clikd's core options, parse errors and help."""

    def core_args(self) -> list[Argument]:
        kept = [arg for arg in super().core_args() if arg.name in KEPT_CORE]
        for arg in kept:
            if arg.name in CORE_HELP:
                arg.help = CORE_HELP[arg.name]
            if arg.name == "config":
                arg.names = ("config",)  # -f is --follow in the tasks: one meaning per short flag
        return kept

    def parse_collection(self) -> None:
        # Only the namespaces whose tasks the command line names (`clikd env.start` imports env's
        # module, not db's or deploy's); every namespace for anything else.
        self.namespace = root.collection(self._namespaces_named())
        super().parse_collection()

    def _namespaces_named(self) -> tuple[str, ...]:
        """The namespaces of the ``ns.task`` tokens left after the core options, or all of them.

        All of them when no such token is there (the overview, a misspelt task: the closest match
        is looked for among every task), when a namespace is named alone (its menu, which may run
        a task of another namespace), and for help, listing and completion.
        """
        if any(self.args[flag].value for flag in ("help", "list", "complete", "print-completion-script")):
            return root.NAMESPACES
        tokens = [t for t in self.core.unparsed if not t.startswith("-")]
        if not tokens or set(self.core.unparsed) & {"--help", "-h"} or set(tokens) & set(root.NAMESPACES):
            return root.NAMESPACES
        named = tuple(n for n in root.NAMESPACES if any(t.startswith(f"{n}.") for t in tokens))
        return named or root.NAMESPACES

    def parse_core_args(self) -> None:
        try:
            super().parse_core_args()
        except ParseError as error:
            raise self._usage(error) from None
        # Invoke's own code reads the dropped options; they keep their "not given" values.
        for name, (kind, default) in _DROPPED_DEFAULTS.items():
            self.core[0].args[name] = Argument(names=(name,), kind=kind, default=default)
        chosen = self.core[0].args["config"].value
        if chosen:
            # --config names the clikd.toml to use: hand it to the settings loader, never to
            # Invoke's runtime-config loader.
            os.environ["CLIKD_CONFIG"] = str(Path(chosen).expanduser().resolve())
            self.core[0].args["config"].set_value(None, cast=False)

    def print_version(self) -> None:
        from tasks.core.branch import detect
        from tasks.core.config.loader import find_config

        cwd = Path.cwd()
        if sys.stdout.isatty():
            print(BANNER.rstrip("\n"))
            print()
        config = find_config(cwd)
        branch = detect(cwd)
        print(f"clikd {__version__}")
        print(f"branch: {branch.name}" + (f" ({branch.note})" if branch.note else ""))
        print(f"config: {config if config else 'none found (built-in defaults)'}")

    def parse_tasks(self) -> None:
        unparsed = list(self.core.unparsed)
        names = set(self.collection.task_names) | set(self.collection.collections)
        # `clikd env.switch staging`: Invoke has no optional positionals, so the bare word
        # becomes --target here (and `clikd env.switch` alone still opens the menu).
        for i, token in enumerate(unparsed[:-1]):
            following = unparsed[i + 1]
            if token == "env.switch" and not following.startswith("-") and following not in names:
                unparsed.insert(i + 1, "--target")
                break
        # `clikd db.new --help`: a task whose positional is still missing would take --help as
        # its value (and create a migration named "help"); a help flag anywhere after a task name
        # shows that task's help instead.
        for i, token in enumerate(unparsed):
            if token in ("--help", "-h"):
                task = next((t for t in reversed(unparsed[:i]) if t in self.collection.task_names), None)
                if task is not None:
                    self.parser = self._make_parser()
                    self.print_task_help(self.collection.transform(task))
                    raise Exit(code=0)
        self.core.unparsed = unparsed
        try:
            super().parse_tasks()
        except ParseError as error:
            raise self._usage(error) from None
        self._check_numbers()

    def _make_parser(self) -> Parser:
        """A parser of the tasks the command line names, not all of them.

        Invoke reads the signature of every task to build its parser (about 20 ms for clikd's
        collection); a command names one or two. Tokens are matched against every task name and
        alias, so chained tasks and a positional that spells a task parse as before; anything
        else (no task named, help, completion) gets the parser of every task.
        """
        tokens = set(self.core.unparsed)
        if tokens & {"--help", "-h", "--complete", "--list", "-l"}:
            return super()._make_parser()
        ignore = self.config.tasks.ignore_unknown_help
        contexts = [
            ParserContext(
                name=primary,
                aliases=aliases,
                args=self.collection[primary].get_arguments(ignore_unknown_help=ignore),
            )
            for primary, aliases in self.collection.task_names.items()
            if primary in tokens or tokens.intersection(aliases)
        ]
        if not contexts:
            return super()._make_parser()
        return Parser(initial=self.initial_context, contexts=contexts)

    def parse_cleanup(self) -> None:
        try:
            super().parse_cleanup()
        except ParseError as error:
            raise self._usage(error) from None

    def update_config(self, merge: bool = True) -> None:
        # No run/sudo/timeouts overrides (their options are gone) and no runtime config file:
        # clikd's settings are clikd.toml's, loaded by the tasks.
        self.config.load_overrides({}, merge=False)
        self.config.set_runtime_path(None)
        self.config.load_runtime(merge=False)
        if merge:
            self.config.merge()

    def print_help(self) -> None:
        print(f"Usage: {self.binary} [--core-opts] <task> [--task-opts] ...")
        print()
        print("Core options:")
        print()
        self.print_columns(help_tuples(self.initial_context))
        self.list_tasks()
        print(f"Task help: {self.binary} --help <task>, e.g. {self.binary} --help env.start")

    def print_task_help(self, name: str) -> None:
        import inspect

        from tasks.core.tasking import name_program

        context = self.parser.contexts[name]
        tuples = help_tuples(context)
        print(f"Usage: {self.binary} {name} {'[--options] ' if tuples else ''}")
        print()
        for line in (inspect.getdoc(self.collection[name]) or "").splitlines():
            # the examples say `inv ...`; shown by clikd, they say `clikd ...`
            print(self.leading_indent + name_program(line) if line.strip() else "")
        print()
        print("Options:")
        if tuples:
            self.print_columns(tuples)
        else:
            print(self.leading_indent + "none")
            print()

    def _check_numbers(self) -> None:
        from tasks.core.errors import ClikdError
        from tasks.core.tasking import check_number

        for context in self.tasks:
            for arg in context.args.values():
                if arg.got_value and arg.kind in (int, float):
                    try:
                        check_number(arg.name, arg.value)
                    except ClikdError as error:
                        from tasks.core import console

                        console.show_error(error)
                        raise Exit(code=int(error.exit_code)) from None

    def _usage(self, error: ParseError) -> Exit:
        """A parse error as clikd's usage error: exit 2, with the closest match when there is one."""
        from tasks.core.errors import ExitCode

        text = str(error)
        found = _UNKNOWN.match(text)
        if found:
            token = found.group("token")
            if token.startswith("-"):
                context = getattr(error, "context", None)
                flags = list(getattr(context, "flags", {}) or {}) + list(self.initial_context.flags)
                kind, pool = "flag", flags
                where = f" for {context.name}" if context is not None and context.name else ""
            else:
                every = root.collection()  # the closest task may be in a namespace not loaded
                kind, pool, where = "task", [*every.task_names, *every.collections], ""
            # What the token begins (a task or flag cut short), else the nearest by spelling.
            close = sorted(c for c in pool if c.startswith(token) and len(token) > 2)[:3]
            import difflib  # only for a name that matched nothing

            close = close or difflib.get_close_matches(token, pool, n=1, cutoff=0.6)
            text = f"{self.binary}: unknown {kind} {token!r}{where}"
            if close:
                text += f"; did you mean {' or '.join(close)}?"
            text += f"\nhint: {self.binary} --list shows every task, {self.binary} --help <task> its flags"
        else:
            text = f"{self.binary}: {text}"
        return Exit(message=text, code=int(ExitCode.USAGE))

    def run(self, argv: list[str] | None = None, exit: bool = True) -> None:
        try:
            super().run(argv, exit)
        except SystemExit as done:
            # Invoke turns a Ctrl+C outside a task into exit 1; clikd's is 130 wherever it lands.
            if done.code == 1 and isinstance(done.__context__, KeyboardInterrupt):
                raise SystemExit(130) from None
            raise


program = ClikdProgram(
    name="clikd",
    binary="clikd",
    binary_names=["clikd"],
    version=__version__,
    namespace=Collection(),  # stands for the collection parse_collection builds for the command line
    config_class=ClikdConfig,
)


def _first_line(doc: str | None) -> str:
    lines = (doc or "").strip().splitlines()
    return lines[0] if lines else ""


def help_tuples(context: Any) -> list[tuple[str, str]]:
    """A parser context's flags for help, each value-taking one with its typed metavar."""
    from tasks.core.tasking import metavar

    rows: list[tuple[str, str]] = []
    seen: set[int] = set()
    for arg in sorted(context.flags.values(), key=lambda a: (len(a.names) < 2, a.name)):
        if id(arg) in seen:
            continue
        seen.add(id(arg))
        shown = "PATH" if arg.name == "config" else metavar(arg.name, arg.kind)
        names = sorted(arg.names, key=len)
        parts = []
        for flag in names:
            dash = "-" if len(flag) == 1 else "--"
            if shown is None:
                inverse = arg.kind is bool and arg.default is True
                parts.append(f"--[no-]{flag}" if inverse and dash == "--" else f"{dash}{flag}")
            else:
                opt = arg.optional
                if dash == "-":
                    parts.append(f"-{flag} [{shown}]" if opt else f"-{flag} {shown}")
                else:
                    parts.append(f"--{flag}[={shown}]" if opt else f"--{flag}={shown}")
        rows.append((", ".join(parts), arg.help or ""))
    return rows


def main() -> None:
    # At exit the interpreter makes a full collection while every module is still loaded (some 10 ms
    # after a no-op env.start), only when the collector is on; the one it makes after clearing the
    # modules runs either way, and collects what is left (finalizers included). Registered first,
    # this runs after every other exit handler.
    atexit.register(gc.disable)
    try:
        program.run()
    except BrokenPipeError:
        # `clikd --list | head`: the reader left; nothing more to say.
        sys.stderr.close()
        raise SystemExit(0) from None
    except KeyboardInterrupt:
        # Ctrl+C outside a task (while loading or parsing) ends like Ctrl+C inside one.
        sys.stderr.write("\ninterrupted\n")
        raise SystemExit(130) from None
