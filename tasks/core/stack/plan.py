"""The difference between the desired stack and what runs, as data (no Docker calls here)."""

from __future__ import annotations

from dataclasses import dataclass

from tasks.core.stack.model import Action
from tasks.core.stack.spec import Stack


@dataclass(frozen=True)
class Actual:
    """What the engine has for one component of the branch (from a container list)."""

    name: str  # the service label
    container: str
    container_id: str
    state: str  # created, running, exited, paused, restarting, dead
    config_hash: str
    image_id: str


def plan(  # noqa: PLR0912  (one branch per state a container can be in)
    stack: Stack,
    selected: list[str],
    actual: dict[str, Actual],
    image_ids: dict[str, str],
) -> list[Action]:
    """One action per selected component, in start order, plus removals of stale containers.

    A changed config hash recreates the component and, transitively, what depends on it among the
    selected ones (their environment points at it, and they should reconnect to a fresh server).
    """
    actions: dict[str, Action] = {}
    changed: set[str] = set()
    for name in selected:
        comp = stack.components[name]
        if not comp.managed:
            actions[name] = Action(name, "check", "external: probed, not run by clikd")
            continue
        have = actual.get(name)
        image_id = image_ids.get(comp.image, "")
        if have is None:
            actions[name] = Action(name, "create", "no container yet")
            changed.add(name)
        elif have.config_hash != comp.config_hash(image_id):
            if image_id and have.image_id and have.image_id != image_id:
                why = "image changed"
            else:
                why = "configuration changed"
            actions[name] = Action(name, "recreate", why)
            changed.add(name)
        elif have.state in ("dead", "removing", "paused", "restarting"):
            # a state `docker start` cannot (or should not) take it out of: a fresh container
            actions[name] = Action(name, "recreate", f"container is {have.state}")
            changed.add(name)
        elif have.state != "running":
            actions[name] = Action(name, "start", f"container is {have.state}")
        else:
            actions[name] = Action(name, "keep", "up to date")
    # Dependents of changed components restart with them.
    for name in stack.dependents(changed) - changed:
        if name in actions and actions[name].kind in ("keep", "start"):
            deps = sorted(set(stack.dependencies({name})) & changed)
            actions[name] = Action(name, "recreate", f"depends on {', '.join(deps)}, which changes")
    ordered = [actions[n] for n in selected]
    for name, have in sorted(actual.items()):
        if name not in stack.components:
            ordered.append(Action(name, "remove", f"{have.container} is no longer in the configuration"))
    return ordered


def is_noop(actions: list[Action]) -> bool:
    return all(a.kind in ("keep", "check") for a in actions)
