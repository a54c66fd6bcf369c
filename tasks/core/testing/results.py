"""The branch's test records on this machine: one JSON file per project and branch.

``$XDG_STATE_HOME/clikd/tests/<project>-<branch>.json`` (beside the locks and port claims) holds the
newest record of each content key (keys.py): whether it passed, its counts and cases, and the
commits (with a clean tree) it ran at or was confirmed at. An unchanged rerun finds a passed record
of the same key, runs nothing and adds its commit to the record; a deploy looks for passed records
at its commit (:func:`state_for_commit`). The file is replaced whole (write, then rename), so a
reader never sees half of it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tasks.core.branch import BranchIdentity
from tasks.core.locking import state_dir
from tasks.core.testing.model import Case, Outcome, TestState

KEEP = 200  # records kept per branch, newest first
COMMITS_KEPT = 20  # commits remembered per record
OUTPUT_KEPT = 8000  # characters of a failed run's output kept in its record


def records_path(ident: BranchIdentity) -> Path:
    return state_dir() / "tests" / f"{ident.project}-{ident.slug}.json"


class Records:
    """The records of one branch, read once; :meth:`save` writes them back."""

    def __init__(self, ident: BranchIdentity) -> None:
        self.path = records_path(ident)
        self.by_key: dict[str, dict[str, Any]] = {}
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            doc = {}
        for record in doc.get("records", []) if isinstance(doc, dict) else []:
            if isinstance(record, dict) and isinstance(record.get("key"), str):
                self.by_key[record["key"]] = record

    def green(self, key: str) -> dict[str, Any] | None:
        """The passed record of ``key``, if there is one."""
        record = self.by_key.get(key)
        return record if record and record.get("status") == "passed" else None

    def confirm(self, key: str, commit: str, dirty: bool) -> bool:
        """Note that ``key``'s passed record holds at ``commit`` too; True when that is news."""
        record = self.by_key.get(key)
        if record is None or dirty or not commit or commit in record.get("commits", []):
            return False
        record["commits"] = [commit, *record.get("commits", [])][:COMMITS_KEPT]
        return True

    def add(self, outcome: Outcome, *, inputs: str, identity: str, commit: str, dirty: bool) -> None:
        output = outcome.output if outcome.status != "passed" else ""
        self.by_key[outcome.key] = {
            "key": outcome.key,
            "inputs": inputs,
            "identity": identity,
            "service": outcome.service,
            "suite": outcome.suite,
            "kind": outcome.kind,
            "status": outcome.status,
            "passed": outcome.passed,
            "failed": outcome.failed,
            "skipped": outcome.skipped,
            "seconds": outcome.seconds,
            "where": outcome.where,
            "detail": outcome.detail,
            "cases": [asdict(c) for c in outcome.cases],
            "output": output[-OUTPUT_KEPT:],
            "commit": commit,
            "dirty": dirty,
            "commits": [commit] if commit and not dirty else [],
            "time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }

    def save(self) -> None:
        newest = sorted(self.by_key.values(), key=lambda r: str(r.get("time", "")), reverse=True)[:KEEP]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".tests-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump({"version": 1, "records": newest}, out, indent=1)
        Path(tmp).replace(self.path)


def outcome_of(record: dict[str, Any], planned_key: str) -> Outcome:
    """The ``unchanged`` outcome a passed record stands for (nothing ran)."""
    cases = [
        Case(c["name"], c["status"], c.get("message", ""), c.get("output", ""), float(c.get("seconds", 0)))
        for c in record.get("cases", [])
    ]
    return Outcome(
        service=str(record["service"]),
        suite=str(record["suite"]),
        kind=record["kind"],
        status="unchanged",
        key=planned_key,
        passed=int(record.get("passed", 0)),
        failed=int(record.get("failed", 0)),
        skipped=int(record.get("skipped", 0)),
        seconds=float(record.get("seconds", 0.0)),
        cases=cases,
        where=str(record.get("where", "")),
        recorded_at=str(record.get("time", "")),
        detail=str(record.get("detail", "")),
    )


def state_for_commit(ident: BranchIdentity, commit: str, required: dict[str, str]) -> TestState:
    """Whether every required test (``service/suite`` -> inputs digest) passed at ``commit``.

    A record counts when it ran (or an unchanged rerun confirmed it) at ``commit`` with a clean tree
    and has the same inputs (spec, test table, budget) as now. The newest such record of each test
    decides: red if it failed.
    """
    names = sorted(required)
    if not required:
        return TestState("none", commit, "no tests configured ([services.NAME.test])")
    if not commit:
        return TestState("missing", commit, "no git commit to look up", names, names)
    records = Records(ident).by_key.values()
    missing: list[str] = []
    failing: list[str] = []
    for name in names:
        service, suite = name.split("/", 1)
        mine = [
            r
            for r in records
            if r.get("service") == service
            and r.get("suite") == suite
            and commit in r.get("commits", [])
            and r.get("inputs") == required[name]
        ]
        if not mine:
            missing.append(name)
        elif max(mine, key=lambda r: str(r.get("time", ""))).get("status") != "passed":
            failing.append(name)
    short = commit[:12]
    if failing:
        detail = f"failed at {short}: {', '.join(failing)}"
        return TestState("failed", commit, detail, names, missing, failing)
    if missing:
        detail = f"no green record at {short} for {', '.join(missing)}"
        return TestState("missing", commit, detail, names, missing, failing)
    return TestState("green", commit, f"{len(names)} test(s) green at {short}", names)
