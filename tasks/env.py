"""env: the branch's whole stack on Docker: start, stop, status, logs, list, prune."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from invoke.context import Context

from tasks.core import console
from tasks.core.session import Session
from tasks.core.tasking import clikd_task

if TYPE_CHECKING:
    from tasks.core.deploy.kube import Kube


@clikd_task(
    help={
        "only": "start only these services/databases (comma-separated) and what they depend on",
        "exclude": "do not start these (comma-separated); asks when something started depends on them",
        "no_pull": "use the images present locally; a missing one is an error",
        "timeout": "seconds the whole start may take (default: [development] start_timeout)",
        "dev": "then run these services from source with live update, as env.dev does (comma-separated)",
    }
)
def start(  # noqa: PLR0917  (Invoke passes flags as keyword-or-positional parameters)
    c: Context,
    only: str = "",
    exclude: str = "",
    no_pull: bool = False,
    timeout: int = 0,
    branch: str = "",
    yes: bool = False,
    json: bool = False,
    dev: str = "",
    no_wait: bool = False,
) -> None:
    """Bring the branch's stack up, healthy: databases, then services in dependency order.

    Creates the branch's network and volumes, pulls images in parallel, starts every component as
    soon as what it depends on is healthy, and waits for clikd's own probes. Run it again and it
    changes nothing (and says so); change the config or an image and only what is affected (and
    what depends on it) is recreated.

    Examples:
      inv env.start
      inv env.start --only auth --no-pull
      inv env.start --exclude studio,media --timeout 120
      clikd env.start --branch feat/x --json
      inv env.start --dev api          (then env.dev api: source, live update)
    """
    if dev:
        _start_dev(dev, branch, json, no_wait=no_wait)
        return
    from tasks.core.locking import branch_lock
    from tasks.core.prompts import confirm
    from tasks.core.stack import views  # registers the views
    from tasks.core.stack.converge import StartOptions
    from tasks.core.stack.converge import start as converge
    from tasks.core.stack.spec import Selection

    session = Session(branch=branch)
    session.local_only("env.start")

    def confirm_exclusion(selection: Selection) -> None:
        lines = [f"{dep} (needed by {', '.join(users)})" for dep, users in selection.affected.items()]
        confirm(
            f"Start without {'; '.join(lines)}?",
            assume_yes=yes,
        )

    with (
        branch_lock(session.ident, "env.start", wait=not no_wait, on_wait=console.note),
        views.LiveReporter() as reporter,
    ):
        result = converge(
            session,
            StartOptions(only=only, exclude=exclude, no_pull=no_pull, timeout=timeout or None),
            on_event=reporter,
            confirm_exclusion=confirm_exclusion,
        )
    console.emit(result, as_json=json)
    _note_left_dev(result)


def _note_left_dev(result: object) -> None:
    """Say so when env.start took a service out of dev mode (env.start --only NAME)."""
    for action in getattr(result, "actions", []):
        if action.reason.startswith("leaving dev mode"):
            console.note(f"{action.name} left dev mode: it runs its image again")


def _start_dev(services: str, branch: str, as_json: bool, *, no_wait: bool) -> None:
    from tasks.core.errors import UsageError

    session = Session(branch=branch)
    if not session.config.settings.development.hot_reload:
        raise UsageError(
            "env.start --dev is off for this checkout ([development] hot_reload = false)",
            hint="set hot_reload = true in clikd.local.toml, or run inv env.dev NAMES by hand",
        )
    _dev_session(session, services, once=False, poll=False, as_json=as_json, no_wait=no_wait)


def _dev_session(
    session: Session, services: str, *, once: bool, poll: bool, as_json: bool, no_wait: bool
) -> None:
    from tasks.core.dev import views as dev_views
    from tasks.core.dev.run import parse_names, prepare
    from tasks.core.locking import branch_lock
    from tasks.core.stack import views

    session.local_only("env.dev")
    names = parse_names(services)
    printer = dev_views.CyclePrinter(as_json=as_json)
    # The branch lock covers bringing the stack up and swapping in the dev containers; the watch
    # that follows only touches the dev services' own containers, and holding the lock for hours
    # would keep db.reset and env.stop of the branch waiting.
    with (
        branch_lock(session.ident, "env.dev", wait=not no_wait, on_wait=console.note),
        views.LiveReporter(quiet_phases=("pending", "waiting", "kept")) as reporter,
    ):
        dev = prepare(session, names, on_cycle=printer, on_event=reporter)
    if once:
        if not as_json:
            console.emit(dev.result("once"))
        return
    if not as_json:
        console.note(
            f"watching {', '.join(names)} (Ctrl+C to stop; inv env.start --only NAME leaves dev mode)"
        )
    dev.watch()


@clikd_task(
    help={
        "services": "the services to run from source, comma-separated (each needs [services.NAME.dev])",
        "once": "sync once and exit (scripts, tests)",
        "poll": "poll for changes instead of inotify (WSL, network drives)",
    }
)
def dev(  # noqa: PLR0917  (Invoke flags)
    c: Context,
    services: str,
    once: bool = False,
    poll: bool = False,
    branch: str = "",
    json: bool = False,
    no_wait: bool = False,
) -> None:
    """Run services from their source in the branch's stack, with live update until Ctrl+C.

    Makes sure the stack is up, rebuilds each named service's container from its source
    ([services.NAME.dev]) keeping its name, alias, ports and environment, syncs the source in, then
    watches: each change syncs, execs, restarts or rebuilds as the service's rules say, one line per
    cycle. Other containers are never recreated. inv env.start --only NAME leaves dev mode.

    Examples:
      inv env.dev api
      inv env.dev api,studio --poll
      clikd env.dev api --once --json
    """
    _dev_session(Session(branch=branch), services, once=once, poll=poll, as_json=json, no_wait=no_wait)


@clikd_task(
    help={
        "force": "kill the containers instead of stopping them gracefully",
        "purge": "also remove the branch's data: its volumes and its databases in shared stores",
    }
)
def stop(  # noqa: PLR0917  (Invoke flags)
    c: Context,
    force: bool = False,
    purge: bool = False,
    branch: str = "",
    yes: bool = False,
    json: bool = False,
    no_wait: bool = False,
) -> None:
    """Stop the branch's stack and remove its containers and network; data stays unless --purge.

    Containers stop in reverse dependency order. Only this branch's containers are touched.

    Examples:
      inv env.stop
      inv env.stop --purge --yes
      clikd env.stop --branch feat/old --force --json
    """
    from tasks.core.locking import branch_lock
    from tasks.core.prompts import confirm
    from tasks.core.stack import views
    from tasks.core.stack.teardown import stop as teardown

    session = Session(branch=branch)
    session.local_only("env.stop")

    def confirm_purge(targets: list[str]) -> None:
        if targets:
            confirm(
                f"Delete the data of branch {session.ident.branch!r} ({', '.join(targets)})?",
                assume_yes=yes,
            )

    with (
        branch_lock(session.ident, "env.stop", wait=not no_wait, on_wait=console.note),
        views.LiveReporter(quiet_phases=("pending", "waiting", "kept", "starting")) as reporter,
    ):
        result = teardown(session, force=force, purge=purge, on_event=reporter, confirm_purge=confirm_purge)
    console.emit(result, as_json=json)


ENV_HELP = "the target of this run: local, staging or production (default: the one env.switch chose)"


def _cluster(session: Session) -> tuple[Kube, str]:
    """The Kubernetes API and namespace of the session's remote target."""
    from tasks.core.deploy.flow import open_cluster
    from tasks.core.remote.environments import namespace

    name = session.target.name
    return open_cluster(session, name), namespace(session.config.settings, name)


@clikd_task(
    help={
        "watch": "re-render every second until Ctrl+C",
        "env": ENV_HELP,
        "inspect": "also what each store holds, as db.inspect reports it (tables, rows, keys, objects)",
    }
)
def status(  # noqa: PLR0917  (Invoke flags)
    c: Context,
    branch: str = "",
    watch: bool = False,
    env: str = "",
    json: bool = False,
    inspect: bool = False,
) -> None:
    """Show the branch's stack: services, databases, git and Docker, with hints for what is unhealthy.

    Per service: state, health (probed now), host port, probe latency, uptime, memory and CPU; per
    database: health, size and the connection string (password hidden). With --inspect, also what
    each store holds (db.inspect's report, under "inspect" in --json), read beside the rest within a
    second. Against staging or production: the Deployments and pods of its namespace, read from the
    Kubernetes API.

    Examples:
      inv env.status
      inv env.status --watch
      inv env.status --env staging
      clikd env.status --branch feat/x --json
      clikd env.status --json --inspect
    """
    session = Session(branch=branch, env=env)
    take: Callable[[], object]
    if inspect and (watch or session.target.remote):
        from tasks.core.errors import UsageError

        raise UsageError(
            "env.status --inspect reads this machine's stores for one snapshot"
            + (", not every --watch frame" if watch else f", not {session.target.name}'s"),
            hint="inv db.inspect"
            + (f" --env {session.target.name}" if session.target.remote else "")
            + " shows what the stores hold",
        )
    if session.target.remote:
        from tasks.core.remote import cluster
        from tasks.core.remote import views as remote_views  # noqa: F401  (registers the view)

        kube, namespace = _cluster(session)
        settings, name = session.config.settings, session.target.name

        def take() -> object:
            return cluster.status(kube, namespace, environment=name, settings=settings)

    else:
        from tasks.core.stack import views  # noqa: F401  (registers the views)
        from tasks.core.stack.status import snapshot
        from tasks.core.stack.status_db import Rates

        rates = Rates() if watch else None  # --watch: queries per second since the previous frame

        def take() -> object:
            return snapshot(session, rates=rates, with_inspect=inspect)

    if not watch:
        taken = take()
        console.emit(taken, as_json=json)
        found = getattr(taken, "inspect", None)
        if found is not None and not json:
            from tasks.core.insight import views as insight_views  # noqa: F401  (registers the view)

            console.emit(found)
        return
    import time

    from rich.live import Live

    from tasks.core.console import view_of

    try:
        with Live(view_of(take()), console=console.out, auto_refresh=False) as live:
            shown = time.monotonic()
            while True:
                # The next frame is taken first and drawn on the second: the screen changes a second
                # apart, however long a snapshot takes (up to a second; a slower one is drawn at once).
                view = view_of(take())
                # a little under a second: waking and drawing run up to ~20 ms late on two busy
                # cores, and a frame is promised at most a second after the last
                due = shown + 0.98
                time.sleep(max(0.0, due - time.monotonic()))
                shown = max(due, time.monotonic())
                live.update(view, refresh=True)
    except KeyboardInterrupt:
        return  # leaving the watch is the normal way to end it


@clikd_task(
    help={
        "service": "only these services/databases (comma-separated)",
        "level": "only lines at this level or above: trace, debug, info, warn, error, fatal",
        "grep": "only lines matching this regular expression",
        "since": "only lines newer than this: 30s, 10m, 2h, 1d or a timestamp",
        "tail": "only the last N matching lines per service (default: all)",
        "follow": "keep printing new lines until Ctrl+C",
        "export": "also write the lines to this file (JSON lines when it ends in .jsonl)",
    }
)
def logs(  # noqa: PLR0917  (Invoke flags)
    c: Context,
    service: str = "",
    level: str = "",
    grep: str = "",
    since: str = "",
    tail: int = -1,
    follow: bool = False,
    export: str = "",
    branch: str = "",
    env: str = "",
    json: bool = False,
) -> None:
    """Show the branch's container logs, one coloured prefix per service, in timestamp order.

    Levels come from JSON logs and common text formats; a line without one counts as INFO. Against
    staging or production: the logs of the namespace's pods, read from the Kubernetes API.

    Examples:
      inv env.logs --service api,auth --level warn --tail 50
      inv env.logs --grep 'timeout|refused' --since 10m
      inv env.logs --follow --service realtime
      inv env.logs --env production --service api --level error --since 1h
      clikd env.logs --level error --export errors.jsonl
    """
    import sys

    from tasks.core.stack import logs as stack_logs
    from tasks.core.stack.views import LogPrinter

    session = Session(branch=branch, env=env)
    filters = stack_logs.make_filters(service, level, grep)
    after = stack_logs.parse_since(since)
    last = None if tail < 0 else tail
    colour = sys.stdout.isatty() and not console.out.no_color
    if session.target.remote:
        from tasks.core.remote import cluster

        kube, namespace = _cluster(session)

        def collect() -> list[stack_logs.LogLine]:
            return cluster.collect(kube, namespace, filters=filters, since=after, tail=last)

        def stream(on_lines: Callable[[list[stack_logs.LogLine]], None]) -> None:
            cluster.follow(kube, namespace, filters=filters, since=after, tail=last, on_lines=on_lines)

        labels = sorted({t.label for t in cluster.targets(kube, namespace, filters)})
    else:

        def collect() -> list[stack_logs.LogLine]:
            return stack_logs.collect(session, filters=filters, since=after, tail=last)

        def stream(on_lines: Callable[[list[stack_logs.LogLine]], None]) -> None:
            stack_logs.follow(session, filters=filters, since=after, tail=last, on_lines=on_lines)

        labels = sorted(filters.services)
    if not follow:
        lines = collect()
        printer = LogPrinter(sorted({ln.service for ln in lines}), colour=colour, as_json=json, export=export)
        try:
            if lines:
                printer(lines)
        finally:
            printer.close()
        if export:
            console.note(f"wrote {len(lines)} lines to {export}")
        return
    printer = LogPrinter(labels, colour=colour, as_json=json, export=export)
    try:
        stream(printer)
    except KeyboardInterrupt:
        pass  # Ctrl+C is how a follow ends
    finally:
        printer.close()


@clikd_task(name="list")
def list_(c: Context, json: bool = False) -> None:
    """List every clikd environment on this machine: branch, state, containers, disk use, ports.

    Examples:
      inv env.list
      clikd env.list --json
    """
    from tasks.core.stack import views  # registers the views
    from tasks.core.stack.inventory import environments

    _ = views
    console.emit(environments(Session()), as_json=json)


@clikd_task()
def prune(c: Context, yes: bool = False, json: bool = False, no_wait: bool = False) -> None:
    """Remove the environments (containers, volumes, data) of git branches that no longer exist.

    Lists them first and asks for confirmation (--yes without a terminal).

    Examples:
      inv env.prune
      clikd env.prune --yes --json
    """
    from tasks.core.prompts import confirm
    from tasks.core.stack import views
    from tasks.core.stack.inventory import prune as prune_envs
    from tasks.core.stack.model import Environment, EnvironmentList

    def ask(gone: list[Environment]) -> None:
        if not json:
            console.emit(EnvironmentList(Session().config.settings.project.name, gone))
        confirm(
            f"Remove {len(gone)} environment(s) of deleted branches ({', '.join(e.branch for e in gone)}), "
            "with their data?",
            assume_yes=yes,
        )

    with views.LiveReporter(quiet_phases=("pending", "waiting", "kept", "starting")) as reporter:
        result = prune_envs(Session(), confirm=ask, on_event=reporter, wait=not no_wait, on_wait=console.note)
    console.emit(result, as_json=json)


# A flag for Invoke (it has no optional positionals, and the menu needs "no argument"); the clikd
# program also takes it as a bare word: `clikd env.switch staging` (see tasks/program.py).
@clikd_task(help={"target": "local, staging or production (a menu in a terminal when left out)"})
def switch(c: Context, target: str = "", json: bool = False) -> None:
    """Choose what db, env.status and env.logs act on: local, staging or production (kept per checkout).

    Kept in .clikd/target next to clikd.toml. For a single run, pass --env to the task instead;
    CLIKD_TARGET overrides both (for CI scripts). A remote target needs its [environments.NAME].

    Examples:
      inv env.switch --target staging
      inv env.switch            (pick from a menu)
      clikd env.switch staging
      clikd env.switch production --json
    """
    from tasks.core import prompts, targets
    from tasks.core.errors import UsageError
    from tasks.core.remote.switch import switch as record

    session = Session()
    if not target:
        if not prompts.interactive():
            raise UsageError(
                "env.switch needs a target, and there is no terminal to ask in",
                hint=f"pass one of: {', '.join(targets.TARGETS)}",
            )
        current = targets.switched(session.root) or "local"
        target = prompts.select("Which target should clikd act on?", list(targets.TARGETS), default=current)
    console.emit(record(session, target), as_json=json)


@clikd_task(
    help={
        "rebuild": "build every image again, even those up to date",
        "prefix": "the repository prefix of the images' tags (default: clikd-standin)",
        "cache": "folder for the debootstrap cache, Cassandra's jars and build contexts "
        "(default: ~/.cache/clikd/standin)",
    }
)
def standin(c: Context, rebuild: bool = False, prefix: str = "", cache: str = "", json: bool = False) -> None:
    """Build the local stand-in images of the platform, for a first run without registry access.

    Builds, on the local Docker engine, what the test bed plays the platform with: a Debian base
    (debootstrap, needs root once), Postgres, the KeyDB role (redis-server), the CQL role (Apache
    Cassandra, its jars fetched once with Maven) and the reference service for every service; then
    writes clikd.local.toml so that env.start runs the stack on them with nothing to pull. An image
    whose recipe and base are unchanged is kept (a rerun takes a second); the first run takes minutes.

    Examples:
      clikd env.standin && clikd env.start
      inv env.standin --rebuild
    """
    from pathlib import Path

    from tasks.core import standin_views
    from tasks.core.standin import DEFAULT_PREFIX, StandinOptions, build

    session = Session()
    options = StandinOptions(
        prefix=prefix or DEFAULT_PREFIX, cache=Path(cache).expanduser() if cache else None, rebuild=rebuild
    )
    with standin_views.StandinReporter() as reporter:
        result = build(session.config, options, on_event=reporter)
    console.emit(result, as_json=json)
