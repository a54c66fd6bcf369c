"""env.switch: record the target of this checkout after checking that clikd knows how to reach it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tasks.core import console, targets
from tasks.core.session import Session

if TYPE_CHECKING:
    from rich.console import RenderableType


@dataclass(frozen=True)
class SwitchResult:
    target: str
    previous: str
    file: str
    namespace: str = ""
    bastion: str = ""
    overridden_by: str = ""  # CLIKD_TARGET's value when it wins over the recorded target


def switch(session: Session, name: str) -> SwitchResult:
    """Make ``name`` this checkout's target; a remote one must be configured (nothing is connected)."""
    chosen = targets.parse(name, "env.switch")
    root = session.root
    previous = targets.switched(root) or "local"
    namespace = bastion = ""
    if chosen != "local":
        from tasks.core.remote import environments as envs
        from tasks.core.remote.tunnel import parse_bastion

        settings = session.config.settings
        env = envs.environment(settings, chosen)
        namespace = envs.namespace(settings, chosen)
        bastion = str(parse_bastion(env.bastion, chosen)) if env.bastion else ""
    path = targets.record(root, chosen)
    override = os.environ.get("CLIKD_TARGET", "").strip()
    return SwitchResult(
        target=chosen,
        previous=previous,
        file=str(path.relative_to(root)),
        namespace=namespace,
        bastion=bastion,
        overridden_by=override if override and override.lower() != chosen else "",
    )


@console.renders(SwitchResult)
def _view(result: SwitchResult) -> RenderableType:
    from rich.text import Text

    text = Text.assemble(("✓ ", "bold green"), "target: ", (result.target, "bold"))
    if result.previous != result.target:
        text.append(f" (was {result.previous})")
    text.append(f"; kept in {result.file}", style="dim")
    if result.namespace:
        text.append(f"\n  namespace {result.namespace}", style="dim")
    if result.bastion:
        text.append(f", databases through {result.bastion}", style="dim")
    if result.target == "production":
        text.append("\n  production: db.migrate asks for the name to be typed; db.reset and db.seed refuse")
    if result.overridden_by:
        text.append(
            f"\n  note: CLIKD_TARGET={result.overridden_by} is set and wins in this shell", style="yellow"
        )
    return text
