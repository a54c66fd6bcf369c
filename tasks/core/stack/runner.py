"""env.start's walk of the dependency graph: each component starts once what it depends on is healthy.

Independent components go in parallel, each probed from this machine until healthy; a container
that exits fails the run at once, and the first failure stops the waiting.
"""

from __future__ import annotations

import threading
import time
from functools import partial
from typing import TYPE_CHECKING

from tasks.core.checkpoint import reached
from tasks.core.errors import ClikdError, Unhealthy
from tasks.core.stack import workers
from tasks.core.stack.containers import create, last_logs, remove
from tasks.core.stack.model import (
    Action,
    ComponentEvent,
    ComponentResult,
    EventSink,
)
from tasks.core.stack.owed import owe
from tasks.core.stack.probes import ProbeResult, run_probe
from tasks.core.stack.spec import Component, Selection, Stack

if TYPE_CHECKING:
    import docker

    from tasks.core.session import Session


class Cancelled(Exception):
    """Another component failed (or Ctrl+C): stop waiting."""


class ComponentFailed(Exception):
    def __init__(self, result: ComponentResult, details: list[str], hint: str = "") -> None:
        super().__init__(result.error)
        self.result = result
        self.details = details
        self.hint = hint


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
        self.network_id = ""  # the branch network's id (its name may briefly match two: see ensure_network)
        self.early: workers.Job[dict[str, ProbeResult]] | None = None  # see _probe_running

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
            remove(self.client, comp.container)
        if action.kind in ("create", "recreate"):
            if action.kind == "create":
                self.on_event(ComponentEvent(comp.name, "creating", ""))
            create(self.client, self.stack, comp, image_id, network=self.network_id)
        if action.kind in ("create", "recreate", "start"):
            reached(f"start:{comp.name}")
            self.on_event(ComponentEvent(comp.name, "starting", ""))
            self.client.api.start(comp.container)

    def _early(self, comp: Component, action: Action) -> ProbeResult | None:
        """The passing probe of the early round, for a component kept as it ran then."""
        if action.kind not in ("keep", "check") or self.early is None:
            return None
        self.early.done.wait()
        found = (self.early.result or {}).get(comp.name)
        return found if found is not None and found.ok else None

    def _healthy(self, comp: Component, action: Action, probe: ProbeResult) -> ComponentResult:
        return ComponentResult(
            comp.name,
            comp.role,
            action.kind,
            True,
            round(self._elapsed(), 3),
            url=comp.url,
            host_ports={k: h for k, (_c, h) in comp.ports.items()},
            probe_ms=round(probe.ms, 1),
            grpc=probe.grpc,
        )

    def _wait_healthy(self, comp: Component, action: Action) -> ComponentResult:
        reached(f"probe:{comp.name}")
        early = self._early(comp, action)
        if early is not None:
            return self._healthy(comp, action, early)
        began = time.monotonic()
        limit = min(began + comp.probe.timeout, self.deadline)
        self.on_event(ComponentEvent(comp.name, "waiting", comp.url))
        last: ProbeResult | None = None
        while True:
            if self.cancel.is_set():
                raise Cancelled(comp.name)
            last = run_probe(comp.probe)
            if last.ok:
                return self._healthy(comp, action, last)
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
        hint = ""
        if last is not None and last.on_grpc and last.grpc is not None:
            # its own probe passes: say so, or the HTTP answer in the logs reads like a healthy service
            why += f": {comp.probe.kind} health passes, gRPC health does not ({last.grpc.error})"
            details = [
                f"last probe: {comp.probe.kind} {target} passed; grpc.health.v1 Check of "
                f"{comp.probe.host}:{comp.probe.grpc_port}: {last.grpc.error}"
            ]
            hint = (
                f"{comp.name}'s gRPC server (port grpc) must answer grpc.health.v1 Check with SERVING; "
                f"for one without the health service set [services.{comp.name}.health] grpc = false"
            )
        else:
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
        raise ComponentFailed(result, details, hint)

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
    hint = (
        f"the stack is left as it is for inspection (inv env.logs --service {names[0]}); "
        "fix the cause and run env.start again"
    )
    return Unhealthy(
        first.result.error if len(failures) == 1 else f"{', '.join(names)} did not become healthy",
        hint="; ".join(filter(None, [next((f.hint for f in failures if f.hint), ""), hint])),
        details=details,
    )
