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
    dev: bool = False  # running from source under env.dev (the dev.clikd.dev label)


def plan(  # noqa: PLR0912  (one branch per state a container can be in, and per kind of action)
    stack: Stack,
    selected: list[str],
    actual: dict[str, Actual],
    image_ids: dict[str, str],
    leave_dev: frozenset[str] = frozenset(),
) -> list[Action]:
    """One action per selected component, in start order, plus removals of stale containers.

    A changed config hash recreates the component and, transitively, what depends on it among the
    selected ones (their environment points at it, and they should reconnect to a fresh server).
    A service in dev mode (env.dev) is kept while it runs, unless it is in ``leave_dev`` (named by
    ``env.start --only``): then it goes back to its image.
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
        dev = _dev_action(name, have, leave_dev)
        if dev is not None:
            actions[name] = dev
            if dev.kind == "recreate":
                changed.add(name)
        elif have is None:
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


def _dev_action(name: str, have: Actual | None, leave_dev: frozenset[str]) -> Action | None:
    """A service in dev mode (env.dev): kept while it runs, back to its image when named."""
    if have is None or not have.dev:
        return None
    if name in leave_dev:
        return Action(name, "recreate", "leaving dev mode: back to its image")
    if have.state == "running":
        return Action(name, "keep", f"in dev mode (env.start --only {name} returns it to its image)")
    return None


def is_noop(actions: list[Action]) -> bool:
    return all(a.kind in ("keep", "check") for a in actions)
