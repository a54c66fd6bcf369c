"""The deploy tasks' shared steps between the flags and the core: the plan (building or not), the build,
the result with its images, and a canary shift's terminal parts (progress line, Ctrl+C question)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tasks.core import console
from tasks.core.session import Session

if TYPE_CHECKING:
    from tasks.core.deploy.flow import Plan
    from tasks.core.deploy.kube import Kube
    from tasks.core.deploy.model import BuiltImage


def show(renderable: object, as_json: bool) -> None:
    """The plan and checks go to stderr, so stdout stays clean for --json."""
    if not as_json:
        console.err.print(renderable)


def plan(
    session: Session, kube: Kube, environment: str, *, tag: str, no_build: bool, namespace: str | None = None
) -> tuple[Plan, bool]:
    """The plan, and whether this deploy builds images (some service has a build section, no --no-build).

    Building tags the images with the commit (``-dirty`` for a changed tree, which production refuses).
    """
    from dataclasses import replace

    from tasks.core.deploy import build, flow

    building = not no_build and bool(build.buildable(session.config.settings))
    if not building:
        return flow.make_plan(session, kube, environment, tag=tag or None, namespace=namespace), False
    source = build.source(session)
    if environment == "production":
        build.refuse_dirty_production(source)
    plan = flow.make_plan(session, kube, environment, tag=tag or source.tag, namespace=namespace)
    return replace(plan, release=build.planned(session.config.settings, plan.release)), True


def build(session: Session, plan: Plan) -> tuple[Plan, list[BuiltImage]]:
    from dataclasses import replace

    from tasks.core.deploy import build

    release, built = build.build_and_push(session, plan.release, progress=console.note)
    return replace(plan, release=release), built


def finish(result: Any, built: list[BuiltImage]) -> Any:
    from dataclasses import replace

    return replace(result, built=built) if built else result


def shift_ui(as_json: bool) -> tuple[Any, Any]:
    """A canary shift's Rich progress line and Ctrl+C question, in a terminal; neither without one."""
    from tasks.core.prompts import interactive

    if as_json or not interactive():
        return None, None
    from tasks.core.deploy.canary.views import RichWatcher, ask_abort_or_hold

    return RichWatcher(), ask_abort_or_hold
