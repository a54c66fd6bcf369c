"""db's insight tasks: what the branch's stores hold (part of the db namespace; tasks/db.py imports them)."""

from __future__ import annotations

from invoke.context import Context

from tasks.core import console
from tasks.core.locking import task_lock
from tasks.core.session import Session
from tasks.core.tasking import clikd_task

STORES_HELP = "only these stores, comma-separated: auth,main,scylla,keydb (and s3 when configured)"
ENV_HELP = "the target of this run: local, staging or production (default: the one env.switch chose)"


@clikd_task(help={"stores": STORES_HELP, "env": ENV_HELP})
def inspect(c: Context, branch: str = "", stores: str = "", env: str = "", json: bool = False) -> None:
    """Show what each store holds: tables with rows and size, key namespaces, migrations.

    Per Postgres database its tables with rows (counted, or the planner's estimate for big ones) and
    size, and migrations applied of total; per keyspace its tables with rows and size on disk and the
    schema version; per KeyDB namespace of the branch's prefix its keys and memory, and the server's
    uptime. Read-only: safe on every target.

    Examples:
      inv db.inspect
      inv db.inspect --stores main,keydb --json
      inv db.inspect --env staging
    """
    import importlib

    from tasks.core.db import target
    from tasks.core.db.migrate import pick
    from tasks.core.insight import run

    with target.opened(Session(branch=branch, env=env), "db.inspect") as t:
        report = run.inspect(t, pick(stores, t.stores))
    if not json:
        importlib.import_module("tasks.core.insight.views")  # the tables (Rich): people only
    console.emit(report, as_json=json)
    failed = [s for s in report.stores if s.error]
    for s in failed:
        console.warn(f"{s.store}: {s.error}")
    if failed:
        # The others are reported all the same; the exit code says that the picture is partial.
        from invoke.exceptions import Exit

        from tasks.core.errors import ExitCode

        console.note("start the branch's databases (inv env.start) or check [databases] in clikd.toml")
        raise Exit(code=int(ExitCode.UNAVAILABLE))


@clikd_task(help={"stores": STORES_HELP, "env": ENV_HELP})
def schema(c: Context, branch: str = "", stores: str = "", env: str = "", json: bool = False) -> None:
    """Print the branch's schema: SQL for auth and main, CQL for the keyspace, KeyDB's namespaces.

    The SQL is the DDL that builds the schema from nothing (db.diff's generator against an empty
    database); the CQL is the server's own DESCRIBE KEYSPACE; KeyDB has no schema, so its key types
    per namespace come as comments.

    Examples:
      inv db.schema --stores main
      inv db.schema --stores scylla --env staging
      inv db.schema --json
    """
    from tasks.core.db import target
    from tasks.core.db.migrate import pick
    from tasks.core.insight import views  # noqa: F401
    from tasks.core.insight.schema import schema as read

    with target.opened(Session(branch=branch, env=env), "db.schema") as t:
        report = read(t, pick(stores))
    for s in report.stores:
        if s.error:
            console.warn(f"{s.store}: {s.error}")
    console.emit(report, as_json=json)


@clikd_task(
    help={
        "pattern": "a glob under the branch's prefix, e.g. 'auth:session:*' ('*': every key)",
        "values": "show each key's value (strings, hashes, lists, sets, sorted sets; shortened)",
        "limit": "at most this many keys (default 100)",
        "env": ENV_HELP,
    },
)
def keys(  # noqa: PLR0917  (Invoke flags)
    c: Context,
    pattern: str,
    branch: str = "",
    values: bool = False,
    limit: int = 100,
    env: str = "",
    json: bool = False,
) -> None:
    """List the branch's KeyDB keys matching a pattern, with type and TTL (and values).

    Only keys under the branch's prefix are read: the pattern is matched after it and can never
    reach another branch's keys.

    Examples:
      inv db.keys 'auth:session:*'
      inv db.keys 'user:*' --values --limit 5
      inv db.keys '*' --env staging --json
    """
    from tasks.core.db import target
    from tasks.core.insight import views  # noqa: F401
    from tasks.core.insight.keys import keys as read

    with target.opened(Session(branch=branch, env=env), "db.keys") as t:
        report = read(t, pattern, values=values, limit=limit)
    console.emit(report, as_json=json)


@clikd_task(
    help={
        "stores": "what to empty: keydb (the branch's keys, the default) or s3 (the branch's bucket)",
        "yes": "do not ask (needed without a terminal)",
        "confirm": "for production: its name typed, --confirm=production",
        "env": ENV_HELP,
    }
)
def flush(  # noqa: PLR0917  (Invoke flags)
    c: Context,
    stores: str = "keydb",
    branch: str = "",
    yes: bool = False,
    confirm: str = "",
    env: str = "",
    json: bool = False,
    no_wait: bool = False,
) -> None:
    """Empty the branch's cache (KeyDB keys, then its migrations again) or its bucket (--stores s3).

    Asks first (--yes without a terminal); on production it also wants the name typed. Seeds are
    not loaded again: db.reset --stores keydb (or s3) does that. One store per run.

    Examples:
      inv db.flush
      inv db.flush --stores s3 --yes --json
      inv db.flush --env production --yes --confirm=production
    """
    from tasks.core import prompts
    from tasks.core.db import target
    from tasks.core.errors import UsageError
    from tasks.core.insight import views  # noqa: F401
    from tasks.core.insight.flush import flush_keydb, flush_s3

    chosen = [s.strip() for s in stores.split(",") if s.strip()]
    if len(chosen) != 1 or chosen[0] not in ("keydb", "s3"):
        other = next((s for s in chosen if s not in ("keydb", "s3")), "")
        raise UsageError(
            f"db.flush empties keydb or s3; {other!r} is not a store it can flush"
            if other
            else "db.flush empties one store per run",
            hint="pass --stores keydb or --stores s3; db.reset gives the databases a clean state",
        )
    store = chosen[0]
    session = Session(branch=branch, env=env)
    with target.opened(session, "db.flush") as t:
        where = f"{session.target.name}'s" if session.target.remote else f"branch {t.branch!r}'s"
        if store == "s3":
            t.object_store()  # says so now when there is none, before asking
            question = f"Delete every object of {where} bucket ({t.bucket})?"
        else:
            question = f"Delete every key of {where} KeyDB ({t.prefix}*)?"
        prompts.confirm(question, assume_yes=yes)
        if session.target.name == "production":
            prompts.type_to_confirm(
                f"Every production {'object' if store == 's3' else 'cache key'} will be deleted.",
                "production",
                given=confirm or None,
                flag="--confirm",
            )
        with task_lock(session, "db.flush", no_wait=no_wait):
            report = flush_s3(t) if store == "s3" else flush_keydb(t)
    console.emit(report, as_json=json)


@clikd_task(
    help={
        "store": "auth, main, scylla, keydb or s3",
        "info": "print the connection facts only, never open the shell",
        "env": ENV_HELP,
    },
)
def connect(  # noqa: PLR0917  (Invoke flags)
    c: Context, store: str, branch: str = "", info: bool = False, env: str = "", json: bool = False
) -> None:
    """Open the store's shell (psql, cqlsh, redis-cli) on the branch's data, or print how to reach it.

    In a terminal with the shell installed it opens it (through the bastion's tunnel for staging
    and production, which stays open while the shell runs); otherwise, with --info or --json, it
    prints host, port, user, the database, keyspace or key prefix, and a URL with the password hidden.

    Examples:
      inv db.connect main
      inv db.connect keydb --info
      inv db.connect scylla --env staging
    """
    import os
    import subprocess

    from tasks.core.db import target
    from tasks.core.errors import UsageError
    from tasks.core.insight import views  # noqa: F401
    from tasks.core.insight.connect import info as facts
    from tasks.core.prompts import interactive

    with target.opened(Session(branch=branch, env=env), "db.connect") as t:
        if store not in t.stores:
            raise UsageError(
                f"db.connect needs a store, one of {', '.join(t.stores)}"
                + (f" (not {store!r})" if store else ""),
                hint="e.g. inv db.connect main",
            )
        found, secret = facts(t, store)
        if info or json or not found.installed or not interactive():
            if not found.installed and not (info or json):
                console.note(f"{found.shell} is not installed here: the connection facts instead")
            console.emit(found, as_json=json)
            return
        console.note(
            f"{found.shell} on {found.name} ({found.host}:{found.port}); exit the shell to come back"
        )
        if store == "keydb":
            console.note(f"the branch's keys are those under {found.name}")
        subprocess.run(found.argv, env={**os.environ, **secret}, check=False)
