"""test: is this branch's stack right? Contract tests from the spec and each service's own suite.

Contract tests (schemathesis) run against every service with ``[services.NAME.test] openapi``;
suites run each service's ``[services.NAME.test] command`` in a container or on the host. Results
are recorded per branch by content key: a rerun with nothing changed runs nothing (``--force``
reruns). ``deploy.staging`` and ``deploy.production`` want a green record for their commit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from invoke.context import Context

from tasks.core import console
from tasks.core.session import Session
from tasks.core.tasking import clikd_task

if TYPE_CHECKING:
    from tasks.core.testing.run import What

HELP = {
    "only": "test only these services (comma-separated); env.start starts only them and what they need",
    "junit": "also write the results as JUnit XML to this file (for CI)",
    "force": "run every test, even those whose green record matches (nothing changed)",
    "reset": "db.reset the branch first (clean migrated, seeded stores) when something is to run",
    "no_start": "refuse (exit 5) when a tested service does not run, instead of starting it (env.start)",
    "seed": "the Hypothesis seed of the contract tests (default: [services.NAME.test] seed)",
    "examples": "generated cases per API operation (default: [services.NAME.test] examples)",
}


def _run(
    what: What,
    *,
    branch: str,
    only: str,
    json: bool,
    junit: str,
    force: bool,
    reset: bool,
    no_start: bool,
    seed: int,
    examples: int,
    no_wait: bool,
) -> None:
    from pathlib import Path

    from tasks.core.errors import TestsFailed
    from tasks.core.testing import run as core
    from tasks.core.testing import views

    session = Session(branch=branch)
    session.local_only(f"test.{what}")

    def start(services: list[str]) -> None:
        from tasks.core.locking import branch_lock
        from tasks.core.stack import views as stack_views
        from tasks.core.stack.converge import StartOptions
        from tasks.core.stack.converge import start as converge

        console.note(f"starting what the tests need: {', '.join(services)}")
        with (
            branch_lock(session.ident, "test: env.start", wait=not no_wait, on_wait=console.note),
            stack_views.LiveReporter() as reporter,
        ):
            converge(session, StartOptions(only=",".join(services)), on_event=reporter)

    def reset_stores() -> None:
        from tasks.core.db import migrate, target
        from tasks.core.db import reset as resetting
        from tasks.core.locking import branch_lock
        from tasks.core.stack.spec import resolve

        # db.reset cleans every store: each database the branch runs must be up, not only those the
        # tested services depend on (a no-op for the ones that run).
        stack = resolve(session.config.settings, session.ident)
        start([c.name for c in stack.components.values() if c.role == "database" and c.managed])
        t = target.for_session(session)
        with branch_lock(session.ident, "test: db.reset", wait=not no_wait, on_wait=console.note):
            done = resetting.reset(
                t,
                migrate.pick(""),
                seeded=True,
                scylla_empty="truncate",
                keep_standby=session.config.settings.development.reset_standby,
            )
        console.note(f"db.reset: {len(done.stores)} store(s) clean, migrated and seeded")

    options = core.RunOptions(
        what=what, only=only, force=force, reset=reset, no_start=no_start, examples=examples, seed=seed
    )
    with views.ServiceLines(enabled=not json) as lines:
        report = core.run(session, options, start=start, reset=reset_stores, progress=lines)
    if junit:
        from tasks.core.testing.junit import write

        report.junit = str(write(report, Path(junit)))
    if report.failed:
        if not json:
            console.emit(report)
        names = ", ".join(f"{o.service} {o.suite}" for o in report.failed)
        error = TestsFailed(
            f"{len(report.failed)} of {len(report.outcomes)} test(s) failed: {names}",
            hint="the failures are above (--json: under report); fix them and run the command again",
        )
        error.to_dict = lambda: {**TestsFailed.to_dict(error), "report": console.to_jsonable(report)}  # type: ignore[method-assign]
        raise error
    console.emit(report, as_json=json)


@clikd_task(help=HELP)
def contract(  # noqa: PLR0917  (each parameter is a CLI flag)
    c: Context,
    branch: str = "",
    only: str = "",
    json: bool = False,
    junit: str = "",
    force: bool = False,
    reset: bool = False,
    no_start: bool = False,
    seed: int = -1,
    examples: int = 0,
    no_wait: bool = False,
) -> None:
    """Run contract tests (schemathesis, from the OpenAPI spec) against every service that serves one.

    For each service with [services.NAME.test] openapi: every operation of the spec (or of its
    `operations`), with a bounded budget of generated requests and a fixed seed; checks: no 5xx,
    responses conform to their schema, status codes are documented. Exits 10 when one fails.

    Examples:
      clikd test.contract
      clikd test.contract --only api --examples 50 --seed 7
      clikd test.contract --junit reports/contract.xml --json
    """
    _run(
        "contract",
        branch=branch,
        only=only,
        json=json,
        junit=junit,
        force=force,
        reset=reset,
        no_start=no_start,
        seed=seed,
        examples=examples,
        no_wait=no_wait,
    )


@clikd_task(help={k: v for k, v in HELP.items() if k not in ("seed", "examples")})
def suites(  # noqa: PLR0917  (each parameter is a CLI flag)
    c: Context,
    branch: str = "",
    only: str = "",
    json: bool = False,
    junit: str = "",
    force: bool = False,
    reset: bool = False,
    no_start: bool = False,
    no_wait: bool = False,
) -> None:
    """Run each service's own suite ([services.NAME.test] command) against the branch's stack.

    `where = "container"` runs it in the service's dev container (env.dev) or a one-off container
    of its image on the branch's network; `where = "host"` on this machine. The suite gets the
    branch's URLs, database URLs, key prefix and keyspace in its environment. Exits 10 when one fails.

    Examples:
      clikd test.suites
      clikd test.suites --only auth,api --reset
    """
    _run(
        "suites",
        branch=branch,
        only=only,
        json=json,
        junit=junit,
        force=force,
        reset=reset,
        no_start=no_start,
        seed=-1,
        examples=0,
        no_wait=no_wait,
    )


@clikd_task(help=HELP)
def all(  # noqa: PLR0917  (each parameter is a CLI flag)
    c: Context,
    branch: str = "",
    only: str = "",
    json: bool = False,
    junit: str = "",
    force: bool = False,
    reset: bool = False,
    no_start: bool = False,
    seed: int = -1,
    examples: int = 0,
    no_wait: bool = False,
) -> None:
    """Run the contract tests and every service's suite, in parallel across services, and record them.

    One line per service while they run, then a table (service, suite, passed/failed/skipped,
    seconds) and the failures' output. A rerun with nothing changed runs nothing and says so.
    The records are what deploy.staging and deploy.production require for their commit.

    Examples:
      clikd test.all
      clikd test.all --reset --junit test-results.xml
      clikd test.all --force --only api
    """
    _run(
        "all",
        branch=branch,
        only=only,
        json=json,
        junit=junit,
        force=force,
        reset=reset,
        no_start=no_start,
        seed=seed,
        examples=examples,
        no_wait=no_wait,
    )
