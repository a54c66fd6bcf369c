"""env: the branch's whole stack on Docker: start, stop, status, logs, list, prune."""

from __future__ import annotations

from invoke.context import Context

from tasks.core import console
from tasks.core.session import Session
from tasks.core.tasking import clikd_task


@clikd_task(
    help={
        "only": "start only these services/databases (comma-separated) and what they depend on",
        "exclude": "do not start these (comma-separated); asks when something started depends on them",
        "no_pull": "use the images present locally; a missing one is an error",
        "timeout": "seconds the whole start may take (default: [development] start_timeout)",
    }
)
def start(  # noqa: PLR0917  (Invoke passes flags as keyword-or-positional parameters)
    c: Context,
    only: str = "",
    exclude: str = "",
    no_pull: bool = False,
    timeout: float = 0.0,
    branch: str = "",
    yes: bool = False,
    json: bool = False,
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
    """
    from tasks.core.prompts import confirm
    from tasks.core.stack import views  # registers the views
    from tasks.core.stack.converge import StartOptions
    from tasks.core.stack.converge import start as converge
    from tasks.core.stack.spec import Selection

    session = Session(branch=branch)

    def confirm_exclusion(selection: Selection) -> None:
        lines = [f"{dep} (needed by {', '.join(users)})" for dep, users in selection.affected.items()]
        confirm(
            f"Start without {'; '.join(lines)}?",
            assume_yes=yes,
        )

    with views.LiveReporter() as reporter:
        result = converge(
            session,
            StartOptions(only=only, exclude=exclude, no_pull=no_pull, timeout=timeout or None),
            on_event=reporter,
            confirm_exclusion=confirm_exclusion,
        )
    console.emit(result, as_json=json)


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
) -> None:
    """Stop the branch's stack and remove its containers and network; data stays unless --purge.

    Containers stop in reverse dependency order. Only this branch's containers are touched.

    Examples:
      inv env.stop
      inv env.stop --purge --yes
      clikd env.stop --branch feat/old --force --json
    """
    from tasks.core.prompts import confirm
    from tasks.core.stack import views
    from tasks.core.stack.teardown import stop as teardown

    session = Session(branch=branch)

    def confirm_purge(targets: list[str]) -> None:
        if targets:
            confirm(
                f"Delete the data of branch {session.ident.branch!r} ({', '.join(targets)})?",
                assume_yes=yes,
            )

    with views.LiveReporter(quiet_phases=("pending", "waiting", "kept", "starting")) as reporter:
        result = teardown(session, force=force, purge=purge, on_event=reporter, confirm_purge=confirm_purge)
    console.emit(result, as_json=json)


@clikd_task(help={"watch": "re-render every 2 seconds until Ctrl+C"})
def status(c: Context, branch: str = "", watch: bool = False, json: bool = False) -> None:
    """Show the branch's stack: services, databases, git and Docker, with hints for what is unhealthy.

    Per service: state, health (probed now), host port, probe latency, uptime, memory and CPU; per
    database: health, size and the connection string (password hidden).

    Examples:
      inv env.status
      inv env.status --watch
      clikd env.status --branch feat/x --json
    """
    from tasks.core.stack import views
    from tasks.core.stack.status import snapshot

    session = Session(branch=branch)
    if not watch:
        console.emit(snapshot(session), as_json=json)
        return
    import time

    from rich.live import Live

    try:
        with Live(views.render(snapshot(session)), console=console.out, auto_refresh=False) as live:
            while True:
                time.sleep(2)
                live.update(views.render(snapshot(session)), refresh=True)
    except KeyboardInterrupt:
        return  # leaving the watch is the normal way to end it
