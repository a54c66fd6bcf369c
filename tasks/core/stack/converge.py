"""env.start: work out the state, plan, then converge the branch's stack to healthy.

Order of work: resolve the desired stack (pure), read the engine's containers of the branch, make
sure the images are there (login and parallel pulls only for what needs pulling), plan, check host
ports, then walk the dependency graph: every component starts as soon as all of its dependencies are
healthy, independent ones in parallel. Each component is probed from this machine until healthy; a
container that exits fails the run at once, and the first failure stops the waiting.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tasks.core.checkpoint import reached
from tasks.core.errors import ClikdError, Conflict, Unhealthy
from tasks.core.stack import workers
from tasks.core.stack.engine import branch_containers, connect, container_name, own_bindings
from tasks.core.stack.holders import find_holders, published_by_containers
from tasks.core.stack.model import (
    LABEL_BRANCH,
    LABEL_DEV,
    LABEL_HASH,
    LABEL_PROJECT,
    LABEL_SERVICE,
    LABEL_VOLUME,
    Action,
    ComponentEvent,
    ComponentResult,
    EventSink,
    StartResult,
    StepEvent,
    ignore_events,
)
from tasks.core.stack.plan import Actual, is_noop, plan
from tasks.core.stack.probes import ProbeResult, run_probe
from tasks.core.stack.spec import HOST_GATEWAY, Component, Selection, Stack, resolve, select

if TYPE_CHECKING:
    import docker

    from tasks.core.session import Session
    from tasks.core.stack.registry import Credentials

LOG_LINES = 30
STOP_TIMEOUT = 10
BROKEN = ("dead", "removing")  # states a container cannot be started from: it is recreated


@dataclass
class StartOptions:
    only: str = ""
    exclude: str = ""
    no_pull: bool = False
    timeout: float | None = None


class Cancelled(Exception):
    """Another component failed (or Ctrl+C): stop waiting."""


class ComponentFailed(Exception):
    def __init__(self, result: ComponentResult, details: list[str]) -> None:
        super().__init__(result.error)
        self.result = result
        self.details = details


def read_actual(client: docker.DockerClient, stack: Stack) -> dict[str, Actual]:
    actual: dict[str, Actual] = {}
    for summary in branch_containers(client, stack.project, stack.branch):
        labels = summary.get("Labels") or {}
        service = labels.get(LABEL_SERVICE, "")
        actual[service] = Actual(
            name=service,
            container=container_name(summary),
            container_id=str(summary["Id"]),
            state=str(summary.get("State", "")),
            config_hash=labels.get(LABEL_HASH, ""),
            image_id=str(summary.get("ImageID", "")),
            dev=bool(labels.get(LABEL_DEV)),
        )
    return actual


def check_ports(
    client: docker.DockerClient, stack: Stack, actions: list[Action], actual: dict[str, Actual]
) -> None:
    """Refuse to start when a host port we need is held by anything but the branch's own containers.

    The branch's containers count as its own in every state: a running one publishes the port, and
    one that a killed run left half-started (created, exited, dead, restarting) may have its
    docker-proxy listening already; both are converged by this run, not reported.
    """
    needed: dict[int, str] = {}
    for action in actions:
        if action.kind in ("create", "recreate", "start"):
            for _cport, hport in stack.components[action.name].ports.values():
                needed[hport] = action.name
    if not needed:
        return
    running = client.api.containers(filters={"status": "running"})
    ours = {a.container for a in actual.values()}
    published = {p: n for p, n in published_by_containers(running).items() if n not in ours}
    holders = find_holders(needed, published)
    own = own_bindings(client, sorted(ours)) if holders else {}
    conflicts = [h for _p, h in sorted(holders.items()) if not _is_own(h, own)]
    if conflicts:
        lines = [f"{h.describe()} (needed by {needed[h.port]})" for h in conflicts]
        raise Conflict(
            lines[0]
            if len(lines) == 1
            else f"{len(lines)} host ports needed by branch {stack.branch!r} are taken",
            hint="stop whatever holds the port (for another branch: inv env.stop --branch NAME), then retry",
            details=lines if len(lines) > 1 else [],
        )


def _is_own(holder: Any, own: dict[int, str]) -> bool:
    """A port the engine holds (docker-proxy) for one of the branch's own containers."""
    if holder.port not in own:
        return False
    if holder.kind == "container":
        return bool(holder.container == own[holder.port])
    return holder.kind == "unknown" or "docker-proxy" in holder.holder


def _ensure_network(client: docker.DockerClient, stack: Stack) -> tuple[bool, str]:
    """Create the branch's network when missing: (whether this run made the one that stays, its id).

    The engine does not refuse a second network of the same name (two runs racing, without the
    lock, both create one), and a name matching two networks cannot be used. So after creating,
    every run keeps the oldest of the name and removes the others it sees: all agree on one.
    """
    mine = ""
    if not _networks(client, stack):
        from docker.errors import APIError  # docker-py is imported only when there is work to do

        try:
            created = client.api.create_network(stack.network, driver="bridge", labels=stack.network_labels)
            mine = str(created.get("Id", ""))
        except APIError as exc:
            if exc.status_code != 409:  # an engine that refuses a duplicate name: the other run made it
                raise
    found = _networks(client, stack)
    keep = min(found, key=lambda n: (str(n.get("Created", "")), str(n.get("Id", ""))))

    extra = [net for net in found if net is not keep]
    if extra:
        from docker.errors import APIError

        for net in extra:
            with contextlib.suppress(APIError):  # already gone, or in use by the racing run: it keeps it
                client.api.remove_network(net["Id"])
    return bool(mine) and str(keep.get("Id")) == mine, str(keep["Id"])


def _networks(client: docker.DockerClient, stack: Stack) -> list[dict[str, Any]]:
    return [n for n in client.api.networks(names=[stack.network]) if n.get("Name") == stack.network]


def _ensure_volumes(client: docker.DockerClient, comp: Component) -> None:
    if comp.volumes:
        reached(f"volumes:{comp.name}")
    for name in comp.volumes:
        client.api.create_volume(name=name, labels={**comp.labels, LABEL_VOLUME: name})


def _create(
    client: docker.DockerClient,
    stack: Stack,
    comp: Component,
    image_id: str,
    *,
    network: str = "",
    again: bool = True,
) -> str:
    from docker.errors import APIError

    _ensure_volumes(client, comp)
    reached(f"create:{comp.name}")
    host_config = client.api.create_host_config(
        port_bindings={f"{cport}/tcp": ("127.0.0.1", hport) for cport, hport in comp.ports.values()},
        binds={vol: {"bind": path, "mode": "rw"} for vol, path in comp.volumes.items()},
        extra_hosts=HOST_GATEWAY,
    )
    networking = client.api.create_networking_config(
        {network or stack.network: client.api.create_endpoint_config(aliases=[comp.name])}
    )
    try:
        created = client.api.create_container(
            image=comp.image,
            name=comp.container,
            environment=comp.environment,
            command=comp.command,
            labels={**comp.labels, LABEL_HASH: comp.config_hash(image_id)},
            ports=[cport for cport, _h in comp.ports.values()],
            host_config=host_config,
            networking_config=networking,
            detach=True,
        )
    except APIError as exc:
        if exc.status_code != 409:
            raise
        return _adopt(client, stack, comp, image_id, network=network, again=again)
    return str(created["Id"])


def _adopt(
    client: docker.DockerClient, stack: Stack, comp: Component, image_id: str, *, network: str, again: bool
) -> str:
    """The name is taken: converge the branch's own container; refuse anything else, naming its owner."""
    from docker.errors import NotFound

    info: dict[str, Any] | None = None
    for _ in range(50):  # the engine reserves a name before the container can be inspected
        try:
            info = client.api.inspect_container(comp.container)
            break
        except NotFound:
            time.sleep(0.1)
    if info is None:
        if again:
            return _create(client, stack, comp, image_id, network=network, again=False)
        raise Conflict(f"the container name {comp.container} is taken and released again: retry")
    if _ours(info, stack, comp):
        labels = info.get("Config", {}).get("Labels") or {}
        state = (info.get("State") or {}).get("Status", "")
        if labels.get(LABEL_HASH) == comp.config_hash(image_id) and state not in BROKEN:
            return str(info["Id"])  # ours and up to date (a run that died made it): start it
        if again:
            _remove(client, comp.container, graceful=False)
            return _create(client, stack, comp, image_id, network=network, again=False)
    labels = info.get("Config", {}).get("Labels") or {}
    if labels.get(LABEL_PROJECT):
        owner = f"branch {labels.get(LABEL_BRANCH, '?')!r} of clikd project {labels[LABEL_PROJECT]!r}"
        raise Conflict(
            f"a container named {comp.container} already exists and belongs to {owner}",
            hint=f"stop that environment (inv env.stop --branch {labels.get(LABEL_BRANCH, 'NAME')}) "
            "from its checkout, then retry",
        )
    raise Conflict(
        f"a container named {comp.container} already exists and is not part of any clikd environment",
        hint=f"remove it (docker rm -f {comp.container}) or rename it, then retry",
    )


def _ours(info: dict[str, Any], stack: Stack, comp: Component) -> bool:
    labels = info.get("Config", {}).get("Labels") or {}
    return (
        labels.get(LABEL_PROJECT) == stack.project
        and labels.get(LABEL_BRANCH) == stack.branch
        and labels.get(LABEL_SERVICE) == comp.name
    )


def _remove(client: docker.DockerClient, container: str, *, graceful: bool = True) -> None:
    from docker.errors import NotFound

    try:
        if graceful:
            client.api.stop(container, timeout=STOP_TIMEOUT)
        client.api.remove_container(container, force=True, v=False)
    except NotFound:
        pass


def last_logs(client: docker.DockerClient, container: str, lines: int = LOG_LINES) -> list[str]:
    try:
        raw = client.api.logs(container, tail=lines, stdout=True, stderr=True)
    except Exception:  # the container may be gone already
        return []
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
    return text.rstrip("\n").splitlines()[-lines:]


class Runner:
    """Walks the dependency graph for one env.start."""

    def __init__(  # noqa: PLR0917  (built once, by start())
        self,
        session: Session,
        client: docker.DockerClient,
        stack: Stack,
        selection: Selection,
        actions: dict[str, Action],
        image_ids: dict[str, str],
        deadline: float,
        began: float,
        on_event: EventSink,
    ) -> None:
        self.session = session
        self.client = client
        self.stack = stack
        self.selection = selection
        self.actions = actions
        self.image_ids = image_ids
        self.deadline = deadline
        self.began = began
        self.on_event = on_event
        self.cancel = threading.Event()
        self.ready = {name: threading.Event() for name in selection.names}
        self.failed: set[str] = set()
        self.provisioned: list[str] = []
        self.lock = threading.Lock()
        self.network_id = ""  # the branch network's id (its name may briefly match two: see _ensure_network)

    def run(self) -> list[ComponentResult]:
        ended = threading.Event()  # set by each job as it ends: the loop wakes then, not on a tick
        jobs = [
            workers.start(name, partial(self._component, name), notify=ended) for name in self.selection.names
        ]
        try:
            while True:
                ended.clear()
                for job in jobs:
                    if job.done.is_set() and job.error is not None and not self.cancel.is_set():
                        self.cancel.set()  # fail fast: stop everything that waits
                if all(j.done.is_set() for j in jobs):
                    break
                ended.wait(0.1)  # the timeout lets a Ctrl+C land in the main thread
        except KeyboardInterrupt:
            self.cancel.set()
            raise
        failures = [j.error for j in jobs if isinstance(j.error, ComponentFailed)]
        other = [
            j.error
            for j in jobs
            if j.error is not None and not isinstance(j.error, ComponentFailed | Cancelled)
        ]
        if other:
            raise other[0]
        if failures:
            raise _unhealthy(failures)
        return [j.result for j in jobs if j.result is not None]

    def _elapsed(self) -> float:
        return time.monotonic() - self.began

    def _component(self, name: str) -> ComponentResult:
        comp = self.stack.components[name]
        action = self.actions[name]
        # A component kept as it runs is probed at once; it does not wait for its dependencies.
        deps = [d for d in comp.depends_on if d in self.ready] if action.kind not in ("keep", "check") else []
        self.on_event(ComponentEvent(name, "pending", f"after {', '.join(deps)}" if deps else ""))
        for dep in deps:
            while not self.ready[dep].wait(0.05):
                if self.cancel.is_set():
                    self.on_event(ComponentEvent(name, "skipped", "not started: another component failed"))
                    raise Cancelled(name)
        if self.cancel.is_set():
            raise Cancelled(name)
        if comp.managed:
            self._act(comp, action)
        result = self._wait_healthy(comp, action)
        if comp.role == "database":
            self._provision(comp)
        self.ready[name].set()
        self.on_event(ComponentEvent(name, "healthy", action.kind, seconds=result.seconds))
        return result

    def _act(self, comp: Component, action: Action) -> None:
        image_id = self.image_ids.get(comp.image, "")
        if action.kind == "recreate":
            self.on_event(ComponentEvent(comp.name, "creating", f"recreating: {action.reason}"))
            _remove(self.client, comp.container)
        if action.kind in ("create", "recreate"):
            if action.kind == "create":
                self.on_event(ComponentEvent(comp.name, "creating", ""))
            _create(self.client, self.stack, comp, image_id, network=self.network_id)
        if action.kind in ("create", "recreate", "start"):
            reached(f"start:{comp.name}")
            self.on_event(ComponentEvent(comp.name, "starting", ""))
            self.client.api.start(comp.container)

    def _wait_healthy(self, comp: Component, action: Action) -> ComponentResult:
        reached(f"probe:{comp.name}")
        began = time.monotonic()
        limit = min(began + comp.probe.timeout, self.deadline)
        self.on_event(ComponentEvent(comp.name, "waiting", comp.url))
        last: ProbeResult | None = None
        while True:
            if self.cancel.is_set():
                raise Cancelled(comp.name)
            last = run_probe(comp.probe)
            if last.ok:
                return ComponentResult(
                    comp.name,
                    comp.role,
                    action.kind,
                    True,
                    round(self._elapsed(), 3),
                    url=comp.url,
                    host_ports={k: h for k, (_c, h) in comp.ports.items()},
                    probe_ms=round(last.ms, 1),
                )
            if comp.managed:
                state = self.client.api.inspect_container(comp.container)["State"]
                if state.get("Status") in ("exited", "dead") or state.get("Restarting"):
                    code = state.get("ExitCode")
                    self._fail(comp, action, f"container {comp.container} exited with code {code}", last)
            if time.monotonic() >= limit:
                why = (
                    f"not healthy after {limit - began:.0f}s (its timeout)"
                    if limit < self.deadline
                    else f"not healthy when the start timeout ran out ({limit - began:.0f}s)"
                )
                self._fail(comp, action, why, last)
            time.sleep(comp.probe.interval)

    def _fail(self, comp: Component, action: Action, why: str, last: ProbeResult | None) -> None:
        target = comp.url + (comp.probe.path if comp.probe.kind == "http" else "")
        details = [f"last probe ({comp.probe.kind} {target}): {last.error if last else 'none ran'}"]
        if comp.managed:
            lines = last_logs(self.client, comp.container)
            details.append(f"last {len(lines)} log lines of {comp.container}:")
            details.extend(f"  {line}" for line in lines)
        result = ComponentResult(
            comp.name,
            comp.role,
            action.kind,
            False,
            round(self._elapsed(), 3),
            url=comp.url,
            error=f"{comp.name}: {why}",
        )
        self.on_event(ComponentEvent(comp.name, "failed", why, seconds=result.seconds))
        raise ComponentFailed(result, details)

    def _provision(self, comp: Component) -> None:
        from tasks.core.stack.provision import ensure

        try:
            made = ensure(self.session.config.settings, self.session.ident, comp.kind)
        except Exception as exc:
            result = ComponentResult(
                comp.name,
                comp.role,
                "provision",
                False,
                round(self._elapsed(), 3),
                error=f"{comp.name}: creating the branch's databases failed",
            )
            raise ComponentFailed(result, [f"{type(exc).__name__}: {exc}"]) from None
        if made:
            self.on_event(ComponentEvent(comp.name, "provisioning", "created " + ", ".join(made)))
            with self.lock:
                self.provisioned.extend(made)
                owe(self.session, seed=True, kinds={comp.kind})  # dies before seeding: the seed is owed


def _unhealthy(failures: list[ComponentFailed]) -> ClikdError:
    first = failures[0]
    details: list[str] = []
    for failure in failures:
        if len(failures) > 1:
            details.append(failure.result.error)
        details.extend(failure.details)
    names = [f.result.name for f in failures]
    return Unhealthy(
        first.result.error if len(failures) == 1 else f"{', '.join(names)} did not become healthy",
        hint=f"the stack is left as it is for inspection (inv env.logs --service {names[0]}); "
        "fix the cause and run env.start again",
        details=details,
    )


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

    from tasks.core.stack.pull import ensure_images

    wanted = {
        stack.components[n].image: stack.components[n].pull
        for n in selection.names
        if stack.components[n].managed
    }
    creds_for = _Logins(client, settings, on_event)
    reached("pull")
    image_ids, pulled = ensure_images(
        client,
        wanted,
        creds=creds_for,
        registry=settings.registry,
        no_pull=options.no_pull,
        parallel=settings.development.parallel_pulls,
        on_event=on_event,
    )
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
    made, network_id = _ensure_network(client, stack)
    if made:
        on_event(StepEvent("network", f"created network {stack.network}", done=True))
    for action in actions:
        if action.kind == "remove":
            _remove(client, actual[action.name].container)
            notes.append(f"removed {actual[action.name].container}: {action.reason}")
    runner = Runner(session, client, stack, selection, by_name, image_ids, deadline, began, on_event)
    runner.network_id = network_id
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
    stores = [s for s in STORES if _kind_of_store(s) in kinds]
    if not stores:
        return []
    t = db_target.for_session(session)
    reached("migrate")
    on_event(StepEvent("migrate", f"migrating {', '.join(stores)}"))
    report = db_migrate.migrate(t, stores)
    applied = sum(len(s.applied) for s in report.stores)
    notes = [f"migrations: {applied} applied to {', '.join(stores)}" if applied else "migrations: up to date"]
    on_event(StepEvent("migrate", notes[0], done=True))
    if dev.auto_seed and fresh:
        reached("seed")
        on_event(StepEvent("seed", f"seeding {', '.join(stores)}"))
        db_seeds.seed(t, stores)
        notes.append(f"seeded {', '.join(stores)}")
        on_event(StepEvent("seed", notes[-1], done=True))
    return notes


def _owed_path(session: Session) -> Path:
    from tasks.core.locking import state_dir

    return state_dir() / "owed" / session.ident.pending_file


def owed_work(session: Session) -> dict[str, Any] | None:
    """What an earlier env.start of the branch began and did not finish (migrate, seed), if anything."""
    try:
        data = json.loads(_owed_path(session).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else {}


def owe(session: Session, *, seed: bool, kinds: set[str]) -> None:
    """Record, before acting, that this start owes migrations (and seeds) to the stores of ``kinds``:
    a rerun that starts one of them pays them if this run dies."""
    before = owed_work(session) or {}
    _write_owed(session, seed=seed or bool(before.get("seed")), kinds=kinds | set(before.get("kinds") or []))


def _write_owed(session: Session, *, seed: bool, kinds: set[str]) -> None:
    path = _owed_path(session)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_suffix(f".{os.getpid()}.tmp")
    temp.write_text(json.dumps({"branch": session.ident.branch, "seed": seed, "kinds": sorted(kinds)}))
    temp.replace(path)


def paid(session: Session, kinds: set[str]) -> None:
    """This run migrated (and seeded) the stores of ``kinds``; what others are owed stays owed."""
    owed = owed_work(session)
    left = set(owed.get("kinds") or []) - kinds if owed else set()
    if owed and left:
        _write_owed(session, seed=bool(owed.get("seed")), kinds=left)
    else:
        _owed_path(session).unlink(missing_ok=True)


def _kind_of_store(store: str) -> str:
    return "postgres" if store in ("auth", "main") else store


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
