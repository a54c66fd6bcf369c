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
from collections.abc import Callable, Iterable, Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

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


# --- tables -------------------------------------------------------------------------------------
#
# Every table clikd prints goes through :func:`table`. The rule: a status, a name, a number or a
# path is never cut short with an ellipsis. Statuses, names and numbers are kept on one line at
# their full width; paths and free text fold onto more lines. When the terminal is too narrow
# for every column's minimum width, the columns that matter least are left out (highest ``drop``
# first) and a dim line says which, since ``--json`` always has everything.

ColumnKind = Literal["status", "name", "number", "path", "text"]
_WHOLE: tuple[ColumnKind, ...] = ("status", "name", "number")
_FOLD_MIN = {"path": 24, "text": 12}


@dataclasses.dataclass(frozen=True)
class Column:
    """One column of a :func:`table`: its header, what kind of value it holds, and how readily it
    is left out on a narrow terminal (``drop`` 0: never; higher numbers go first)."""

    header: str
    kind: ColumnKind = "text"
    drop: int = 0
    justify: Literal["left", "right", "center"] | None = None


def table(columns: Sequence[Column], rows: Iterable[Sequence[Any]], **options: Any) -> FittedTable:
    """A table that fits the terminal without truncating values (see the rule above).

    ``rows`` hold plain strings or Rich renderables (``Text``); ``options`` go to Rich's ``Table``
    (``title``, ``box``, ``show_header``, ``pad_edge``, ``caption`` ...).
    """
    return FittedTable(list(columns), [list(r) for r in rows], options)


def _cell_width(cell: Any) -> int:
    from rich.cells import cell_len

    plain = cell.plain if hasattr(cell, "plain") else str(cell)
    return max((cell_len(line) for line in plain.splitlines()), default=0)


class FittedTable:
    """A Rich renderable that picks its columns for the width it is given at render time."""

    def __init__(self, columns: list[Column], rows: list[list[Any]], options: dict[str, Any]) -> None:
        self.columns = columns
        self.rows = rows
        self.options = {"title_justify": "left", **options}

    def min_width(self, index: int) -> int:
        """The narrowest a column may be: whole values for statuses, names and numbers."""
        column = self.columns[index]
        widest = max([_cell_width(column.header), *(_cell_width(r[index]) for r in self.rows)])
        if column.kind in _WHOLE:
            return widest
        head = max((_cell_width(w) for w in column.header.split()), default=0)
        return max(head, min(widest, _FOLD_MIN[column.kind]))

    def _overhead(self, count: int) -> int:
        """Width taken by borders and padding for ``count`` columns."""
        from rich import box
        from rich.padding import Padding

        _top, right, _bottom, left = Padding.unpack(self.options.get("padding", (0, 1)))
        pad = (left + right) * count
        if not self.options.get("pad_edge", True):
            pad -= left + right
        frame = self.options.get("box", box.HEAVY_HEAD)
        lines = 0
        if frame is not None:
            lines = count - 1 + (2 if self.options.get("show_edge", True) else 0)
        return pad + lines

    def fit(self, width: int) -> tuple[list[int], list[str]]:
        """The indexes of the columns that fit in ``width`` and the headers left out."""
        keep = list(range(len(self.columns)))
        mins = [self.min_width(i) for i in keep]
        by_priority = sorted(
            (i for i in keep if self.columns[i].drop > 0), key=lambda i: (-self.columns[i].drop, -i)
        )
        dropped: list[str] = []
        for index in by_priority:
            if sum(mins[i] for i in keep) + self._overhead(len(keep)) <= width:
                break
            keep.remove(index)
            dropped.append(self.columns[index].header)
        return keep, dropped

    def build(self, width: int) -> tuple[Any, list[str]]:
        from rich.table import Table

        keep, dropped = self.fit(width)
        crowded = sum(self.min_width(i) for i in keep) + self._overhead(len(keep)) > width
        table = Table(**self.options)
        for i in keep:
            column = self.columns[i]
            justify = column.justify or ("right" if column.kind == "number" else "left")
            # Even when nothing more can be left out, values fold rather than lose characters.
            no_wrap = column.kind in _WHOLE and not crowded
            table.add_column(column.header, justify=justify, no_wrap=no_wrap, overflow="fold")
        for row in self.rows:
            table.add_row(*(row[i] for i in keep))
        return table, dropped

    def __rich_console__(self, console: Console, options: Any) -> Any:
        from rich.text import Text

        table, dropped = self.build(options.max_width)
        yield table
        if dropped:
            yield Text(
                f"left out at this width: {', '.join(dropped)} (--json has every column)",
                style="dim",
            )

    def __rich_measure__(self, console: Console, options: Any) -> Any:
        from rich.measure import Measurement

        return Measurement.get(console, options, self.build(options.max_width)[0])
