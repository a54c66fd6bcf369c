"""The run as JUnit XML, the format CI systems read (Jenkins, GitLab, GitHub's test reporters).

One ``<testsuite>`` per service and suite (``api.contract``, ``api.suite``), one ``<testcase>`` per
API operation or test; a test that was not run because nothing changed carries the cases of the
green record it stands on and the property ``clikd.unchanged = true``. Written with
:mod:`xml.etree.ElementTree`, then renamed into place.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

from tasks.core.testing.model import Outcome, TestReport

TEXT_KEPT = 20000  # characters of a failure's text per case


def _suite(outcome: Outcome) -> ET.Element:
    cases = outcome.cases
    failures = sum(c.status == "failed" for c in cases)
    errors = sum(c.status == "error" for c in cases) + (1 if outcome.status == "error" and not cases else 0)
    suite = ET.Element(
        "testsuite",
        name=f"{outcome.service}.{outcome.suite}",
        tests=str(max(len(cases), 1 if outcome.status == "error" else 0)),
        failures=str(failures),
        errors=str(errors),
        skipped=str(sum(c.status == "skipped" for c in cases)),
        time=f"{outcome.seconds:.3f}",
    )
    props = ET.SubElement(suite, "properties")
    for name, value in (
        ("clikd.service", outcome.service),
        ("clikd.kind", outcome.kind),
        ("clikd.where", outcome.where),
        ("clikd.key", outcome.key),
        ("clikd.unchanged", "true" if outcome.status == "unchanged" else "false"),
    ):
        ET.SubElement(props, "property", name=name, value=value)
    for case in cases:
        element = ET.SubElement(
            suite,
            "testcase",
            name=case.name,
            classname=f"{outcome.service}.{outcome.suite}",
            time=f"{case.seconds:.3f}",
        )
        if case.status in ("failed", "error"):
            tag = "failure" if case.status == "failed" else "error"
            ET.SubElement(element, tag, message=case.message, type=tag).text = case.output[:TEXT_KEPT]
        elif case.status == "skipped":
            ET.SubElement(element, "skipped", message=case.message)
    if outcome.status == "error" and not cases:
        element = ET.SubElement(
            suite, "testcase", name=outcome.suite, classname=f"{outcome.service}.{outcome.suite}"
        )
        ET.SubElement(element, "error", message=outcome.detail, type="error").text = outcome.output[
            :TEXT_KEPT
        ]
    return suite


def document(report: TestReport) -> ET.ElementTree:
    suites = [_suite(o) for o in report.outcomes]
    root = ET.Element(
        "testsuites",
        name=f"clikd test ({report.what}) on {report.branch}",
        tests=str(sum(int(s.get("tests", "0")) for s in suites)),
        failures=str(sum(int(s.get("failures", "0")) for s in suites)),
        errors=str(sum(int(s.get("errors", "0")) for s in suites)),
        skipped=str(sum(int(s.get("skipped", "0")) for s in suites)),
        time=f"{report.seconds:.3f}",
    )
    root.extend(suites)
    ET.indent(root)
    return ET.ElementTree(root)


def write(report: TestReport, path: Path) -> Path:
    """Write the report to ``path`` whole (a reader never sees half a file)."""
    path = path.resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    document(report).write(tmp, encoding="utf-8", xml_declaration=True)
    tmp.replace(path)
    return path
