"""env.dev from start to end: the stack up, the services into dev mode, then cycles."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tasks.core.dev.container import target_for
from tasks.core.dev.loop import CycleSink, DevSession
from tasks.core.dev.model import DevResult
from tasks.core.errors import UsageError
from tasks.core.stack.model import EventSink, ignore_events

if TYPE_CHECKING:
    from tasks.core.session import Session


def parse_names(services: str) -> list[str]:
    names = [n.strip() for n in services.split(",") if n.strip()]
    if not names:
        raise UsageError("name at least one service", hint="e.g. inv env.dev api,studio")
    return names


def prepare(
    session: Session,
    names: list[str],
    *,
    on_cycle: CycleSink,
    poll: bool = False,
    on_event: EventSink = ignore_events,
) -> DevSession:
    """Make sure the branch's stack is up, then put ``names`` into dev mode and sync their source."""
    from tasks.core.stack.converge import StartOptions, start
    from tasks.core.stack.engine import connect
    from tasks.core.stack.spec import resolve

    settings = session.config.settings
    stack = resolve(settings, session.ident)
    loaded = session.config
    base = loaded.path.parent if loaded.path is not None else loaded.root
    targets = [
        target_for(
            stack,
            base,
            settings.project.monorepo_root,
            n,
            settings.services[n].dev if n in settings.services else None,
        )
        for n in names
    ]
    start(session, StartOptions(), on_event=on_event)
    dev = DevSession(connect(), stack, targets, session.root, session.ident.slug, on_cycle, poll=poll)
    dev.enter()
    return dev


def once(dev: DevSession) -> DevResult:
    return dev.result("once")
