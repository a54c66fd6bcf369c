"""How deploy results look to a person (``--json`` prints the dataclasses instead)."""

from __future__ import annotations

import datetime as dt

from rich.console import Group, RenderableType
from rich.text import Text

from tasks.core.console import Column, renders, table
from tasks.core.deploy.flow import Plan
from tasks.core.deploy.model import (
    ChecksReport,
    CheckState,
    DeployResult,
    EnvironmentStatus,
    PreviewResult,
    StatusReport,
)
from tasks.core.tasking import name_program
from tasks.core.testing.model import TestState

STYLE = {CheckState.PASS: "green", CheckState.WARN: "yellow", CheckState.FAIL: "red"}


def _age(when: dt.datetime | None) -> str:
    if when is None:
        return "-"
    seconds = int((dt.datetime.now(dt.UTC) - when).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@renders(ChecksReport)
def checks_view(report: ChecksReport) -> RenderableType:
    rows = []
    for check in report.checks:
        detail = Text(check.detail)
        if check.checked:
            detail.append(f"\n{check.checked}", style="dim")
        rows.append(
            [
                check.name,
                Text(check.state.value, style=STYLE[check.state]),
                detail,
                name_program(check.hint or ""),
                f"{check.seconds:.2f}s" if check.seconds >= 0.1 else f"{check.seconds * 1000:.1f}ms",
            ]
        )
    columns = [
        Column("check", "name"),
        Column("result", "status"),
        Column("detail", "text"),
        Column("to do", "text"),
        Column("took", "number", drop=1),
    ]
    caption = None
    if report.forced and report.failed:
        caption = "--force: deploying despite the failed checks (recorded in the release)"
    return table(columns, rows, title="pre-deployment checks", caption=caption)


def plan_view(
    plan: Plan, checks: ChecksReport | None = None, tests: TestState | None = None
) -> RenderableType:
    lines = Text()
    target = plan.target
    lines.append(f"{target.environment}", style="bold")
    lines.append(f" → namespace {target.namespace} on {plan.cluster} ({target.strategy})\n")
    lines.append(f"commit {plan.release.commit[:12]} of {plan.release.branch}, tag {plan.release.tag}\n")
    if target.strategy == "blue-green":
        lines.append(f"slots: live {plan.active_slot or '(none)'}, deploying to {plan.next_slot}\n")
    if plan.canary is not None:
        from tasks.core.deploy.canary.views import plan_text

        if plan.active_slot is None:
            lines.append("canary: nothing serves yet, so this first release goes live at once\n")
        else:
            lines.append_text(plan_text(plan.canary))
    current = f"revision {plan.current_revision}" if plan.current_revision else "nothing yet"
    lines.append(f"currently deployed: {current}\n")
    if plan.release.built:
        its = "its Dockerfile" if len(plan.release.built) == 1 else "their Dockerfiles"
        lines.append(
            f"builds {', '.join(plan.release.built)} from {its} and pushes to the registry "
            "(the Deployments get the pushed digests)\n"
        )
    rows = []
    for name, image in plan.release.images.items():
        now = plan.current_images.get(name, "-")
        rows.append([name, now, Text(image, style="bold" if image != now else "dim")])
    columns = [Column("service", "name"), Column("now", "path"), Column("new", "path")]
    images = table(columns, rows, box=None, show_header=True, pad_edge=False)
    parts: list[RenderableType] = [lines, images]
    if tests is not None:
        from tasks.core.testing.gate import line

        style = "green" if tests.state == "green" else "dim" if tests.state == "none" else "bold yellow"
        parts.append(Text(line(tests), style=style))
    if checks is not None:
        parts.append(checks_view(checks))
    return Group(*parts)


@renders(DeployResult)
def deploy_view(result: DeployResult) -> RenderableType:
    r = result.release
    head = Text()
    contract_failed = bool(r.contract and r.contract.startswith("failed"))
    head.append("! " if contract_failed else "✓ ", style="bold yellow" if contract_failed else "bold green")
    head.append(f"{result.environment} revision {r.revision}", style="bold")
    head.append(f" in {result.namespace} ({result.seconds:.1f}s)")
    if result.switched:
        head.append(f"; public Services switched {result.switched}")
    if result.scaled_down:
        head.append(
            f"\nscaled to 0 (idle past the rollback window): {', '.join(result.scaled_down)}", style="yellow"
        )
    if result.scaled_up:
        head.append(f"\nscaled back up for the rollback: {', '.join(result.scaled_up)}")
    if r.shift is not None:
        from tasks.core.deploy.canary.state import Shift

        head.append(f"\ncanary {Shift.from_dict(r.shift).describe()}", style="dim")
    if r.note:
        head.append(f"\n{r.note}", style="yellow" if contract_failed else "dim")
    if r.tests:
        head.append(f"\ntests: {r.tests}", style="dim" if r.tests.startswith("green") else "yellow")
    for b in result.built:
        head.append(
            f"\nbuilt {b.reference} in {b.build_seconds:.1f}s, pushed in {b.push_seconds:.1f}s", style="dim"
        )
    smoke = {s.service: s for s in result.smoke}
    rows = []
    for name, image in r.images.items():
        s = smoke.get(name)
        rows.append([name, image, Text("ok" if s and s.ok else "-", style="green" if s and s.ok else "dim")])
    columns = [Column("service", "name"), Column("image", "path"), Column("smoke", "status")]
    return Group(head, table(columns, rows, box=None, pad_edge=False))


def _env_view(env: EnvironmentStatus) -> RenderableType:
    head = Text()
    head.append(env.environment, style="bold")
    head.append(f"  {env.namespace}")
    if not env.exists:
        head.append("  not deployed", style="dim")
        return head
    head.append(f"  revision {env.revision or '-'}")
    if env.active_slot:
        head.append(f"  live slot {env.active_slot}", style="cyan")
    head.append(
        f"  {_age(env.deployed_at)} ago by {env.deployed_by or '-'}  commit {(env.commit or '-')[:12]}"
    )
    if env.lock_holder:
        head.append(f"\nlocked by {env.lock_holder}", style="yellow")
    if env.scaled_down:
        head.append(
            f"\nscaled to 0 (idle past the rollback window): {', '.join(env.scaled_down)}", style="yellow"
        )
    services = table(
        [
            Column("deployment", "name"),
            Column("image", "path"),
            Column("ready", "number"),
            Column("updated", "number", drop=2),
            Column("available", "number", drop=1),
        ],
        (
            [
                s.deployment,
                s.image,
                Text(f"{s.ready}/{s.desired}", style="green" if s.ready >= s.desired else "yellow"),
                str(s.updated),
                str(s.available),
            ]
            for s in env.services
        ),
        box=None,
        pad_edge=False,
    )
    hist = table(
        [
            Column("rev", "number"),
            Column("status", "status"),
            Column("tag", "name"),
            Column("slot", "name", drop=3),
            Column("when", "number", drop=2),
            Column("who", "name", drop=1),
            Column("note", "text"),
        ],
        (
            [str(r.revision), r.status, r.tag, r.slot or "-", _age(r.time), r.user, r.note]
            for r in env.history
        ),
        box=None,
        pad_edge=False,
        title="history",
    )
    parts: list[RenderableType] = [head, services]
    if env.shift is not None and env.shift_revision is not None:
        from tasks.core.deploy.canary.views import shift_view

        parts.append(shift_view(env.shift_revision, env.shift, env.shift_weights))
    return Group(*parts, hist)


@renders(EnvironmentStatus)
def environment_view(env: EnvironmentStatus) -> RenderableType:
    return _env_view(env)


@renders(StatusReport)
def status_view(report: StatusReport) -> RenderableType:
    return Group(Text(f"cluster {report.cluster}", style="dim"), *(_env_view(e) for e in report.environments))


@renders(PreviewResult)
def preview_view(result: PreviewResult) -> RenderableType:
    if result.action == "deployed" and result.deploy is not None:
        return Group(
            deploy_view(result.deploy),
            Text(f"preview {result.namespace} expires {result.expires:%Y-%m-%d %H:%M} UTC", style="dim"),
        )
    if not result.deleted:
        return Text(f"nothing to delete ({result.namespace})", style="dim")
    return Text(f"deleted {', '.join(result.deleted)} (namespaces terminate in the background)")
