"""The analysis of one canary step: PromQL checks with a bound, evaluated per service and slot.

A check is a query with placeholders ({service}, {slot}, {namespace}, {interval}) and either a
``max`` (the value must stay at or below it) or a ``min`` (at or above). Only a number within the
bound passes: an empty answer ("no data") and NaN (0/0: no requests in the interval) fail, each with
its own reason, since an analysis that cannot see the canary must not wave it through.

The default checks are Flagger's: request success rate >= 99 % and p99 latency <= 500 ms, written
against ``http_requests_total{service,slot,code}`` and ``http_request_duration_seconds_bucket
{service,slot,le}``; a project whose metrics are named otherwise writes its own checks.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from tasks.core.config import schema
from tasks.core.deploy.canary.prometheus import Prometheus, PrometheusResultError, describe

Bound = Literal["max", "min"]

# The ratio of non-5xx requests. `or vector(0)` keeps a slot that answers nothing but 5xx at 0 rather
# than no data (its numerator has no series at all); without traffic the denominator is empty, so
# the whole answer is.
SUCCESS_RATE = (
    '(sum(rate(http_requests_total{service="{service}",slot="{slot}",code!~"5.."}[{interval}]))'
    " or vector(0))"
    ' / sum(rate(http_requests_total{service="{service}",slot="{slot}"}[{interval}]))'
)
P99_LATENCY = (
    "histogram_quantile(0.99, sum by (le) "
    '(rate(http_request_duration_seconds_bucket{service="{service}",slot="{slot}"}[{interval}])))'
)


@dataclass(frozen=True)
class Check:
    name: str
    query: str
    max: float | None = None
    min: float | None = None

    def __post_init__(self) -> None:
        if (self.max is None) == (self.min is None):
            raise ValueError(f"check {self.name!r} needs exactly one of max and min")

    @property
    def bound(self) -> Bound:
        return "max" if self.max is not None else "min"

    @property
    def threshold(self) -> float:
        if self.max is not None:
            return self.max
        if self.min is not None:
            return self.min
        raise ValueError(f"check {self.name!r} has no bound")  # refused by __post_init__

    def allows(self, value: float) -> bool:
        return value <= self.threshold if self.bound == "max" else value >= self.threshold


DEFAULT_CHECKS: tuple[Check, ...] = (
    Check("request-success-rate", SUCCESS_RATE, min=0.99),
    Check("request-duration-p99", P99_LATENCY, max=0.5),
)


@dataclass(frozen=True)
class Analysis:
    interval: float  # seconds between rounds, and the range of rate() in the queries
    failure_limit: int  # failed checks in one shift that abort it
    checks: tuple[Check, ...] = DEFAULT_CHECKS

    @classmethod
    def from_settings(cls, section: schema.Analysis) -> Analysis:
        checks = (
            DEFAULT_CHECKS
            if section.checks is None
            else tuple(Check(c.name, c.query, max=c.max, min=c.min) for c in section.checks)
        )
        return cls(section.interval_seconds, section.failure_limit, checks)


def promql_duration(seconds: float) -> str:
    """``seconds`` as a PromQL range: whole seconds as "60s", anything finer in milliseconds."""
    if seconds <= 0:
        raise ValueError(f"a range must be positive, not {seconds!r}")
    if float(seconds).is_integer():
        return f"{int(seconds)}s"
    return f"{round(seconds * 1000)}ms"


PLACEHOLDER = re.compile(r"\{(service|slot|namespace|interval)\}")


@dataclass(frozen=True)
class Context:
    """What a check's placeholders stand for at one step."""

    service: str
    slot: str
    namespace: str
    interval: float  # seconds

    def values(self) -> dict[str, str]:
        def quoted(text: str) -> str:  # safe inside a PromQL "..." string
            return text.replace("\\", "\\\\").replace('"', '\\"')

        return {
            "service": quoted(self.service),
            "slot": quoted(self.slot),
            "namespace": quoted(self.namespace),
            "interval": promql_duration(self.interval),
        }


def render(query: str, context: Context) -> str:
    """``query`` with its placeholders filled in (PromQL's own braces are left as they are)."""
    values = context.values()
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], query)


class Outcome(StrEnum):
    PASSED = "passed"
    FAILED = "failed"  # a number outside the bound
    NO_DATA = "no data"  # an empty answer
    NAN = "NaN"


@dataclass(frozen=True)
class CheckResult:
    check: str
    query: str  # as sent, placeholders filled in
    outcome: Outcome
    value: float | None  # None when there was no data
    bound: Bound
    threshold: float
    reason: str
    at: float  # Unix seconds of the evaluation
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.outcome is Outcome.PASSED

    def to_dict(self) -> dict[str, object]:
        """For a release record (JSON): NaN and infinities as text."""
        value: object = None
        if self.value is not None:
            value = self.value if math.isfinite(self.value) else describe(self.value)
        return {
            "check": self.check,
            "query": self.query,
            "outcome": str(self.outcome),
            "value": value,
            "bound": self.bound,
            "threshold": self.threshold,
            "reason": self.reason,
            "at": self.at,
        }


def judge(check: Check, query: str, values: Iterable[float], at: float) -> CheckResult:
    """The result of ``check`` from the values its (rendered) ``query`` gave."""
    found = list(values)
    bound, threshold = check.bound, check.threshold
    sign = "<=" if bound == "max" else ">="
    limit = f"{bound} {describe(threshold)}"
    if len(found) > 1:
        raise PrometheusResultError(
            f"check {check.name!r} gave {len(found)} series, not one value: {query}",
            hint="aggregate the query (sum(...), max(...), or sum by () (...)) so it gives one number",
        )
    if not found:
        reason = (
            f"no data: the query returned no series, which is not a pass ({limit}); does the slot get "
            "traffic, is it scraped, and do the metric and label names match?"
        )
        return CheckResult(check.name, query, Outcome.NO_DATA, None, bound, threshold, reason, at)
    value = found[0]
    if math.isnan(value):
        reason = (
            f"NaN, which is not a pass ({limit}): usually 0/0, no requests in the interval "
            "(or none in the histogram's buckets)"
        )
        return CheckResult(check.name, query, Outcome.NAN, value, bound, threshold, reason, at)
    if check.allows(value):
        reason = f"{describe(value)} {sign} {describe(threshold)}"
        return CheckResult(check.name, query, Outcome.PASSED, value, bound, threshold, reason, at)
    side = "above the maximum" if bound == "max" else "below the minimum"
    reason = f"{describe(value)} is {side} {describe(threshold)}"
    return CheckResult(check.name, query, Outcome.FAILED, value, bound, threshold, reason, at)


def evaluate(check: Check, context: Context, client: Prometheus, *, at: float | None = None) -> CheckResult:
    """Run ``check`` for one service and slot. Prometheus's own failures raise (the caller decides
    whether an unreachable Prometheus counts as a failed step)."""
    query = render(check.query, context)
    when = time.time() if at is None else at
    result = client.query(query, at=when)
    return judge(check, query, (sample.value for sample in result.samples), when)


def evaluate_all(analysis: Analysis, context: Context, client: Prometheus) -> list[CheckResult]:
    """Every check of ``analysis`` at the same instant."""
    when = time.time()
    return [evaluate(check, context, client, at=when) for check in analysis.checks]


def failures(results: Iterable[CheckResult]) -> list[CheckResult]:
    return [result for result in results if not result.passed]


def context_for(service: str, slot: str, namespace: str, analysis: Analysis) -> Context:
    return Context(service=service, slot=slot, namespace=namespace, interval=analysis.interval)


def summary(results: Iterable[CheckResult]) -> Mapping[str, str]:
    """check name -> its reason, for a plan or a record."""
    return {result.check: f"{result.outcome}: {result.reason}" for result in results}
