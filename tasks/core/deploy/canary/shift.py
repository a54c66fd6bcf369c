"""The shift itself: each step's weight set through the router, held while the analysis runs, and the
way back to stable when a check fails, Prometheus stops answering or a person interrupts.

Every change is written to the release record before the next one happens (see state.py), so a
killed CLI leaves a record that says exactly where it stopped. Ctrl+C (and SIGTERM, as CI cancels a
job) asks abort or hold in a terminal and aborts without one.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from tasks.core.deploy import releases
from tasks.core.deploy.canary.analysis import (
    Analysis,
    CheckResult,
    context_for,
    evaluate_all,
    failures,
)
from tasks.core.deploy.canary.prometheus import Prometheus
from tasks.core.deploy.canary.router import GatewayRouter, ReplicaRouter, Weights
from tasks.core.deploy.canary.state import RELEASE_STATUS, Abort, AbortCause, Shift
from tasks.core.deploy.kube import Kube
from tasks.core.deploy.model import Release
from tasks.core.errors import ClikdError, Conflict, ExitCode, Interrupted

Progress = Callable[[str], None]
TICK = 0.25  # seconds between two looks at the clock (and the progress line) while a step is held


class CanaryAborted(ClikdError):
    """The analysis failed (or Prometheus did not answer): traffic is back on the stable slot."""

    exit_code = ExitCode.CANARY_ABORTED
    title = "canary aborted"


class Watcher:
    """What a shift tells its onlooker (a Rich progress line, a test); each call returns at once."""

    def step(self, shift: Shift) -> None:
        """A step began: its weights are set and recorded."""

    def tick(self, shift: Shift, elapsed: float, rounds: int) -> None:
        """Part of a step's pause has passed (``rounds`` analysis rounds are planned for it)."""

    def round(self, shift: Shift, results: dict[str, list[CheckResult]]) -> None:
        """An analysis round was judged and recorded."""

    def end(self, shift: Shift) -> None:
        """The shift completed, was held or aborted."""


@dataclass
class Driver:
    kube: Kube
    release: Release
    shift: Shift
    router: GatewayRouter | ReplicaRouter
    analysis: Analysis
    prometheus: Prometheus | None  # None: a driver that only aborts (deploy.rollback)
    services: list[str]
    progress: Progress
    watcher: Watcher = field(default_factory=Watcher)
    lost: Callable[[], str | None] = lambda: None  # why the deploy lock was lost, if it was
    ask: Callable[[Shift], str] | None = None  # Ctrl+C in a terminal: "abort" or "hold"
    clock: Callable[[], float] = time.time

    # ------------------------------------------------------------------ record
    def save(self) -> None:
        self.release.shift = self.shift.to_dict()
        self.release.status = RELEASE_STATUS[self.shift.phase]
        releases.save(self.kube, self.release)

    # ------------------------------------------------------------------ steps
    def run(self) -> Shift:
        """From the recorded step to the last one; returns the completed shift or raises."""
        with _terminate_as_interrupt() as terminated:
            try:
                for index in range(self.shift.step, len(self.shift.steps)):
                    self._step(index)
            except KeyboardInterrupt:
                self._interrupted("terminated" if terminated() else "interrupt")
            except (CanaryAborted, Interrupted, Conflict):
                raise  # recorded already, or the lock is someone else's now: hands off the weights
            except ClikdError as exc:  # the cluster or the router failed mid-step: back to safety
                self.abort("error", f"the shift failed: {exc.message}", raise_error=False)
                raise
        self.shift.phase = "completed"
        self.watcher.end(self.shift)
        return self.shift

    def _step(self, index: int) -> None:
        shift = self.shift
        shift.step = index
        step = shift.current
        step.started, step.ended, step.rounds, step.outcome = self.clock(), None, 0, ""
        step.weights = _read(self.router.set_weight(step.weight))
        self.save()
        self.progress(
            f"step {index + 1}/{len(shift.steps)}: {step.weight} % to slot {shift.canary} "
            f"({_shares(step.weights)}); analysing for {_span(step.pause)}"
        )
        self.watcher.step(shift)
        self._hold(step.pause)
        step.ended, step.outcome = self.clock(), "passed"
        self.save()

    def _hold(self, pause: float) -> None:
        """Run the step's analysis rounds, evenly over ``pause`` (at least one, at its end)."""
        rounds = max(1, math.floor(pause / self.analysis.interval))
        started = time.monotonic()
        for k in range(1, rounds + 1):
            due = started + pause * k / rounds
            while (left := due - time.monotonic()) > 0:
                time.sleep(min(TICK, left))
                self.watcher.tick(self.shift, time.monotonic() - started, rounds)
            if (why := self.lost()) is not None:
                raise Conflict(
                    f"the deploy lock was lost during the shift ({why}); the weights were left as they are",
                    hint="see inv deploy.status; whoever holds the lock now owns the shift",
                )
            self._round()

    def _round(self) -> None:
        shift = self.shift
        step = shift.current
        results: dict[str, list[CheckResult]] = {}
        if self.prometheus is None:
            raise ValueError("a shift without a Prometheus cannot analyse")
        try:
            for service in self.services:
                context = context_for(service, shift.canary, self.release.namespace, self.analysis)
                results[service] = evaluate_all(self.analysis, context, self.prometheus)
        except ClikdError as exc:
            step.rounds += 1
            shift.failures += 1
            shift.failed.append({"step": shift.step + 1, "check": "prometheus", "reason": exc.message})
            self.save()
            if shift.failures >= self.analysis.failure_limit:
                self.abort("prometheus", f"Prometheus did not answer the analysis: {exc.message}")
            return
        step.rounds += 1
        shift.last_round = {s: {r.check: f"{r.outcome}: {r.reason}" for r in rs} for s, rs in results.items()}
        failed = [(service, r) for service, rs in results.items() for r in failures(rs)]
        for service, result in failed:
            shift.failures += 1
            shift.failed.append({"step": shift.step + 1, "service": service, **result.to_dict()})
        self.save()
        self.watcher.round(shift, results)
        if failed and shift.failures >= self.analysis.failure_limit:
            service, first = failed[0]
            self.abort(
                "analysis",
                f"{first.check} of {service} on slot {shift.canary}: {first.reason}",
                service=service,
                result=first,
            )

    # ------------------------------------------------------------------ the way back
    def abort(
        self,
        cause: AbortCause,
        reason: str,
        *,
        service: str | None = None,
        result: CheckResult | None = None,
        raise_error: bool = True,
    ) -> Shift:
        """Every route/Service back on the stable slot at once, then the canary scaled to 0; recorded."""
        shift = self.shift
        decided = self.clock()
        weights = _read(self.router.set_stable())
        stable = self.clock()
        if isinstance(self.router, GatewayRouter):  # the replica router scaled it already
            for name in self.services:
                self.kube.patch(
                    "Deployment", f"{name}-{shift.canary}", self.release.namespace, {"spec": {"replicas": 0}}
                )
        record = result.to_dict() if result is not None else {}
        shift.abort = Abort(
            cause=cause,
            reason=reason,
            decided=decided,
            stable=stable,
            step=shift.step + 1,
            check=result.check if result else None,
            service=service,
            query=result.query if result else None,
            value=record.get("value"),
            threshold=result.threshold if result else None,
            bound=result.bound if result else None,
        )
        shift.phase = "aborted"
        step = shift.current
        step.ended, step.weights = stable, weights
        step.outcome = "failed" if cause in ("analysis", "prometheus") else "interrupted"
        self.release.note = (self.release.note + "; " if self.release.note else "") + (
            f"canary aborted at step {shift.step + 1} ({step.weight} %): {reason}; "
            f"slot {shift.stable} has all traffic again ({shift.abort.seconds:.2f}s after the decision), "
            f"slot {shift.canary} scaled to 0"
        )
        self.save()
        self.watcher.end(shift)
        self.progress(
            f"aborted: {reason}; all traffic back on slot {shift.stable} in {shift.abort.seconds:.2f}s"
        )
        if raise_error:
            raise CanaryAborted(
                f"the canary was aborted at step {shift.step + 1}/{len(shift.steps)} "
                f"({step.weight} %): {reason}",
                hint=(
                    f"slot {shift.stable} serves everything again and slot {shift.canary} is scaled to 0; "
                    "see inv deploy.status --env production for the failed checks"
                ),
                details=_failure_details(shift),
            )
        return shift

    def hold(self) -> None:
        shift = self.shift
        shift.phase = "held"
        self.save()
        self.watcher.end(shift)
        raise Interrupted(
            f"the shift is held at step {shift.step + 1}/{len(shift.steps)} "
            f"({shift.current.weight} % to slot {shift.canary})",
            hint="inv deploy.production --resume continues it; inv deploy.rollback aborts it",
        )

    def _interrupted(self, cause: AbortCause) -> None:
        choice = "abort"
        if cause == "interrupt" and self.ask is not None:
            try:
                choice = self.ask(self.shift)
            except (KeyboardInterrupt, EOFError, ClikdError):
                choice = "abort"  # a second Ctrl+C at the question: the safe answer
        if choice == "hold":
            self.hold()
        self.abort(
            cause,
            "interrupted (Ctrl+C)" if cause == "interrupt" else "terminated (SIGTERM)",
            raise_error=False,
        )
        raise Interrupted(
            f"the shift was aborted at step {self.shift.step + 1}: "
            f"traffic is back on slot {self.shift.stable}",
            hint="inv deploy.production deploys again",
        )


def _span(seconds: float) -> str:
    return f"{seconds:g}s" if seconds < 120 else f"{seconds / 60:g}m"


def _read(weights: dict[str, Weights]) -> dict[str, list[int]]:
    return {ref: [w.stable, w.canary] for ref, w in sorted(weights.items())}


def _shares(weights: dict[str, list[int]]) -> str:
    seen = sorted({canary for _stable, canary in weights.values()})
    return "canary share " + "/".join(f"{c} %" for c in seen) if seen else "no routes"


def _failure_details(shift: Shift) -> list[str]:
    lines = []
    for failed in shift.failed:
        where = f"{failed.get('service')} " if failed.get("service") else ""
        lines.append(f"step {failed['step']}: {where}{failed['check']}: {failed['reason']}")
        if failed.get("query"):
            lines.append(f"  query: {failed['query']}")
    return lines


@contextmanager
def _terminate_as_interrupt() -> Iterator[Callable[[], bool]]:
    """SIGTERM (a cancelled CI job) raises KeyboardInterrupt like Ctrl+C, so the shift aborts cleanly."""
    seen = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield seen.is_set
        return

    def handler(_signum: int, _frame: object) -> None:
        seen.set()
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield seen.is_set
    finally:
        signal.signal(signal.SIGTERM, previous)
