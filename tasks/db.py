"""db: migrations, seeds, instant reset, schema diff, dump/restore of a branch's three stores."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from invoke.context import Context

from tasks.core import console
from tasks.core.locking import task_lock
from tasks.core.session import Session
from tasks.core.tasking import clikd_task
from tasks.db_insight import ENV_HELP, STORES_HELP, connect, flush, inspect, keys, schema

if TYPE_CHECKING:
    # a type only: the models module (with the migration files' parser) loads when a db task runs,
    # not with the task collection that every command builds
    from tasks.core.db.models import Progress

# db tasks defined in tasks/db_insight.py (what the stores hold), part of this namespace
__all__ = ["ENV_HELP", "STORES_HELP", "connect", "flush", "inspect", "keys", "schema"]


@contextmanager
def _bars(enabled: bool = True) -> Iterator[Progress]:
    """A progress bar per store on stderr (nothing when stderr is not a terminal)."""
    if not enabled or not console.err.is_terminal:
        yield lambda store, done, total, what: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bars: dict[str, object] = {}
    with Progress(
        TextColumn("{task.description:<8}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[what]}"),
        TimeElapsedColumn(),
        console=console.err,
        transient=False,
    ) as progress:

        def update(store: str, done: int, total: int, what: str) -> None:
            if store not in bars:
                bars[store] = progress.add_task(store, total=max(total, 1), what=what)
            task_id = bars[store]
            progress.update(task_id, completed=done if total else 1, total=max(total, 1), what=what)  # type: ignore[arg-type]

        yield update


def _warnings(report: object) -> None:
    for store in getattr(report, "stores", []):
        for line in getattr(store, "warnings", []):
            console.warn(line)


@clikd_task(
    help={
        "stores": STORES_HELP,
        "env": ENV_HELP,
        "confirm": "for production without a terminal: --confirm=production",
    }
)
def migrate(  # noqa: PLR0917  (Invoke flags)
    c: Context,
    branch: str = "",
    stores: str = "",
    env: str = "",
    confirm: str = "",
    json: bool = False,
    no_wait: bool = False,
) -> None:
    """Apply pending migrations to the branch's Postgres (auth, main), Scylla and KeyDB.

    Creates the databases, keyspace and prefix when they do not exist yet. Concurrent runs wait for
    each other; drifted migrations (applied, then edited) are reported and never re-run. Against
    staging or production it goes through the bastion; production asks for its name to be typed.

    Examples:
      inv db.migrate
      inv db.migrate --stores auth,main --branch feature/login
      inv db.migrate --env staging
      clikd db.migrate --env production --confirm=production --json
    """
    from tasks.core.db import migrate as core
    from tasks.core.db import target, views  # noqa: F401  (views registers the tables)

    session = Session(branch=branch, env=env)
    chosen = core.pick(stores)
    with task_lock(session, "db.migrate", no_wait=no_wait), target.opened(session, "db.migrate") as t:
        if session.target.name == "production":
            from tasks.core.prompts import type_to_confirm

            pending = sum(s.count("pending") for s in core.status(t, chosen).stores)
            if pending:
                type_to_confirm(
                    f"{pending} migration(s) will run against production.",
                    "production",
                    given=confirm or None,
                    flag="--confirm",
                )
        with _bars(not json) as progress:
            report = core.migrate(t, chosen, progress=progress, on_wait=console.note)
    _warnings(report)
    for s in report.stores:
        for m in s.drift:
            console.warn(f"{s.store}: migration {m.version} ({m.description}) is {m.state}; not re-run")
    console.emit(report, as_json=json)


@clikd_task(help={"stores": STORES_HELP, "env": ENV_HELP})
def status(c: Context, branch: str = "", stores: str = "", env: str = "", json: bool = False) -> None:
    """Show applied, pending and drifted migrations per store.

    Examples:
      inv db.status
      inv db.status --json --branch main
      inv db.status --env staging
    """
    from tasks.core.db import migrate as core
    from tasks.core.db import target, views  # noqa: F401

    with target.opened(Session(branch=branch, env=env), "db.status") as t:
        report = core.status(t, core.pick(stores))
    console.emit(report, as_json=json)


@clikd_task(
    help={"name": "what the migration does, e.g. 'add crew banners'", "store": "auth, main, scylla or keydb"}
)
def new(c: Context, name: str, store: str = "main", json: bool = False) -> None:
    """Create a migration file from the store's template, named by UTC timestamp and NAME.

    Examples:
      inv db.new "add crew banners" --store main
      inv db.new drop_reactions --store scylla
    """
    from tasks.core.db.files import new_migration
    from tasks.core.errors import UsageError

    if name in ("--help", "-h"):  # inv takes a help flag as the missing NAME
        raise UsageError("db.new needs a NAME", "inv --help db.new shows its flags and examples")
    session = Session()
    path = new_migration(session.root, store, name)
    rel = path.relative_to(session.root)
    if json:
        console.emit({"path": str(rel), "store": store}, as_json=True)
    else:
        console.success(f"created {rel}")


@clikd_task(help={"stores": STORES_HELP, "env": ENV_HELP})
def seed(  # noqa: PLR0917  (Invoke flags)
    c: Context, branch: str = "", stores: str = "", env: str = "", json: bool = False, no_wait: bool = False
) -> None:
    """Load the development seed data (seeds/) into the branch's migrated stores; safe to rerun.

    Refuses any target other than local development.

    Examples:
      inv db.seed
      inv db.seed --stores main,keydb --branch feature/crews
    """
    from tasks.core.db import migrate as core
    from tasks.core.db import seeds, target, views  # noqa: F401

    session = Session(branch=branch, env=env)
    session.require_local("db.seed")
    t = target.for_session(session)
    with task_lock(session, "db.seed", no_wait=no_wait):
        report = seeds.seed(t, core.pick(stores, t.stores))
    console.emit(report, as_json=json)


@clikd_task(
    help={
        "stores": STORES_HELP,
        "no_seed": "leave the stores empty: migrations only",
        "scylla_empty": "how Scylla tables are emptied: truncate (default) or delete (partition deletes)",
        "env": "refused unless local: db.reset never touches staging or production",
    }
)
def reset(  # noqa: PLR0917  (each parameter is a CLI flag)
    c: Context,
    branch: str = "",
    yes: bool = False,
    stores: str = "",
    no_seed: bool = False,
    scylla_empty: str = "truncate",
    env: str = "",
    json: bool = False,
    no_wait: bool = False,
) -> None:
    """Give the branch a clean state, fast: migrations plus seeds in Postgres, Scylla and KeyDB.

    Postgres gets a copy of a cached template (rebuilt when migrations or seeds change): the
    standby copy the previous reset left, or a clone; Scylla's tables are emptied in place; KeyDB
    keys under the branch's prefix are unlinked. A worker process per driver. Asks first in a
    terminal; needs --yes without one.

    Examples:
      inv db.reset
      inv db.reset --yes
      inv db.reset --yes --no-seed --stores auth,main
      CLIKD_BRANCH=feature/crews clikd db.reset --yes --json
    """
    import importlib

    from tasks.core import prompts
    from tasks.core.db import migrate as core
    from tasks.core.db import reset as resetting
    from tasks.core.db import target
    from tasks.core.errors import UsageError

    if scylla_empty not in ("truncate", "delete"):
        raise UsageError(f"--scylla-empty {scylla_empty!r} is not truncate or delete")
    session = Session(branch=branch, env=env)
    session.require_local("db.reset")
    t = target.for_session(session)
    chosen = core.pick(stores, t.stores)
    what = ", ".join(t.name_of(s) + ("*" if s == "keydb" else "") for s in chosen)
    prompts.confirm(f"Replace all data of branch {t.branch!r} ({what})?", assume_yes=yes)
    with task_lock(session, "db.reset", no_wait=no_wait):
        report = resetting.reset(
            t,
            chosen,
            seeded=not no_seed,
            scylla_empty=scylla_empty,
            keep_standby=session.config.settings.development.reset_standby,
            # The tables' code loads while the worker processes reset the stores (JSON needs none of it).
            meanwhile=lambda: None if json else importlib.import_module("tasks.core.db.views"),
        )
    console.emit(report, as_json=json)


@clikd_task(
    help={
        "branch": "the branch to compare with (default: the main branch; with --env, this branch)",
        "sql": "print a Postgres migration that turns the other branch's schema into this one's",
        "exit_code": "exit 7 when there are differences (like git diff --exit-code)",
        "env": "compare this branch with staging's or production's live schema (through the bastion)",
    }
)
def diff(  # noqa: PLR0917  (Invoke flags)
    c: Context,
    branch: str = "",
    sql: bool = False,
    json: bool = False,
    exit_code: bool = False,
    env: str = "",
) -> None:
    """Compare this branch's schemas with another branch's: Postgres, Scylla, KeyDB.

    This branch is the checked-out one (or CLIKD_BRANCH). When the other branch's databases do not
    exist, they are built from its migrations (read through git) in throwaway databases. With a
    remote target, the other side is that environment's live schema: what deploying would change.

    Examples:
      inv db.diff
      inv db.diff --branch main --sql > migrations/postgres/main/20260301000000_catch_up.sql
      inv db.diff --env staging --exit-code
      CLIKD_BRANCH=feature/crews inv db.diff --json
    """
    from tasks.core.db import diff as differ
    from tasks.core.db import target, views
    from tasks.core.db.errors import MissingDatabase
    from tasks.core.errors import CheckFailed

    session = Session(env=env)
    if session.target.remote:
        this = target.for_branch(session, branch) if branch else target.for_session(session)
        with target.opened(session, "db.diff") as other:
            if not differ.other_exists(other):
                raise MissingDatabase(
                    f"{other.branch} has no {other.database('main')} or {other.keyspace}: "
                    "nothing to compare with",
                    hint=f"migrate it first: inv db.migrate --env {other.branch}",
                )
            report = differ.diff(this, other)
    else:
        this = target.for_session(session)
        other = target.for_branch(session, branch or session.config.settings.git.main_branch)
        report = differ.diff(this, other, throwaway=target.for_branch(session, differ.throwaway_name()))
    report.with_sql = sql
    if sql and not json:
        if report.destructive:
            console.warn(
                f"{report.destructive} destructive statement(s) below (DROP or a type change): read first"
            )
        console.out.print(views.sql_text(report), markup=False, highlight=False, soft_wrap=True)
    else:
        console.emit(report, as_json=json)
    if exit_code and report.changes:
        raise CheckFailed(f"{len(report.changes)} difference(s) between {this.branch!r} and {other.branch!r}")


@clikd_task(
    help={
        "output": "a new or empty folder to write; default ~/.cache/clikd/dumps/<branch>-<time>",
        "env": ENV_HELP,
    }
)
def dump(c: Context, branch: str = "", output: str = "", env: str = "", json: bool = False) -> None:
    """Back up the branch's stores: pg_dump format, Scylla schema and rows, KeyDB keys and TTLs, objects.

    The folder appears only when the dump is whole. Against staging or production it reads through
    the bastion.

    Examples:
      inv db.dump
      inv db.dump --output /tmp/before-migration --branch feature/crews
      inv db.dump --env production --output ~/backups/prod-before-1.4
    """
    import datetime as dt
    import os
    from pathlib import Path

    from tasks.core.db import dump as dumping
    from tasks.core.db import target, views  # noqa: F401

    session = Session(branch=branch, env=env)
    with target.opened(session, "db.dump") as t:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        # by default outside the repository, so that a dump (real data) is never committed by accident
        cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        out = Path(output) if output else cache / "clikd" / "dumps" / f"{t.ident.slug}-{stamp}"
        report = dumping.dump(t, out.resolve())
    console.emit(report, as_json=json)


@clikd_task(
    help={
        "folder": "a folder written by db.dump",
        "env": "refused unless local: restoring onto staging or production is a job for their operators",
    }
)
def restore(  # noqa: PLR0917  (Invoke flags)
    c: Context,
    folder: str,
    branch: str = "",
    yes: bool = False,
    env: str = "",
    json: bool = False,
    no_wait: bool = False,
) -> None:
    """Bring the branch's stores back to exactly what a db.dump folder holds (any branch's dump).

    Examples:
      inv db.restore ~/.cache/clikd/dumps/main-20260301T120000Z
      inv db.restore /tmp/before-migration --branch feature/crews --yes
    """
    from pathlib import Path

    from tasks.core import prompts
    from tasks.core.db import dump as dumping
    from tasks.core.db import target, views  # noqa: F401

    session = Session(branch=branch, env=env)
    session.require_local("db.restore")
    path = Path(folder).resolve()
    manifest = dumping.read_manifest(path)
    t = target.for_session(session)
    what = f"{t.database('auth')}, {t.database('main')}, {t.keyspace}, {t.prefix}*"
    prompts.confirm(
        f"Replace all data of branch {t.branch!r} ({what}) with the dump of {manifest['branch']!r} "
        f"taken {manifest['created_at']}?",
        assume_yes=yes,
    )
    with task_lock(session, "db.restore", no_wait=no_wait):
        report = dumping.restore(t, path)
    console.emit(report, as_json=json)


@clikd_task(help={"from_": "the branch whose data to copy (e.g. main)", "env": "refused unless local"})
def branch(  # noqa: PLR0917  (Invoke flags)
    c: Context,
    from_: str,
    branch: str = "",
    yes: bool = False,
    env: str = "",
    json: bool = False,
    no_wait: bool = False,
) -> None:
    """Give this branch a copy of another branch's data: Postgres template clone, Scylla and KeyDB copies.

    Examples:
      inv db.branch --from main
      inv db.branch --from main --branch feature/crews --yes
    """
    from tasks.core import prompts
    from tasks.core.db import branching, target, views  # noqa: F401

    session = Session(branch=branch, env=env)
    session.require_local("db.branch")
    this = target.for_session(session)
    other = target.for_branch(session, from_)
    prompts.confirm(
        f"Replace all data of branch {this.branch!r} with a copy of {other.branch!r}?", assume_yes=yes
    )
    with task_lock(session, "db.branch", no_wait=no_wait):
        report = branching.branch_from(this, other)
    console.emit(report, as_json=json)
