"""config: show and check the settings clikd runs with, and the names a branch gets."""

from __future__ import annotations

from invoke.context import Context

from tasks.core.tasking import clikd_task

# Each task imports what it needs when it runs, so --list and --help load no more than Invoke.


@clikd_task(help={"reveal": "show database passwords instead of stars"})
def show(c: Context, json: bool = False, reveal: bool = False) -> None:
    """Show the resolved configuration and where each layer came from.

    Examples:
      inv config.show
      CLIKD_CONFIG=tests/infra/clikd.test.toml inv config.show --json
    """
    from tasks.core import console
    from tasks.core.config import view  # noqa: F401  (registers the tables)
    from tasks.core.config.report import config_report
    from tasks.core.session import Session

    console.emit(config_report(Session().config, reveal=reveal), as_json=json)


@clikd_task()
def check(c: Context, json: bool = False) -> None:
    """Check clikd.toml and its overrides; exit 3 with the file, key and line of any mistake.

    Examples:
      inv config.check
      CLIKD_DEVELOPMENT__AUTO_SEED=false clikd config.check --json
    """
    from tasks.core import console
    from tasks.core.session import Session

    loaded = Session().config
    result = {"ok": True, "config_file": str(loaded.path) if loaded.path else None}
    if json:
        console.emit(result, as_json=True)
    else:
        console.success(f"{result['config_file'] or 'built-in defaults'} is valid")


@clikd_task()
def names(c: Context, branch: str = "", json: bool = False) -> None:
    """Show every name derived from the branch: containers, databases, keyspace, prefix, ports.

    Examples:
      inv config.names
      inv config.names --branch "feature/Über-lange Änderung" --json
    """
    from tasks.core import console
    from tasks.core.config import view  # noqa: F401
    from tasks.core.config.report import names_report
    from tasks.core.session import Session

    session = Session(branch=branch)
    console.emit(names_report(session.branch, session.ident, session.config), as_json=json)
