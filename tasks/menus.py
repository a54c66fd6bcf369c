"""What `clikd` / `inv` alone and `clikd db` (a namespace alone) do: an overview and menus.

These are the collections' default tasks (Invoke runs a collection's default task when only its
name is given), so both programs behave alike. In a terminal each offers a menu and runs the
task picked; without one it prints and exits 0.
"""

from __future__ import annotations

from typing import Any

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import Task

from tasks.core.tasking import clikd_task, program_name

QUIT = "Nothing (quit)"

# The root collection the menus offer tasks from; tasks/root.py hands it over once it is built
# (the menus are part of it, so they cannot import it).
_root = Collection()


def serve(root: Collection) -> None:
    """Offer the tasks of ``root`` in the overview and the namespace menus."""
    global _root  # noqa: PLW0603  (set once, by tasks/root.py)
    _root = root


def _first_line(doc: str | None) -> str:
    lines = (doc or "").strip().splitlines()
    return lines[0] if lines else ""


def _run(c: Context, name: str) -> None:
    _root[name](c)


@clikd_task()
def overview(c: Context) -> None:
    """Show the branch, the target, whether the stack runs, and the most used tasks; a menu in a terminal.

    What `clikd` alone runs. In a terminal a menu of quick actions follows (status, start, reset
    the databases, migrate, generate the clients, run tests, logs, deploy to staging) and runs the
    one picked.

    Examples:
      clikd
      inv overview
    """
    from importlib.metadata import version
    from pathlib import Path

    from tasks.core import prompts
    from tasks.core.overview import MOST_USED, QUICK_ACTIONS
    from tasks.core.overview import overview as gather

    ns = _root
    spaces = sorted(ns.collections)
    seen = gather(Path.cwd(), {s: [t for t in MOST_USED.get(s, []) if t in ns.task_names] for s in spaces})
    me = program_name()
    # (not tasks.__version__: under inv, `tasks` is tasks.py standing in for the package)
    print(f"clikd {version('clikd')}: the Clikd development CLI")
    print()
    for label, value in (("branch", seen.branch), ("target", seen.target), ("stack", seen.stack)):
        print(f"  {label:<7} {value}")
    print(f"  {'config':<7} {seen.config}")
    print()
    width = max(len(s) for s in spaces)
    for space, tasks in seen.namespaces.items():
        print(f"  {space:<{width}}  {'  '.join(t.split('.', 1)[1] for t in tasks)}")
    print()
    print(f"Help: {me} --list (every task), {me} --help <task> (its flags), {me} <namespace> (e.g. {me} db),")
    print("README.md (the guide)")
    if not prompts.interactive():
        return
    print()
    labels = [*QUICK_ACTIONS, QUIT]
    picked = prompts.select("What do you want to do?", labels, default=labels[0])
    if picked in QUICK_ACTIONS:
        _run(c, QUICK_ACTIONS[picked])


def namespace_menu(space: str) -> Task[Any]:
    """The default task of namespace ``space``: its tasks as a menu, or as a list without a terminal."""

    def menu(c: Context) -> None:
        from tasks.core import prompts

        sub = _root.collections[space]
        rows = [(f"{space}.{n}", _first_line(sub[n].__doc__)) for n in sorted(sub.tasks) if n != "menu"]
        me = program_name()
        if not prompts.interactive():
            print(f"{space} tasks (run one: {me} {rows[0][0]}; its flags: {me} --help {rows[0][0]}):")
            print()
            width = max(len(name) for name, _ in rows)
            for name, doc in rows:
                print(f"  {name:<{width}}  {doc}")
            return
        if space == "deploy":
            _deploy_header()
        if space == "deploy":  # tests first: deploys want a green record of the commit
            rows.append(("test.all", "Run tests: the records deploy.staging and deploy.production require"))
        width = max(len(name) for name, _ in rows)
        choices = [f"{name:<{width}}  {doc}" for name, doc in rows]
        picked = prompts.select(f"Which {space} task?", [*choices, QUIT], default=choices[0])
        if picked != QUIT:
            _run(c, picked.split()[0])

    menu.__doc__ = f"""Pick one of the {space} tasks from a menu (their list without a terminal).

    What `clikd {space}` alone runs.

    Examples:
      clikd {space}
      inv {space}
    """
    menu.__name__ = menu.__qualname__ = "menu"
    made: Task[Any] = clikd_task()(menu)
    return made


def _deploy_header() -> None:
    """Deploy's menu header: the environments clikd.toml knows, and the pre-deployment checks now."""
    from tasks.core import console
    from tasks.core.deploy import checks
    from tasks.core.deploy import views as _views  # noqa: F401  (registers the checks table)
    from tasks.core.session import Session

    session = Session()
    known = sorted(getattr(session.config.settings, "environments", {}) or {})
    print("Environments: " + (", ".join(known) or "none configured in clikd.toml ([environments.NAME])"))
    print("Pre-deployment checks (deploy.staging warns on them, deploy.production needs them all):")
    console.emit(checks.run(session))
    print()
