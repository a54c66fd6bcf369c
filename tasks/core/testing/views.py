"""How `clikd test` looks to a person: a line per service while it runs, then the table and failures."""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import Any

from rich.console import Group, RenderableType
from rich.text import Text

from tasks.core import console
from tasks.core.console import Column, renders, table
from tasks.core.testing.model import Outcome, TestReport

STYLE = {"passed": "green", "failed": "red", "error": "red", "unchanged": "cyan"}
OUTPUT_SHOWN = 40  # lines of a failure's text shown under the table (--json and --junit have it whole)


def _when(stamp: str) -> str:
    return stamp.replace("T", " ").removesuffix("+00:00") + " UTC" if stamp else "?"


def _result(outcome: Outcome) -> Text:
    if outcome.status == "unchanged":
        return Text("unchanged", style=STYLE["unchanged"])
    return Text(outcome.status, style=STYLE[outcome.status])


def _failures(report: TestReport) -> list[RenderableType]:
    parts: list[RenderableType] = []
    for outcome in report.failed:
        head = Text.assemble(("✗ ", "bold red"), (f"{outcome.service} {outcome.suite}", "bold"))
        if outcome.detail:
            head.append(f": {outcome.detail}")
        parts.append(head)
        bad = [c for c in outcome.cases if c.status in ("failed", "error")]
        for case in bad:
            parts.append(Text.assemble("  ", (case.name, "bold"), f"  {case.message}"))
        text = (bad[0].output if bad and bad[0].output else outcome.output).strip()
        if text:
            lines = text.splitlines()
            shown = "\n".join("    " + line for line in lines[:OUTPUT_SHOWN])
            more = len(lines) - OUTPUT_SHOWN
            parts.append(
                Text(
                    shown + (f"\n    ... {more} more lines (--json or --junit FILE)" if more > 0 else ""),
                    style="dim",
                )
            )
    return parts


@renders(TestReport)
def report_view(report: TestReport) -> RenderableType:
    rows = []
    for o in report.outcomes:
        took = f"({o.seconds:.1f}s)" if o.status == "unchanged" else f"{o.seconds:.1f}s"
        rows.append([o.service, o.suite, _result(o), str(o.passed), str(o.failed), str(o.skipped), took])
    columns = [
        Column("service", "name"),
        Column("suite", "name"),
        Column("result", "status"),
        Column("passed", "number"),
        Column("failed", "number"),
        Column("skipped", "number"),
        Column("seconds", "text", drop=1),
    ]
    parts: list[RenderableType] = []
    if rows:
        parts.append(
            table(
                columns,
                rows,
                title=f"tests of {report.branch} at {report.commit[:12] or '(no commit)'}"
                + (" (uncommitted changes)" if report.dirty else ""),
            )
        )
    parts.extend(Text(note, style="dim") for note in report.notes)
    unchanged = [o for o in report.outcomes if o.status == "unchanged"]
    newest = max((o.recorded_at for o in unchanged), default="")
    if report.outcomes and not report.executed:
        parts.append(
            Text(
                f"nothing changed: {len(unchanged)} test(s) not run, their green records stand "
                f"(newest {_when(newest)}; --force runs them)",
                style="cyan",
            )
        )
    elif unchanged:
        parts.append(
            Text(
                f"{len(unchanged)} unchanged test(s) not run, green since {_when(newest)} (--force runs it)",
                style="dim",
            )
        )
    if report.junit:
        parts.append(Text(f"JUnit XML: {report.junit}", style="dim"))
    parts.extend(_failures(report))
    if report.executed and not report.failed:
        parts.append(Text(f"✓ {report.executed} test(s) passed in {report.seconds:.1f}s", style="bold green"))
    return Group(*parts)


class ServiceLines:
    """One line per service while the tests run: live on a terminal, else a line per change."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.live: Any = None
        self.lines: dict[str, str] = {}
        self.began: dict[str, float] = {}
        self.lock = threading.Lock()

    def __enter__(self) -> ServiceLines:
        if self.enabled and console.err.is_terminal:
            from rich.live import Live

            self.live = Live(self._render(), console=console.err, refresh_per_second=4, transient=False)
            self.live.__enter__()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.live is not None:
            self.live.update(self._render())
            self.live.__exit__(kind, value, tb)

    def _render(self) -> RenderableType:
        width = max((len(s) for s in self.lines), default=0)
        rows = []
        for service, text in self.lines.items():
            style = (
                "red" if "failed" in text or "error" in text else "green" if text.endswith("passed") else ""
            )
            took = time.monotonic() - self.began.get(service, time.monotonic())
            rows.append(
                Text.assemble((f"{service:<{width}}  ", "bold"), (text, style), (f"  {took:.0f}s", "dim"))
            )
        return Group(*rows)

    def __call__(self, service: str, text: str, done: bool) -> None:
        if not self.enabled:
            return
        with self.lock:
            self.began.setdefault(service, time.monotonic())
            self.lines[service] = text
            if self.live is not None:
                self.live.update(self._render())
            elif done or text.endswith(": running"):
                console.note(f"{service}: {text}")
