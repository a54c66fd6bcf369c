"""Contract tests: schemathesis against a service of the branch's stack, from the OpenAPI spec.

schemathesis runs as its own CLI (``python -m schemathesis.cli run``) in a process per service:
its JUnit report has one test case per API operation, with the failed checks as the message and
schemathesis' account (response, schema excerpt, the curl line that reproduces it) as the text, so
a failure is named by its operation without touching schemathesis' internal engine API; services
run side by side on separate cores (Hypothesis is not built for concurrent runs in one process);
and clikd's own cost is the process start a hand run pays as well. The Hypothesis example database
is off (``--generation-database none``) and the seed fixed, so a rerun sends the same requests;
its Unicode tables are kept in ``~/.cache/clikd/hypothesis``. Each run works in a temporary
folder (its report, its schemathesis.toml, schemathesis' crash files), removed afterwards.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from tasks.core.testing.model import Case, CaseStatus, Outcome, Planned

# schemathesis 4.32's auto sign-up reads a sign-up body's properties without resolving a $ref
# (StopIteration on the Clikd spec's RegisterRequest), so it is turned off: operations that need a
# token are tested without one and must answer their documented 401.
SCHEMATHESIS_TOML = "[auth]\nauto-signup = false\n"
OUTPUT_TAIL = 60  # lines of schemathesis' own output kept when it fails without a report
_CHECK_LINE = re.compile(r"^- (ST\d+ .+)$", re.MULTILINE)


def hypothesis_home() -> Path:
    """Hypothesis' storage kept between runs (its example database stays off): ~/.cache/clikd/hypothesis."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "clikd" / "hypothesis"


@dataclass(frozen=True)
class Budget:
    examples: int
    seed: int


def command(
    spec: Path, url: str, planned: Planned, budget: Budget, *, report: Path, config: Path
) -> list[str]:
    """The schemathesis command line for one service (also what bench/testing runs by hand)."""
    test = planned.config
    argv = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(config),
        "--no-color",
        "run",
        str(spec.resolve()),
        "--url",
        url,
        "--checks",
        ",".join(test.checks),
        "--phases",
        ",".join(test.phases),
        "--max-examples",
        str(budget.examples),
        "--seed",
        str(budget.seed),
        "--generation-database",
        "none",
        "--report",
        "junit",
        "--report-junit-path",
        str(report),
    ]
    for operation in test.operations:
        argv += ["--include-operation-id", operation]
    return argv


def parse_report(path: Path) -> list[Case]:
    """One case per operation from schemathesis' JUnit report."""
    root = ET.parse(path).getroot()  # noqa: S314  (schemathesis' own report, written just now)
    cases: list[Case] = []
    for case in root.iter("testcase"):
        name = case.get("name") or "?"
        seconds = float(case.get("time") or 0)
        failures = [c for c in case if c.tag in ("failure", "error")]
        if failures:
            text = "\n\n".join((c.text or "").strip() for c in failures)
            checks = _CHECK_LINE.findall(text)
            errors = [
                f"{c.get('type') or c.tag}: {(c.text or '').strip().splitlines()[0]}"
                for c in failures
                if c.tag == "error" and (c.text or "").strip()
            ]
            message = ", ".join(dict.fromkeys(checks)) or "; ".join(errors) or "failed"
            where = _requests_in(text) if name == "Stateful tests" else []
            if where:  # a sequence of calls: name the operations whose answers broke the contract
                message += f" (at {', '.join(where)})"
            bad: CaseStatus = "failed" if any(c.tag == "failure" for c in failures) else "error"
            cases.append(Case(name, bad, message, text, seconds))
        elif case.find("skipped") is not None:
            cases.append(Case(name, "skipped", (case.find("skipped").get("message") or ""), "", seconds))  # type: ignore[union-attr]
        else:
            cases.append(Case(name, "passed", "", "", seconds))
    return cases


def run(planned: Planned, spec: Path, url: str, budget: Budget, *, timeout: float) -> Outcome:
    """Run schemathesis for one service and read its report back; the key is filled in by the caller."""
    began = time.monotonic()
    outcome = Outcome(planned.service, planned.suite, "contract", "error", key="", where=url)
    with tempfile.TemporaryDirectory(prefix="clikd-contract-") as tmp:
        folder = Path(tmp)
        config = folder / "schemathesis.toml"
        config.write_text(SCHEMATHESIS_TOML, encoding="utf-8")
        report = folder / "junit.xml"
        argv = command(spec, url, planned, budget, report=report, config=config)
        # Hypothesis keeps its Unicode tables (and the constants it mines) in its storage folder,
        # cwd/.hypothesis by default: in a fresh folder it rebuilds them, about 1 s of CPU a run.
        env = {**os.environ, "NO_COLOR": "1", "HYPOTHESIS_STORAGE_DIRECTORY": str(hypothesis_home())}
        try:
            done = subprocess.run(
                argv, cwd=folder, env=env, capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired as exc:
            outcome.seconds = round(time.monotonic() - began, 3)
            outcome.detail = (
                f"schemathesis did not finish within {timeout:g}s ([services.{planned.service}.test] timeout)"
            )
            outcome.output = _text(exc.stdout) + _text(exc.stderr)
            return outcome
        printed = done.stdout + done.stderr
        outcome.seconds = round(time.monotonic() - began, 3)
        if not report.is_file():
            outcome.detail = f"schemathesis exited {done.returncode} without a report"
            outcome.output = "\n".join(printed.splitlines()[-OUTPUT_TAIL:])
            return outcome
        cases = parse_report(report)
    outcome.cases = cases
    outcome.passed = sum(c.status == "passed" for c in cases)
    outcome.failed = sum(c.status in ("failed", "error") for c in cases)
    outcome.skipped = sum(c.status == "skipped" for c in cases)
    tested = [c for c in cases if c.name != "Stateful tests"]
    if outcome.failed:
        outcome.status = "failed"
        outcome.detail = f"{outcome.failed} of {len(cases)} failed: " + ", ".join(
            c.name for c in cases if c.status in ("failed", "error")
        )
        outcome.output = "\n".join(printed.splitlines()[-OUTPUT_TAIL:])
    elif done.returncode != 0 or not tested:
        outcome.detail = f"schemathesis exited {done.returncode}" + (
            "" if tested else ": no operation tested"
        )
        outcome.output = "\n".join(printed.splitlines()[-OUTPUT_TAIL:])
    else:
        outcome.status = "passed"
        outcome.detail = (
            f"{len(tested)} operation(s), up to {budget.examples} examples each, seed {budget.seed}"
        )
    return outcome


_CURL = re.compile(r"curl -X (\w+) .*?https?://[^/\s']+(/[^\s'?]*)")


def _requests_in(text: str) -> list[str]:
    """``METHOD /path`` of each reproduction line of a stateful failure, in order, once each."""
    return list(dict.fromkeys(f"{m.group(1)} {m.group(2)}" for m in _CURL.finditer(text)))


def _text(data: str | bytes | None) -> str:
    if data is None:
        return ""
    return data.decode(errors="replace") if isinstance(data, bytes) else data
