"""The task decorator: the one place where errors become messages and exit codes."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from invoke.exceptions import Exit
from invoke.tasks import Task, task

from tasks.core.errors import ClikdError, ExitCode

P = ParamSpec("P")
R = TypeVar("R")

# Flags that many tasks share, described once.
COMMON_HELP = {
    "json": "print the result as JSON on stdout (for scripts)",
    "branch": "act on this branch instead of the checked-out one",
    "yes": "confirm destructive steps without asking (required without a terminal)",
}


def clikd_task(
    *, help: dict[str, str] | None = None, iterable: list[str] | None = None, **kwargs: Any
) -> Callable[[Callable[P, R]], Task[Any]]:
    """Wrap a task body so ClikdError and Ctrl+C end the run cleanly with their exit code."""

    def decorate(body: Callable[P, R]) -> Task[Any]:
        @functools.wraps(body)
        def run(*args: P.args, **kw: P.kwargs) -> R:
            as_json = bool(kw.get("json"))
            try:
                return body(*args, **kw)
            except ClikdError as error:
                from tasks.core import console  # Rich loads only when there is something to show

                console.show_error(error, as_json=as_json)
                raise Exit(code=int(error.exit_code)) from None
            except KeyboardInterrupt:
                from tasks.core import console

                console.err.print("\n[yellow]interrupted[/]: a rerun picks up from where this stopped")
                raise Exit(code=int(ExitCode.INTERRUPTED)) from None

        texts = {k: v for k, v in COMMON_HELP.items() if k in _params(body)}
        texts.update(help or {})
        made: Task[Any] = task(help=texts, iterable=iterable or [], **kwargs)(run)
        return made

    return decorate


def _params(body: Callable[..., Any]) -> set[str]:
    import inspect

    return set(inspect.signature(body).parameters)
