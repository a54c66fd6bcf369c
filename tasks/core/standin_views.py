"""How env.standin looks to a person: a live line for the step at work, a line per finished step."""

from __future__ import annotations

from types import TracebackType

from rich.console import Group, RenderableType
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from tasks.core import console
from tasks.core.stack.model import Event, StepEvent
from tasks.core.standin import StandinResult
from tasks.core.tasking import name_program


class StandinReporter:
    """Progress of env.standin on stderr: the running step with its latest line and elapsed time."""

    def __init__(self) -> None:
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=console.err,
            transient=True,
        )
        self.tasks: dict[str, TaskID] = {}

    def __enter__(self) -> StandinReporter:
        self.progress.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.progress.stop()

    def __call__(self, event: Event) -> None:
        if not isinstance(event, StepEvent):
            return
        task = self.tasks.get(event.step)
        if event.done:
            if task is not None:
                self.progress.remove_task(task)
                del self.tasks[event.step]
            mark = "✓" if " built " in event.message or event.step in ("config", "engine") else "•"
            self.progress.console.print(Text(f"{mark} {event.message}", no_wrap=True, overflow="ellipsis"))
            return
        if task is None:
            self.tasks[event.step] = self.progress.add_task(event.message, total=None)
        else:
            self.progress.update(task, description=event.message)


@console.renders(StandinResult)
def _standin(result: StandinResult) -> RenderableType:
    table = Table(title=f"stand-in images ({result.prefix})", title_justify="left")
    for col in ("step", "image", "action", "time"):
        table.add_column(col)
    for step in result.steps:
        table.add_row(
            step.name, step.image, step.action, f"{step.seconds:.1f}s" if step.action == "built" else "—"
        )
    return Group(
        table,
        Text(
            f"✓ stand-in images ready in {result.seconds:.1f}s; config layer {result.config_layer}",
            style="bold green",
        ),
        Text(
            f"  next: {name_program(result.next_command)} (starts the stack on them, no registry needed)",
            style="dim",
        ),
    )
