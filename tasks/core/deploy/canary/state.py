"""A canary shift as the release record keeps it: the slots, the router, each step and why it stopped.

The record (``Release.shift``) is written at every change (a step begun, an analysis round, the end),
so deploy.status shows a shift in progress from any machine, ``deploy.production --resume`` knows
where to continue and deploy.rollback what to undo. Times are Unix seconds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Phase = Literal["shifting", "held", "completed", "aborted"]
# What stopped a shift: a failed analysis, Prometheus not answering, a person (Ctrl+C, rollback), a signal
AbortCause = Literal["analysis", "prometheus", "interrupt", "rollback", "terminated", "error", "smoke"]

RELEASE_STATUS: dict[Phase, str] = {
    "shifting": "shifting",
    "held": "held",
    "completed": "deployed",
    "aborted": "aborted",
}
IN_PROGRESS = ("shifting", "held")  # release statuses of a shift that is not over


@dataclass
class StepRecord:
    weight: int  # the canary's share asked for, in percent
    pause: float  # seconds the step is held while the analysis runs
    started: float | None = None
    ended: float | None = None
    rounds: int = 0  # analysis rounds run at this step
    outcome: str = ""  # "" while running | passed | failed | interrupted
    weights: dict[str, list[int]] = field(default_factory=dict)  # route/Service -> [stable, canary] read back


@dataclass
class Abort:
    cause: AbortCause
    reason: str
    decided: float  # when the shift was given up
    stable: float  # when every route/Service was read back on the stable slot
    step: int  # 1-based
    check: str | None = None
    service: str | None = None
    query: str | None = None
    value: object = None  # a number, or "NaN"/"+Inf" as text, or None for no data
    threshold: float | None = None
    bound: str | None = None

    @property
    def seconds(self) -> float:
        """Decision to stable."""
        return round(self.stable - self.decided, 3)


@dataclass
class Shift:
    stable: str  # the slot that served before (and keeps serving on an abort)
    canary: str  # the slot of the new release
    router: str  # gateway | replicas
    steps: list[StepRecord]
    step: int = 0  # 0-based index of the current (or last) step
    phase: Phase = "shifting"
    failures: int = 0  # failed checks so far (the shift aborts at the analysis' failure_limit)
    failed: list[dict[str, Any]] = field(default_factory=list)  # each failed check, with service and step
    last_round: dict[str, dict[str, str]] = field(default_factory=dict)  # service -> check -> reason
    abort: Abort | None = None
    resumed: int = 0  # how many times --resume picked it up

    @property
    def current(self) -> StepRecord:
        return self.steps[self.step]

    def weights(self) -> list[int]:
        return [s.weight for s in self.steps]

    def describe(self) -> str:
        """One line: where the shift stands."""
        step = self.current
        head = f"step {self.step + 1}/{len(self.steps)}, {step.weight} % to slot {self.canary}"
        if self.phase == "aborted" and self.abort is not None:
            return f"aborted at {head}: {self.abort.reason}"
        if self.phase == "completed":
            return f"completed: 100 % on slot {self.canary}"
        return f"{self.phase} at {head} ({self.router} router, stable slot {self.stable})"

    def to_dict(self) -> dict[str, Any]:
        doc = asdict(self)
        if self.abort is not None:
            doc["abort"]["seconds"] = self.abort.seconds
        return doc

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Shift:
        abort = doc.get("abort")
        if abort is not None:
            abort = Abort(**{k: v for k, v in abort.items() if k != "seconds"})
        return cls(
            stable=doc["stable"],
            canary=doc["canary"],
            router=doc["router"],
            steps=[StepRecord(**s) for s in doc.get("steps", [])],
            step=int(doc.get("step", 0)),
            phase=doc.get("phase", "shifting"),
            failures=int(doc.get("failures", 0)),
            failed=list(doc.get("failed", [])),
            last_round=dict(doc.get("last_round", {})),
            abort=abort,
            resumed=int(doc.get("resumed", 0)),
        )
