"""env.start: work out the state, plan, then converge the branch's stack to healthy.

Order of work: resolve the desired stack (pure), read the engine's containers of the branch, make
sure the images are there (login and parallel pulls only for what needs pulling), plan, check host
ports, then walk the dependency graph: every component starts as soon as all of its dependencies are
healthy, independent ones in parallel. Each component is probed from this machine until healthy; a
container that exits fails the run at once, and the first failure stops the waiting.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from tasks.core.checkpoint import reached
from tasks.core.stack import workers
from tasks.core.stack.containers import check_ports, ensure_network, read_actual, remove
from tasks.core.stack.engine import connect
from tasks.core.stack.model import (
    EventSink,
    StartResult,
    StepEvent,
    ignore_events,
)
from tasks.core.stack.owed import kind_of_store, owe, owed_work, paid
from tasks.core.stack.plan import Actual, is_noop, plan
from tasks.core.stack.probes import ProbeResult, run_probe
from tasks.core.stack.runner import Runner
from tasks.core.stack.spec import Selection, Stack, resolve, select

if TYPE_CHECKING:
    import docker

    from tasks.core.session import Session
    from tasks.core.stack.registry import Credentials


@dataclass
class StartOptions:
    only: str = ""
    exclude: str = ""
    no_pull: bool = False
    timeout: float | None = None


def start(
    session: Session,
    options: StartOptions,
    *,
    on_event: EventSink = ignore_events,
    confirm_exclusion: Callable[[Selection], None] | None = None,
) -> StartResult:
    """Bring the branch's stack up, healthy; returns what was done. Raises ClikdError on failure."""
    began = time.monotonic()
    settings = session.config.settings
    stack = resolve(settings, session.ident)
    selection = select(stack, only=options.only, exclude=options.exclude)
    if selection.affected and confirm_exclusion is not None:
        confirm_exclusion(selection)
    timeout = options.timeout or settings.development.start_timeout
    deadline = began + timeout

    client = connect()
    stack, moved = _on_own_block(client, session, stack)
    actual = read_actual(client, stack)
    early = workers.start("early-probes", partial(_probe_running, stack, selection.names, actual))

    image_ids, pulled = _images(client, session, stack, selection, no_pull=options.no_pull, on_event=on_event)
    named = frozenset(n.strip() for n in options.only.split(",") if n.strip())
    actions = plan(stack, selection.names, actual, image_ids, leave_dev=named)
    by_name = {a.name: a for a in actions}
    owed = owed_work(session)
    kinds = {stack.components[n].kind for n in selection.names if stack.components[n].role == "database"}
    if owed is not None and not kinds & set(owed.get("kinds") or []):
        owed = None  # owed to stores this run does not start: kept for a run that does
    if not is_noop(actions):
        check_ports(client, stack, actions, actual)
    if not is_noop(actions) or owed is not None:
        owe(session, seed=bool(owed and owed.get("seed")), kinds=kinds)
    notes: list[str] = [] if moved is None else [moved]
    reached("network")
    made, network_id = ensure_network(client, stack)
    if made:
        on_event(StepEvent("network", f"created network {stack.network}", done=True))
    for action in actions:
        if action.kind == "remove":
            remove(client, actual[action.name].container)
            notes.append(f"removed {actual[action.name].container}: {action.reason}")
    runner = Runner(session, client, stack, selection, by_name, image_ids, deadline, began, on_event)
    runner.network_id = network_id
    runner.early = early
    components = runner.run()
    if selection.excluded:
        notes.append(f"excluded: {', '.join(selection.excluded)}")
    changed = not is_noop(actions) or bool(runner.provisioned) or owed is not None
    progress = [f"created {p}" for p in runner.provisioned]
    if changed:
        fresh = bool(runner.provisioned) or bool(owed and owed.get("seed"))
        if owed is not None:
            progress.append("finished the migrate/seed an interrupted env.start owed")
        progress.extend(_migrate_and_seed(session, stack, selection, fresh=fresh, on_event=on_event))
    paid(session, kinds)
    return StartResult(
        branch=stack.branch,
        project=stack.project,
        network=stack.network,
        changed=changed,
        seconds=round(time.monotonic() - began, 3),
        actions=[a for a in actions if a.name in by_name],
        components=components,
        pulled=pulled,
        notes=notes,
        progress=progress,
    )


def _images(
    client: docker.DockerClient,
    session: Session,
    stack: Stack,
    selection: Selection,
    *,
    no_pull: bool,
    on_event: EventSink,
) -> tuple[dict[str, str], list[str]]:
    """The local id of every image the selection runs, pulled where its policy asks: (ids, pulled)."""
    from tasks.core.stack.pull import ensure_images

    settings = session.config.settings
    wanted = {
        stack.components[n].image: stack.components[n].pull
        for n in selection.names
        if stack.components[n].managed
    }
    reached("pull")
    return ensure_images(
        client,
        wanted,
        creds=_Logins(client, settings, on_event),
        registry=settings.registry,
        no_pull=no_pull,
        parallel=settings.development.parallel_pulls,
        on_event=on_event,
    )


def _probe_running(stack: Stack, names: list[str], actual: dict[str, Actual]) -> dict[str, ProbeResult]:
    """One probe of each component that runs already (or is external), sent while the registry is
    asked about the images: on a no-op start the two waits overlap instead of adding up. Only a
    component the plan then keeps as it runs takes its result (see Runner._early)."""
    running = [
        n for n in names if not stack.components[n].managed or (n in actual and actual[n].state == "running")
    ]
    return workers.run_all({n: partial(run_probe, stack.components[n].probe) for n in running}, limit=16)


def _on_own_block(client: docker.DockerClient, session: Session, stack: Stack) -> tuple[Stack, str | None]:
    """The stack on a host-port block no other branch has, and a note when the branch had to move."""
    from tasks.core.stack.portclaim import claim_block

    moved = claim_block(client, session.ident)
    if moved is None:
        return stack, None
    return resolve(session.config.settings, session.ident), moved  # same components, new ports


def _migrate_and_seed(
    session: Session, stack: Stack, selection: Selection, *, fresh: bool, on_event: EventSink
) -> list[str]:
    """[development] auto_migrate / auto_seed, for the stores this run started.

    Runs only when the start changed something (a no-op start stays fast); seeds only into
    databases this run created. ``db.migrate`` / ``db.seed`` do the same by hand.
    """
    dev = session.config.settings.development
    if not dev.auto_migrate:
        return []
    try:
        from tasks.core.db import migrate as db_migrate
        from tasks.core.db import seeds as db_seeds
        from tasks.core.db import target as db_target
        from tasks.core.db.files import STORES
    except ImportError:  # the db package is not part of this installation
        skipped = "auto_migrate skipped: the db tasks are not available"
        on_event(StepEvent("migrate", skipped, done=True))
        return [skipped]
    kinds = {stack.components[n].kind for n in selection.names if stack.components[n].role == "database"}
    stores = [s for s in STORES if kind_of_store(s) in kinds]
    # The object store has no migrations, only seed objects.
    seeded = [*stores, "s3"] if "s3" in kinds else stores
    if not seeded:
        return []
    t = db_target.for_session(session)
    notes: list[str] = []
    if stores:
        reached("migrate")
        on_event(StepEvent("migrate", f"migrating {', '.join(stores)}"))
        report = db_migrate.migrate(t, stores)
        applied = sum(len(s.applied) for s in report.stores)
        notes.append(
            f"migrations: {applied} applied to {', '.join(stores)}" if applied else "migrations: up to date"
        )
        on_event(StepEvent("migrate", notes[0], done=True))
    if dev.auto_seed and fresh:
        stores = seeded
        reached("seed")
        on_event(StepEvent("seed", f"seeding {', '.join(stores)}"))
        db_seeds.seed(t, stores)
        notes.append(f"seeded {', '.join(stores)}")
        on_event(StepEvent("seed", notes[-1], done=True))
    return notes


class _Logins(dict[str, "Credentials"]):
    """Registry credentials per host, logged in on first use (only hosts we really pull from)."""

    def __init__(self, client: docker.DockerClient, settings: Any, on_event: EventSink) -> None:
        super().__init__()
        self.client = client
        self.settings = settings
        self.on_event = on_event
        self.lock = threading.Lock()

    def get(self, host: str, default: Any = None) -> Credentials | None:  # type: ignore[override]
        from tasks.core.stack.registry import login

        with self.lock:
            if host not in self:
                self.on_event(StepEvent("login", f"logging in to {host}"))
                creds = login(self.client, self.settings.registry, host)
                self[host] = creds
                how = f"as {creds.source}" if creds.source else "anonymously (no credential found)"
                self.on_event(StepEvent("login", f"{host}: {how}", done=True))
            return dict.get(self, host)
