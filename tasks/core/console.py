"""The one output layer: a single Rich console, results as tables for people or JSON for scripts.

The core hands back dataclasses. A domain registers how a result type looks to a person with
:func:`renders`; :func:`emit` picks that view, or plain JSON when the task was given ``--json``.
Diagnostics (progress, notes, errors) go to stderr so stdout stays clean for ``--json``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from tasks.core.errors import ClikdError

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

    out: Console  # stdout, for results
    err: Console  # stderr, for progress, notes and errors


@cache
def _consoles() -> tuple[Console, Console]:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=False), Console(stderr=True, highlight=False)


def __getattr__(name: str) -> Any:
    # The consoles (and Rich with them) are made on first use: namespace modules import this
    # module at --list time, which must not pay for Rich.
    if name == "out":
        return _consoles()[0]
    if name == "err":
        return _consoles()[1]
    raise AttributeError(name)


T = TypeVar("T")
_VIEWS: dict[type[Any], Callable[[Any], RenderableType]] = {}


def renders(kind: type[T]) -> Callable[[Callable[[T], RenderableType]], Callable[[T], RenderableType]]:
    """Register the person-facing view of a result type."""

    def register(view: Callable[[T], RenderableType]) -> Callable[[T], RenderableType]:
        _VIEWS[kind] = view
        return view

    return register


def to_jsonable(value: Any) -> Any:
    """Turn results (dataclasses, enums, paths, times) into plain JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value)
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [to_jsonable(v) for v in value]
        return sorted(items, key=str) if isinstance(value, set | frozenset) else items
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, Path):
        return str(value)
    return value


def dumps(value: Any) -> str:
    return json.dumps(to_jsonable(value), indent=2, sort_keys=False, ensure_ascii=False)


def emit(result: Any, *, as_json: bool = False) -> None:
    """Show a task's result: its registered view, or JSON on stdout."""
    if as_json:
        # Bypass Rich so that nothing (markup, wrapping) can alter the document.
        sys.stdout.write(dumps(result) + "\n")
        sys.stdout.flush()
        return
    _consoles()[0].print(view_of(result))


def view_of(result: Any) -> RenderableType:
    """What a person sees of ``result``: its registered view, else its JSON."""
    for kind in type(result).__mro__:
        view = _VIEWS.get(kind)
        if view is not None:
            return view(result)
    return dumps(result)


def note(message: str) -> None:
    """A one-line remark for people (what clikd decided, which target it acts on)."""
    from rich.text import Text

    _consoles()[1].print(Text(message, style="dim"))


def warn(message: str) -> None:
    from rich.text import Text

    _consoles()[1].print(Text.assemble(("warning: ", "bold yellow"), message))


def success(message: str) -> None:
    from rich.text import Text

    _consoles()[1].print(Text.assemble(("✓ ", "bold green"), message))


def show_error(error: ClikdError, *, as_json: bool = False) -> None:
    """Print an error with its hint; the only place errors reach the terminal."""
    if as_json:
        sys.stdout.write(json.dumps(error.to_dict(), indent=2) + "\n")
        sys.stdout.flush()
    from rich.panel import Panel
    from rich.text import Text

    body = Text(error.message)
    for line in error.details:
        body.append("\n" + line, style="dim")
    if error.hint:
        body.append("\n\nhint: ", style="bold cyan")
        body.append(error.hint)
    _consoles()[1].print(
        Panel(body, title=f"[bold red]{error.title}[/]", title_align="left", border_style="red")
    )
