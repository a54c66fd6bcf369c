"""Tables at 80 columns: no status, name, number or path is cut short; narrow terminals drop columns."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from tasks.core import console
from tasks.core.codegen.run import GenReport, LanguageResult
from tasks.core.console import Column
from tasks.core.stack.model import Action, ComponentResult, Environment, EnvironmentList, StartResult

ROOT = Path(__file__).resolve().parents[2]
BRANCH = "feature/very-long-branch-name-for-the-billing-reconciliation-rework-2026"


def render(result: Any, width: int = 80) -> str:
    """``result`` through its real registered view on a console of ``width`` columns."""
    import tasks.core.codegen.view
    import tasks.core.stack.views  # noqa: F401  (registers the views)

    term = Console(width=width, file=io.StringIO(), highlight=False, soft_wrap=False, record=True)
    term.print(console.view_of(result))
    return term.export_text()


def on_one_line(value: str, text: str) -> bool:
    return any(value in line for line in text.splitlines())


def folded(value: str, text: str) -> bool:
    """``value`` is shown whole, possibly folded: each piece ends a cell and the rest follows on the
    next line."""
    lines = text.splitlines()
    return any(_pieces(value, lines, i) for i in range(len(lines)))


def _pieces(rest: str, lines: list[str], i: int) -> bool:
    if i >= len(lines):
        return False
    if rest in lines[i]:
        return True
    for k in range(len(rest) - 1, 3, -1):
        if re.search(re.escape(rest[:k]) + r"(?=[ │┃]|$)", lines[i]) and _pieces(rest[k:], lines, i + 1):
            return True
    return False


def test_gen_summary_keeps_languages_statuses_numbers_and_paths_whole() -> None:
    out = "/home/someone/projects/clikd-platform/packages/generated-clients"
    results = [
        LanguageResult(lang, f"{out}/{lang}", status, 1234, 567, 89, 4321, 7_654_321, 12.34)
        for lang, status in (
            ("typescript", "generated"),
            ("python", "unchanged"),
            ("kotlin", "generated"),
            ("swift", "current"),
        )
    ]
    results.append(
        LanguageResult("python", f"{out}/python-refused", "failed", error="schema Pet: enum values collide")
    )
    report = GenReport("/home/someone/specs/openapi.yaml", "d" * 64, False, results, 41.5)
    text = render(report)
    assert "…" not in text
    for r in results:
        for whole in (r.language, r.status, "12.34 s"):
            assert on_one_line(whole, text), (whole, text)
        assert folded(r.output, text), (r.output, text)
    # a number is shown whole or its column is left out, and the dim line says so
    note = " ".join(text.split()).split("left out at this width:")[-1]
    for header, whole in (("size", "7.3 MB"), ("files", "4321"), ("models", "1234"), ("endpoints", "567")):
        assert on_one_line(whole, text) or header in note, (header, text)


def test_env_start_keeps_the_url_whole() -> None:
    names = ["gateway", "billing-reconciliation", "postgres", "keydb", "scylla"]
    comps = [
        ComponentResult(
            name,
            "service",
            "recreate",
            healthy=i != 1,
            seconds=12.3 + i,
            url=f"http://{name}.{BRANCH.replace('/', '-')}.localhost:{18000 + i}/health/ready",
            probe_ms=3.0,
        )
        for i, name in enumerate(names)
    ]
    actions = [Action(n, "recreate", "image changed from an older digest") for n in names]
    result = StartResult(BRANCH, "clikd", f"clikd-{BRANCH}", True, 31.2, actions, comps)
    text = render(result)
    assert "…" not in text
    for c in comps:
        assert on_one_line(c.name, text)
        assert folded(c.url, text), (c.url, text)
    assert on_one_line("unhealthy", text) and on_one_line("healthy", text)


def test_env_list_keeps_branch_names_whole() -> None:
    envs = EnvironmentList(
        "clikd",
        [
            Environment(BRANCH, "running", 7, 7, ["a", "b"], 1_234_567_890, [18001, 18002, 18003, 18004]),
            Environment("main", "data-only", 0, 0, ["a"], 12345, [], branch_exists=False),
        ],
    )
    text = render(envs)
    assert "…" not in text
    # a name wider than the terminal allows folds rather than being cut
    assert folded(BRANCH, text), text
    for whole in ("running", "data-only", "main"):
        assert on_one_line(whole, text), (whole, text)
    # a realistic branch name leaves room for more columns
    envs.environments[0].branch = "feature/billing-reconciliation"
    text = render(envs)
    assert "…" not in text
    for whole in ("feature/billing-reconciliation", "running", "data-only", "main", "1.1 GiB"):
        assert on_one_line(whole, text), (whole, text)


def test_narrow_terminal_drops_the_least_useful_columns_first() -> None:
    columns = [
        Column("component", "name"),
        Column("health", "status"),
        Column("probe", "number", drop=3),
        Column("ready at", "number", drop=2),
        Column("url", "path", drop=1),
    ]
    rows = [["billing-reconciliation", "unhealthy", "1234 ms", "98.7s", "http://billing.localhost:18001/"]]
    table = console.table(columns, rows, title="t")
    keep, dropped = table.fit(70)
    assert dropped == ["probe", "ready at"]
    assert [columns[i].header for i in keep] == ["component", "health", "url"]
    term = Console(width=70, file=io.StringIO(), record=True)
    term.print(table)
    text = term.export_text()
    assert "…" not in text
    assert on_one_line("billing-reconciliation", text) and on_one_line("unhealthy", text)
    assert "1234" not in text and "left out at this width: probe, ready at" in " ".join(text.split())
    # Wide enough: nothing is left out and there is no note.
    assert table.fit(120) == ([0, 1, 2, 3, 4], [])
    # Too narrow for even the columns that are never dropped: values fold, none is cut.
    term = Console(width=24, file=io.StringIO(), record=True)
    term.print(table)
    squeezed = term.export_text()
    assert "…" not in squeezed and folded("billing-reconciliation", squeezed)


@pytest.mark.parametrize("command", ["config.names"])
def test_real_command_at_80_columns(command: str, tmp_path: Path) -> None:
    env = {**os.environ, "COLUMNS": "80", "TERM": "dumb"}
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "clikd"), command, "--branch", BRANCH],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "…" not in proc.stdout
    assert folded(BRANCH.replace("/", "-"), proc.stdout) or folded(BRANCH, proc.stdout), proc.stdout


def test_gen_all_at_80_columns(tmp_path: Path) -> None:
    out = tmp_path / "a-rather-long-directory-name-for-generated-clients" / "of-the-billing-branch"
    env = {**os.environ, "COLUMNS": "80", "TERM": "dumb"}
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "clikd"), "gen.all", "--output", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= 80
    for lang in ("swift", "kotlin", "typescript", "python"):
        assert on_one_line(lang, text), text
        assert folded(str(out / lang), text), text
    assert on_one_line("generated", text)
    assert re.search(r"\b\d+\.\d\d s\b", text), text


def test_deploy_status_keeps_image_references_and_statuses_whole() -> None:
    import datetime as dt

    import tasks.core.deploy.views  # noqa: F401  (registers the views)
    from tasks.core.deploy.model import EnvironmentStatus, Release, ServiceStatus

    image = "registry.internal.example:5000/clikd/billing-reconciliation@sha256:" + "a1b2c3d4" * 8
    now = dt.datetime.now(dt.UTC)
    env = EnvironmentStatus(
        "staging",
        "clikd-staging",
        True,
        42,
        "blue",
        now,
        "someone@example.org",
        "0123456789abcdef",
        [ServiceStatus("billing", "billing-reconciliation-blue", image, 3, 3, 3, 3)],
        [
            Release(
                42,
                "staging",
                "clikd-staging",
                "rolled-back",
                {"billing": image},
                "0123456789abcdef",
                BRANCH,
                "v2026.12.04-billing-reconciliation",
                "someone@example.org",
                now,
                "blue-green",
                slot="blue",
                note="contract migrations failed: column billing.amount is still read by revision 41",
            )
        ],
    )
    text = render(env)
    assert "…" not in text
    for whole in ("billing-reconciliation-blue", "3/3", "42", "rolled-back"):
        assert on_one_line(whole, text), (whole, text)
    assert folded(image, text), text
    note = " ".join(text.split()).split("left out at this width:")[-1]
    assert on_one_line("v2026.12.04-billing-reconciliation", text) or "tag" in note, text


def test_standin_keeps_image_tags_whole() -> None:
    import tasks.core.standin_views  # noqa: F401  (registers the view)
    from tasks.core.standin import StandinResult, StandinStep

    tag = "127.0.0.1:5000/clikd-standin/billing-reconciliation-service:py3.11-0123456789ab"
    result = StandinResult(
        "clikd-standin",
        "/home/someone/projects/clikd-platform/.clikd/standin.toml",
        {"billing": tag},
        [StandinStep("billing-reconciliation", tag, "built", 12.3), StandinStep("keydb", tag, "present", 0)],
        14.0,
    )
    text = render(result)
    assert "…" not in text
    for whole in ("billing-reconciliation", "built", "present", "12.3s"):
        assert on_one_line(whole, text), (whole, text)
    assert folded(tag, text), text
