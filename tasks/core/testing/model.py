"""What `clikd test` plans, runs and reports, as plain dataclasses (rendered in views.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from tasks.core.config.schema import ServiceTest

Kind = Literal["contract", "suite"]
CaseStatus = Literal["passed", "failed", "skipped", "error"]
# passed/failed: it ran; error: it could not run (no report, a timeout, no container);
# unchanged: not run, because a green record has exactly this content key (--force runs it).
Status = Literal["passed", "failed", "error", "unchanged"]


@dataclass(frozen=True)
class Planned:
    """One test of one service: its contract tests, or its own suite."""

    service: str
    suite: str  # "contract" or the suite's name
    kind: Kind
    config: ServiceTest


@dataclass(frozen=True)
class Case:
    """One test case of a run: an API operation (contract) or a test of the suite."""

    name: str
    status: CaseStatus
    message: str = ""  # contract: the failed checks (ST101 Server error, ...)
    output: str = ""  # contract: schemathesis' account with the curl line to reproduce it
    seconds: float = 0.0


@dataclass
class Outcome:
    """What became of one planned test."""

    service: str
    suite: str
    kind: Kind
    status: Status
    key: str
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0
    cases: list[Case] = field(default_factory=list)
    output: str = ""  # the end of what the run printed (kept for failures)
    where: str = ""  # contract: the URL tested; suite: container, one-off container or host
    recorded_at: str = ""  # unchanged: when the green run it stands on ran
    detail: str = ""  # one line: why it errored, or what ran

    @property
    def ok(self) -> bool:
        return self.status in ("passed", "unchanged")


@dataclass
class TestReport:
    """A `clikd test` run: every planned test and what became of it."""

    __test__ = False  # not a pytest test class

    branch: str
    commit: str
    dirty: bool
    what: str  # contract, suites or all
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0
    executed: int = 0  # tests that ran this time (0: nothing changed)
    notes: list[str] = field(default_factory=list)
    junit: str = ""  # the JUnit XML file written (--junit)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]


@dataclass(frozen=True)
class TestState:
    """Whether the commit being deployed has green tests (deploy's "Tests: Required")."""

    __test__ = False  # not a pytest test class

    state: Literal["green", "missing", "failed", "none"]
    commit: str
    detail: str
    required: list[str] = field(default_factory=list)  # service/suite of every configured test
    missing: list[str] = field(default_factory=list)  # no record for the commit (or its inputs changed)
    failing: list[str] = field(default_factory=list)  # the commit's latest record is red

    @property
    def green(self) -> bool:
        return self.state in ("green", "none")
