"""How a canary looks to a person: the plan's lines, a shift in deploy.status, the Rich progress line
of each step, and the Ctrl+C question."""

from __future__ import annotations

import datetime as dt
from typing import Any

from rich.console import Group, RenderableType
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn
from rich.text import Text

from tasks.core.deploy.canary.analysis import CheckResult
from tasks.core.deploy.canary.run import CanaryPlan
from tasks.core.deploy.canary.shift import Watcher
from tasks.core.deploy.canary.state import Shift


def plan_text(plan: CanaryPlan) -> Text:
    text = Text()
    text.append("canary", style="bold")
    steps = ", ".join(f"{w} % for {p:g}s" for w, p in plan.steps)
    text.append(f": steps {steps}\n")
    for line in plan.describe:
        text.append(f"  {line}\n", style="yellow" if plan.router == "replicas" else "")
    text.append(
        f"  analysis every {plan.interval:g}s per service ({', '.join(plan.services)}) against "
        f"{plan.prometheus}; {plan.failure_limit} failed check(s) abort and put all traffic back\n"
    )
    for check in plan.checks:
        text.append(f"    {check}\n", style="dim")
    return text


def _when(stamp: float | None) -> str:
    if stamp is None:
        return "-"
    return f"{dt.datetime.fromtimestamp(stamp, dt.UTC):%H:%M:%S}"


def shift_view(
    revision: int, doc: dict[str, Any], live: dict[str, list[int]] | None = None
) -> RenderableType:
    shift = Shift.from_dict(doc)
    style = {"aborted": "red", "completed": "green", "held": "yellow"}.get(shift.phase, "cyan")
    head = Text(f"canary revision {revision}: {shift.describe()}", style=style)
    rows = Text()
    for i, step in enumerate(shift.steps):
        mark = "→" if i == shift.step and shift.phase in ("shifting", "held") else " "
        outcome = step.outcome or ("running" if step.started else "")
        rows.append(
            f"{mark} step {i + 1}: {step.weight:>3} %  pause {step.pause:g}s  rounds {step.rounds}  "
            f"{_when(step.started)}-{_when(step.ended)}  {outcome}\n"
        )
    parts: list[RenderableType] = [head, rows]
    if live:
        shares = ", ".join(f"{ref} {s}/{c}" for ref, (s, c) in live.items())
        parts.append(Text(f"weights now (stable/canary): {shares}", style="dim"))
    if shift.abort is not None:
        a = shift.abort
        parts.append(
            Text(f"aborted ({a.cause}) {a.seconds:.2f}s from decision to stable: {a.reason}", style="red")
        )
        if a.query:
            parts.append(Text(f"  query: {a.query}", style="dim"))
    for service, checks in sorted(shift.last_round.items()):
        parts.append(Text(f"  {service}: " + "; ".join(f"{k} {v}" for k, v in checks.items()), style="dim"))
    return Group(*parts)


class RichWatcher(Watcher):
    """One Rich progress line per step (on stderr), its bar the step's pause."""

    def __init__(self) -> None:
        from tasks.core import console

        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[analysis]}"),
            TimeRemainingColumn(),
            console=console.err,
            transient=False,
        )
        self.task: TaskID | None = None
        self.started = False

    def step(self, shift: Shift) -> None:
        if not self.started:
            self.bar.start()
            self.started = True
        if self.task is not None:
            self.bar.update(self.task, completed=self.bar.tasks[-1].total)
        step = shift.current
        self.task = self.bar.add_task(
            f"step {shift.step + 1}/{len(shift.steps)} {step.weight:>3} %",
            total=max(step.pause, 0.001),
            analysis="analysis: waiting",
        )

    def tick(self, shift: Shift, elapsed: float, rounds: int) -> None:
        if self.task is not None:
            self.bar.update(self.task, completed=min(elapsed, shift.current.pause))

    def round(self, shift: Shift, results: dict[str, list[CheckResult]]) -> None:
        if self.task is None:
            return
        bad = sum(1 for rs in results.values() for r in rs if not r.passed)
        total = sum(len(rs) for rs in results.values())
        self.bar.update(
            self.task,
            analysis=f"analysis round {shift.current.rounds}: {total - bad}/{total} passed",
        )

    def end(self, shift: Shift) -> None:
        if self.started:
            self.bar.stop()
            self.started = False


def ask_abort_or_hold(shift: Shift) -> str:
    """Ctrl+C during a shift, in a terminal: abort (the default) or hold the weights as they are."""
    from tasks.core import console

    console.err.print(
        f"\nCtrl+C at step {shift.step + 1}/{len(shift.steps)} ({shift.current.weight} % to slot "
        f"{shift.canary}). [a]bort: all traffic back to slot {shift.stable} (default); "
        "[h]old: keep the weights, resume later with --resume"
    )
    answer = input("abort or hold? [A/h] ").strip().lower()
    return "hold" if answer in ("h", "hold") else "abort"
