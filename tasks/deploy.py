"""deploy: the branch on Kubernetes: staging, production (blue/green), status, rollback, previews."""

from __future__ import annotations

from invoke.context import Context

from tasks.core import console
from tasks.core.deploy import wizard
from tasks.core.session import Session
from tasks.core.tasking import clikd_task

TIMEOUT_HELP = "seconds to wait for the rollouts (default: [deployment] rollout_timeout)"
TAG_HELP = (
    "image tag for every service (default: the commit's first 12 characters); when services are built "
    "([services.*.build]), the tag they are pushed under, and the others keep their configured image"
)
FORCE_HELP = "deploy even when pre-deployment checks fail (recorded in the release)"
PRODUCTION_FORCE_HELP = (
    "deploy even when pre-deployment checks fail or the commit has no green tests (recorded in the release)"
)
SKIP_TESTS_HELP = (
    "deploy without a green clikd test record for the commit; the reason goes into the release record"
)
NO_BUILD_HELP = (
    "do not build the services that have [services.*.build]: deploy their images already pushed "
    "under the tag (--tag, default: the commit)"
)


@clikd_task(
    help={
        "tag": TAG_HELP,
        "timeout": TIMEOUT_HELP,
        "force": FORCE_HELP,
        "no-build": NO_BUILD_HELP,
        "skip-tests": SKIP_TESTS_HELP,
    }
)
def staging(  # noqa: PLR0917  (Invoke passes flags as keyword-or-positional parameters)
    c: Context,
    tag: str = "",
    timeout: int = 0,
    force: bool = False,
    yes: bool = False,
    json: bool = False,
    no_build: bool = False,
    skip_tests: str = "",
) -> None:
    """Deploy the checked-out commit to staging and wait until it is healthy.

    Services with [services.*.build] in clikd.toml are built from their Dockerfiles first, tagged
    with the commit (-dirty for a changed tree) and pushed to [registry]; the Deployments run the
    pushed digests (--no-build skips this). Then it renders k8s/ for staging, validates every object
    with the API server's dry run, applies them (server-side apply, field manager clikd), waits for
    each rollout by kubectl's rules, smoke-tests each service through the API server's service
    proxy and records the release (with the images built) in the cluster.
    Warnings from the pre-deployment checks are shown; failed checks stop it unless --force.
    Tests: Required: the commit needs a green `clikd test` record of every configured test (exit
    10 without one), or --skip-tests REASON, which the release records.

    Examples:
      inv deploy.staging
      inv deploy.staging --skip-tests "hotfix, suites run after"
      inv deploy.staging --tag 1f2e3d4c5b6a --no-build --yes
      clikd deploy.staging --yes --json --timeout 600
    """
    from tasks.core.deploy import checks as checks_mod
    from tasks.core.deploy import flow, views
    from tasks.core.prompts import confirm

    session = Session()
    kube = flow.open_cluster(session, "staging")
    from tasks.core.testing import gate

    plan, building = wizard.plan(session, kube, "staging", tag=tag, no_build=no_build)
    report = checks_mod.run(session, forced=force)
    tests = gate.state(session)
    wizard.show(views.plan_view(plan, report, tests), json)
    if report.failed and not force:
        raise checks_mod.ChecksFailed(report, f"{len(report.failed)} pre-deployment check(s) failed")
    tested = gate.require(tests, "staging", skip=skip_tests)
    confirm(f"Deploy {plan.release.tag} to {plan.target.namespace}?", assume_yes=yes)
    plan, built = wizard.build(session, plan) if building else (plan, [])
    result = flow.deploy(
        session, kube, plan, checks=report, timeout=timeout or None, progress=console.note, tests=tested
    )
    console.emit(wizard.finish(result, built), as_json=json)


@clikd_task(
    help={
        "tag": TAG_HELP,
        "timeout": TIMEOUT_HELP,
        "force": PRODUCTION_FORCE_HELP,
        "confirm": "type the environment name here to confirm without a terminal: --confirm=production",
        "no-build": NO_BUILD_HELP,
        "resume": "continue a canary shift that stopped (a killed CLI, a hold) at its recorded step",
    }
)
def production(  # noqa: PLR0917  (Invoke passes flags as keyword-or-positional parameters)
    c: Context,
    tag: str = "",
    timeout: int = 0,
    force: bool = False,
    yes: bool = False,
    confirm: str = "",
    json: bool = False,
    no_build: bool = False,
    resume: bool = False,
) -> None:
    """Deploy to production, blue/green or canary: the new slot takes traffic only once it is healthy.

    A wizard in a terminal: the target and plan, the pre-deployment checks (all must pass unless
    --force) and the tests (a green `clikd test` record of the commit, no skip; --force deploys
    without one, recorded), then type 'production'. Without a terminal it needs --yes
    --confirm=production. Takes the deploy lock, runs the migrations job (expand), deploys the idle
    slot, waits, smoke-tests it through its preview Services, then switches the public Services,
    tests them again and runs the migrations job (contract; a failure is reported and exits 1, and
    the new slot stays live).
    Services with [services.*.build] are built and pushed first, as for staging; a tree with
    uncommitted changes is refused (its images would not match the commit). The old slot stays up for
    `inv deploy.rollback` during [deployment] rollback_window; the next deploy scales it to 0 after that.
    With [deployment.production] strategy = "canary", the traffic moves in the configured steps
    (Gateway API route weights, else a replica ratio) and every step is analysed against Prometheus
    per service; a failed check puts everything back on the old slot and exits 11. Ctrl+C asks abort
    (default) or hold; --resume continues a held or killed shift, deploy.rollback aborts it.

    Examples:
      inv deploy.production
      inv deploy.production --resume --yes --confirm=production
      inv deploy.production --tag v1.4.0 --yes --confirm=production
      clikd deploy.production --yes --confirm=production --json
    """
    from tasks.core.deploy import checks as checks_mod
    from tasks.core.deploy import flow, steps, views
    from tasks.core.errors import ConfirmationRequired
    from tasks.core.prompts import confirm as ask
    from tasks.core.prompts import interactive, type_to_confirm

    if not interactive() and not (yes and confirm):
        raise ConfirmationRequired(
            "deploying to production needs a confirmation, and there is no terminal to ask in",
            hint="pass --yes --confirm=production",
        )
    if confirm:  # a wrong name stops here, before anything is looked at or changed
        type_to_confirm("Deploying to production.", "production", given=confirm, flag="--confirm")
    session = Session()
    kube = flow.open_cluster(session, "production")
    watcher, ask_hold = wizard.shift_ui(json)
    if resume:
        from tasks.core.deploy.canary import run as canary_run

        ask(
            "Resume the canary shift in production (traffic moves on from the recorded step)?",
            assume_yes=yes,
        )
        type_to_confirm(
            "This changes what production serves.", "production", given=confirm or None, flag="--confirm"
        )
        resumed = canary_run.resume(
            session, kube, timeout=timeout or None, progress=console.note, watcher=watcher, ask=ask_hold
        )
        console.emit(resumed, as_json=json)
        return
    from tasks.core.testing import gate

    plan, building = wizard.plan(session, kube, "production", tag=tag, no_build=no_build)
    report = checks_mod.run(session, forced=force)
    tests = gate.state(session)
    wizard.show(views.plan_view(plan, report, tests), json)
    if report.failed and not force:
        raise checks_mod.ChecksFailed(
            report, f"{len(report.failed)} pre-deployment check(s) failed; production needs all to pass"
        )
    tested = gate.require(tests, "production", forced=force)
    ask(f"Deploy {plan.release.tag} to production ({plan.target.namespace})?", assume_yes=yes)
    type_to_confirm(
        "This changes what production serves.", "production", given=confirm or None, flag="--confirm"
    )
    plan, built = wizard.build(session, plan) if building else (plan, [])
    try:
        result = flow.deploy(
            session,
            kube,
            plan,
            checks=report,
            timeout=timeout or None,
            progress=console.note,
            tests=tested,
            watcher=watcher,
            ask=ask_hold,
        )
    except steps.ContractFailed as failed:
        failed.result = wizard.finish(failed.result, built)
        if not json:  # --json prints the result inside the error document
            console.emit(failed.result)
        raise
    console.emit(wizard.finish(result, built), as_json=json)


@clikd_task(
    help={
        "env": "only this environment: staging or production (default: both)",
        "watch": "redraw every 2 s until Ctrl+C (a canary shift's steps, weights and checks as they change)",
    }
)
def status(c: Context, env: str = "", json: bool = False, watch: bool = False) -> None:
    """Show what runs where: revision, images, ready replicas, live slot, age, who deployed.

    Reads the cluster (the Deployments and the release history kept there), never local files, so a
    canary shift in progress shows from any machine: its step, the weights now and the last checks.
    Production: an idle slot past [deployment] rollback_window is scaled to 0 (and says so).

    Examples:
      inv deploy.status
      inv deploy.status --env production --watch
      clikd deploy.status --json
    """
    from tasks.core.deploy import flow, views  # noqa: F401  (views registers the renderers)
    from tasks.core.deploy import status as status_mod
    from tasks.core.deploy.model import StatusReport

    session = Session()
    environments = [env] if env else ["staging", "production"]
    # Each environment on its own cluster when clikd.toml gives it one ([environments.NAME]).
    clusters = {e: flow.open_cluster(session, e) for e in environments}

    def report() -> StatusReport:
        parts = [status_mod.status(session, clusters[e], [e]) for e in environments]
        return StatusReport(parts[0].cluster, [s for part in parts for s in part.environments])

    if not watch:
        console.emit(report(), as_json=json)
        return
    if json:
        from tasks.core.errors import UsageError

        raise UsageError("--watch redraws for a person; --json prints once", hint="pass one of them")
    import time

    from rich.live import Live

    with Live(console.view_of(report()), console=console.out, auto_refresh=False) as live:
        try:
            while True:
                time.sleep(2.0)
                live.update(console.view_of(report()), refresh=True)
        except KeyboardInterrupt:
            return


@clikd_task(
    help={
        "to": "the revision to return to (default: the release before the current one)",
        "env": "staging or production (default: production)",
        "timeout": TIMEOUT_HELP,
        "confirm": "for production without a terminal: --confirm=production",
    }
)
def rollback(  # noqa: PLR0917  (Invoke passes flags as keyword-or-positional parameters)
    c: Context,
    to: int = 0,
    env: str = "production",
    timeout: int = 0,
    yes: bool = False,
    confirm: str = "",
    json: bool = False,
) -> None:
    """Return an environment to a recorded release.

    Production: when the release's slot still runs it, the public Services switch back to that
    slot (scaled back up first if it was scaled down, then smoke-tested); otherwise the release's
    images are deployed to the idle slot first.
    Staging: the release's recorded manifests are applied again. Either way a new revision records it.
    A canary shift that is not over (shifting, held, or left by a killed run) is aborted instead: all
    traffic back on the stable slot, the canary scaled to 0, smoke-tested.

    Examples:
      inv deploy.rollback
      inv deploy.rollback --to 7 --yes --confirm=production
      inv deploy.rollback --env staging --yes
    """
    from tasks.core.deploy import flow
    from tasks.core.deploy import rollback as back
    from tasks.core.deploy.render import Layout, target_for
    from tasks.core.prompts import confirm as ask
    from tasks.core.prompts import type_to_confirm

    session = Session()
    kube = flow.open_cluster(session, env)
    target = target_for(session.config.settings, Layout(session.root), env)
    if env == "production" and not to:
        from tasks.core.deploy.canary import run as canary_run

        shifting = canary_run.in_progress(kube, target.namespace)
        if shifting is not None:
            if not json:
                console.note(
                    f"production: revision {shifting.revision} is mid-shift; the rollback aborts it "
                    "(every route and Service back on the stable slot, the canary scaled to 0)"
                )
            ask(f"Abort the canary shift of revision {shifting.revision}?", assume_yes=yes)
            type_to_confirm(
                "This changes what production serves.", "production", given=confirm or None, flag="--confirm"
            )
            console.emit(back.rollback(session, kube, env, progress=console.note), as_json=json)
            return
    chosen, current = back.rollback_target(kube, target.namespace, to or None)
    if not json:
        console.note(
            f"{env}: revision {current.revision if current else '-'} → back to revision {chosen.revision} "
            f"({chosen.tag}, deployed {chosen.time:%Y-%m-%d %H:%M} UTC by {chosen.user})"
        )
    ask(f"Roll {env} back to revision {chosen.revision}?", assume_yes=yes)
    if env == "production":
        type_to_confirm(
            "This changes what production serves.", "production", given=confirm or None, flag="--confirm"
        )
    result = back.rollback(
        session, kube, env, to=chosen.revision, timeout=timeout or None, progress=console.note
    )
    console.emit(result, as_json=json)


@clikd_task(
    help={
        "delete": "delete this branch's preview namespace",
        "sweep": "delete every preview past its expiry",
        "tag": TAG_HELP,
        "timeout": TIMEOUT_HELP,
        "no-build": NO_BUILD_HELP,
    }
)
def preview(  # noqa: PLR0917  (Invoke passes flags as keyword-or-positional parameters)
    c: Context,
    delete: bool = False,
    sweep: bool = False,
    tag: str = "",
    timeout: int = 0,
    branch: str = "",
    yes: bool = False,
    no_build: bool = False,
    json: bool = False,
) -> None:
    """Put the branch into its own preview namespace (with an expiry), or remove it.

    The namespace comes from the branch identity ([deployment] namespace_prefix + branch); it is
    labelled dev.clikd/expires-at, and --sweep deletes the expired ones. Services with a build
    section are built from this checkout and pushed first, as for staging (--no-build skips that).

    Examples:
      inv deploy.preview --yes
      inv deploy.preview --delete --yes
      inv deploy.preview --sweep --yes
    """
    from dataclasses import replace

    from tasks.core.deploy import flow, views
    from tasks.core.deploy import status as status_mod
    from tasks.core.prompts import confirm

    session = Session(branch=branch)
    kube = flow.open_cluster(session)
    if sweep:
        confirm("Delete every expired preview namespace?", assume_yes=yes)
        console.emit(status_mod.preview_sweep(kube), as_json=json)
        return
    if delete:
        confirm(f"Delete preview namespace {status_mod.preview_namespace(session)}?", assume_yes=yes)
        console.emit(status_mod.preview_delete(session, kube), as_json=json)
        return
    plan, building = wizard.plan(
        session, kube, "preview", tag=tag, no_build=no_build, namespace=status_mod.preview_namespace(session)
    )
    wizard.show(views.plan_view(plan), json)
    confirm(f"Deploy a preview to {plan.target.namespace}?", assume_yes=yes)
    plan, built = wizard.build(session, plan) if building else (plan, [])
    result = status_mod.preview_deploy(session, kube, plan, timeout=timeout or None, progress=console.note)
    if built and result.deploy is not None:
        result = replace(result, deploy=wizard.finish(result.deploy, built))
    console.emit(result, as_json=json)
