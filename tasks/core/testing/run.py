"""`clikd test`: plan the branch's tests, skip the unchanged ones, run the rest side by side, record.

Order of work: the tests the config declares (contract tests of every service with
``[services.NAME.test] openapi``, the suite of every service with ``command``), the branch's
containers (one list call), env.start when a tested service does not run (unless ``--no-start``),
each test's content key (keys.py), the passed records of those keys (results.py), then db.reset
(``--reset``) and the tests that are left: one worker per service, its contract tests then its
suite. Nothing here prints; progress goes to the ``progress`` callback.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from tasks.core.errors import Unavailable, UsageError
from tasks.core.testing import keys, results
from tasks.core.testing.model import Outcome, Planned, TestReport

if TYPE_CHECKING:
    import docker

    from tasks.core.config.schema import Settings
    from tasks.core.session import Session
    from tasks.core.stack.spec import Stack

What = Literal["contract", "suites", "all"]
Progress = Callable[[str, str, bool], None]  # (service, what it does now, whether the service is done)


def _nothing(service: str, text: str, done: bool) -> None:
    return None


@dataclass(frozen=True)
class RunOptions:
    what: What = "all"
    only: str = ""
    force: bool = False
    reset: bool = False
    no_start: bool = False
    examples: int = 0  # 0: [services.NAME.test] examples
    seed: int = -1  # -1: [services.NAME.test] seed


def plan_tests(settings: Settings, what: What, only: str = "") -> list[Planned]:
    """Every test the config declares for the enabled services, in config order."""
    wanted = [n.strip() for n in only.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in settings.services]
    if unknown:
        raise UsageError(
            f"--only names no service: {', '.join(unknown)}", hint=f"services: {', '.join(settings.services)}"
        )
    planned: list[Planned] = []
    for name, service in settings.services.items():
        test = service.test
        if test is None or not service.enabled or (wanted and name not in wanted):
            continue
        if test.openapi and what in ("contract", "all"):
            planned.append(Planned(name, "contract", "contract", test))
        if test.command and what in ("suites", "all"):
            planned.append(Planned(name, test.name, "suite", test))
    return planned


def spec_path(session: Session, planned: Planned) -> Path:
    return session.root / (planned.config.spec or session.config.settings.codegen.spec)


def budget_of(planned: Planned, options: RunOptions) -> dict[str, int]:
    return {
        "examples": options.examples or planned.config.examples,
        "seed": options.seed if options.seed >= 0 else planned.config.seed,
    }


def required_inputs(session: Session) -> dict[str, str]:
    """``service/suite`` -> inputs digest of every configured test, with the configured budget."""
    found: dict[str, str] = {}
    for planned in plan_tests(session.config.settings, "all"):
        spec = keys.spec_bytes_digest(spec_path(session, planned)) if planned.kind == "contract" else ""
        found[f"{planned.service}/{planned.suite}"] = keys.inputs_digest(
            planned, spec, budget_of(planned, RunOptions())
        )
    return found


def _containers(client: docker.DockerClient, stack: Stack) -> dict[str, dict[str, Any]]:
    from tasks.core.stack.engine import branch_containers
    from tasks.core.stack.model import LABEL_ROLE, LABEL_SERVICE

    found: dict[str, dict[str, Any]] = {}
    for summary in branch_containers(client, stack.project, stack.branch):
        labels = summary.get("Labels") or {}
        if labels.get(LABEL_ROLE) == "service":
            found[labels.get(LABEL_SERVICE, "")] = summary
    return found


def _identity(summary: dict[str, Any]) -> str:
    from tasks.core.stack.model import LABEL_DEV

    source = (summary.get("Labels") or {}).get(LABEL_DEV)
    if source and Path(source).is_dir():
        return keys.source_identity(Path(source))
    return f"image:{summary.get('ImageID', '')}"


def run(
    session: Session,
    options: RunOptions,
    *,
    start: Callable[[list[str]], None],
    reset: Callable[[], None],
    progress: Progress = _nothing,
) -> TestReport:
    """Run the branch's tests as ``options`` say; ``start`` brings services up, ``reset`` is db.reset."""
    from tasks.core.stack.engine import connect
    from tasks.core.stack.spec import resolve

    began = time.monotonic()
    settings = session.config.settings
    commit, dirty = keys.head_commit(session.root)
    report = TestReport(session.ident.branch, commit, dirty, options.what)
    planned = plan_tests(settings, options.what, options.only)
    if not planned:
        kinds = {"contract": "openapi", "suites": "command", "all": "openapi or command"}[options.what]
        report.notes.append(f"no tests configured: no service has [services.NAME.test] {kinds}")
        return report
    stack = resolve(settings, session.ident)
    services = list(dict.fromkeys(p.service for p in planned))
    client = connect()
    running = _containers(client, stack)
    down = [s for s in services if running.get(s, {}).get("State") != "running"]
    if down:
        if options.no_start:
            raise Unavailable(
                f"not running on branch {session.ident.branch}: {', '.join(down)}",
                hint="start them (clikd env.start), or leave out --no-start and clikd test starts them",
            )
        start(services)
        running = _containers(client, stack)
        down = [s for s in services if running.get(s, {}).get("State") != "running"]
        if down:
            raise Unavailable(
                f"still not running after env.start: {', '.join(down)}", hint="clikd env.status"
            )

    records = results.Records(session.ident)
    keyed = [_key(session, p, options, stack, running) for p in planned]
    todo = [k for k in keyed if options.force or records.green(k.key) is None]
    changed = False
    outcomes: dict[str, Outcome] = {}
    for k in keyed:
        record = records.green(k.key)
        if k not in todo and record is not None:
            outcomes[k.key] = results.outcome_of(record, k.key)
            changed |= records.confirm(k.key, commit, dirty)
    if todo:
        if options.reset:
            reset()
        ran = _run_all(session, todo, options, stack, client, running, progress)
        for k, outcome in zip(todo, ran, strict=True):
            outcome.key = k.key
            outcomes[k.key] = outcome
            records.add(outcome, inputs=k.inputs, identity=k.identity, commit=commit, dirty=dirty)
        changed = True
    if changed:
        records.save()
    report.outcomes = [outcomes[k.key] for k in keyed]
    report.executed = len(todo)
    report.seconds = round(time.monotonic() - began, 3)
    return report


def _key(
    session: Session, planned: Planned, options: RunOptions, stack: Stack, running: dict[str, dict[str, Any]]
) -> keys.Keyed:
    from tasks.core.testing import suites

    spec = keys.spec_bytes_digest(spec_path(session, planned)) if planned.kind == "contract" else ""
    inputs = keys.inputs_digest(planned, spec, budget_of(planned, options))
    identity = _identity(running[planned.service])
    extra: dict[str, str] = {}
    if planned.kind == "suite":
        inside = planned.config.where == "container"
        extra = suites.environment(planned, session.config.settings, session.ident, stack, inside=inside)
    return keys.Keyed(planned, keys.content_key(inputs, identity, extra), inputs, identity)


def _run_all(  # noqa: PLR0917  (the run's parts, passed down once)
    session: Session,
    todo: list[keys.Keyed],
    options: RunOptions,
    stack: Stack,
    client: docker.DockerClient,
    running: dict[str, dict[str, Any]],
    progress: Progress,
) -> list[Outcome]:
    """One worker per service (its tests in order); the outcomes in the order of ``todo``."""
    by_service: dict[str, list[keys.Keyed]] = {}
    for k in todo:
        by_service.setdefault(k.planned.service, []).append(k)

    def one_service(service: str) -> list[Outcome]:
        done: list[Outcome] = []
        for k in by_service[service]:
            progress(service, f"{k.planned.suite}: running", False)
            outcome = _run_one(session, k.planned, options, stack, client, running[service])
            done.append(outcome)
            progress(service, f"{k.planned.suite}: {outcome.status} ({outcome.seconds:.1f}s)", False)
        failed = [o.suite for o in done if not o.ok]
        progress(service, f"failed: {', '.join(failed)}" if failed else "passed", True)
        return done

    workers = max(1, min(len(by_service), os.cpu_count() or 2))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="clikd-test") as pool:
        finished = dict(zip(by_service, pool.map(one_service, by_service), strict=True))
    order = {id(k): i for i, k in enumerate(todo)}
    flat = [(k, o) for service, ks in by_service.items() for k, o in zip(ks, finished[service], strict=True)]
    return [o for _k, o in sorted(flat, key=lambda pair: order[id(pair[0])])]


def _run_one(  # noqa: PLR0917  (the run's parts, passed down once)
    session: Session,
    planned: Planned,
    options: RunOptions,
    stack: Stack,
    client: docker.DockerClient,
    summary: dict[str, Any],
) -> Outcome:
    from tasks.core.stack.model import LABEL_DEV

    settings = session.config.settings
    comp = stack.components[planned.service]
    if planned.kind == "contract":
        from tasks.core.testing import contract

        port = comp.ports.get(planned.config.port)
        if port is None:
            return Outcome(
                planned.service,
                planned.suite,
                "contract",
                "error",
                key="",
                detail=f"[services.{planned.service}.test] port = {planned.config.port!r}: no such port",
            )
        url = f"http://127.0.0.1:{port[1]}"
        problem = _serves_document(url + planned.config.openapi)
        if problem:
            return Outcome(
                planned.service, planned.suite, "contract", "error", key="", where=url, detail=problem
            )
        budget = budget_of(planned, options)
        return contract.run(
            planned,
            spec_path(session, planned),
            url,
            contract.Budget(budget["examples"], budget["seed"]),
            timeout=planned.config.timeout,
        )
    from tasks.core.testing import suites

    inside = planned.config.where == "container"
    env = suites.environment(planned, settings, session.ident, stack, inside=inside)
    if not inside:
        return suites.run_host(planned, env, session.root)
    if (summary.get("Labels") or {}).get(LABEL_DEV):
        return suites.run_in_dev_container(client, planned, env, comp.container)
    return suites.run_one_off(
        client,
        planned,
        env,
        image=str(summary.get("ImageID") or comp.image),
        service_env=comp.environment,
        ident=session.ident,
        network=stack.network,
    )


def _serves_document(url: str) -> str:
    """ "" when ``url`` answers 200, else why not: the service does not serve its OpenAPI document."""
    import http.client
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310  (http to the branch's own stack)
            if answer.status == 200:
                return ""
            return f"GET {url} answered {answer.status}: the service serves no OpenAPI document there"
    except urllib.error.HTTPError as exc:
        return f"GET {url} answered {exc.code}: no OpenAPI document there ([services.NAME.test] openapi)"
    except (OSError, http.client.HTTPException) as exc:
        return f"GET {url} failed: {type(exc).__name__}: {exc}"[:300]
