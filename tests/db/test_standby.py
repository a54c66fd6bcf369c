"""Standby copies for db.reset on the real Postgres: made after a reset, used by the next, cleaned up."""

from __future__ import annotations

import json
import time
from typing import Any

from tasks.core.branch import standby_db
from tasks.core.db import postgres
from tests.db.conftest import Branches, Project
from tests.db.helpers import pg_count, pg_tables


def standby_of(t: Any, role: str, *, wait: float = 30.0) -> str | None:
    """The comment of the role's standby copy once it is complete (None if none appears in ``wait`` s)."""
    spare = standby_db(t.ident.project, t.database(role))
    deadline = time.monotonic() + wait
    while True:
        with postgres.admin(t.postgres) as conn:
            row = conn.execute(
                "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", (spare,)
            ).fetchone()
        if row is not None and row[0]:  # the comment is written last: the copy is complete
            return str(row[0])
        if time.monotonic() > deadline:
            return None
        time.sleep(0.1)


def reset_with_standbys(project: Project, branch: str) -> Any:
    """Reset both Postgres roles of ``branch`` and wait for their standby copies; the branch's target."""
    assert project.inv("db.reset", "--yes", "--stores", "auth,main", branch=branch).returncode == 0
    t = project.target(branch)
    assert standby_of(t, "auth") is not None and standby_of(t, "main") is not None
    return t


def hows(done: Any) -> dict[str, str]:
    return {s["store"]: s["how"] for s in json.loads(done.stdout)["stores"]}


def test_a_reset_leaves_a_standby_that_the_next_reset_uses(project: Project, branches: Branches) -> None:
    branch = branches.new()
    first = project.inv("db.reset", "--yes", "--json", "--stores", "auth,main", branch=branch)
    assert first.returncode == 0, first.stderr
    t = project.target(branch)
    comment = standby_of(t, "main")
    assert comment is not None, "no standby copy of main appeared after the reset"
    assert comment.startswith(f"clikd standby of {t.database('main')} from clikd_tpl_main_")

    # what the branch did to its database does not survive, and the copy has the seeds
    with postgres.connect(t.postgres, t.database("main")) as conn:
        conn.execute("DELETE FROM drop_likes")
        conn.execute("CREATE TABLE scratch (id int)")
    second = project.inv("db.reset", "--yes", "--json", "--stores", "auth,main", branch=branch)
    assert second.returncode == 0, second.stderr
    assert hows(second)["main"].startswith("standby copy of clikd_tpl_main_")
    assert "scratch" not in pg_tables(t, "main")
    assert pg_count(t, "main", "drop_likes") > 0
    assert pg_count(t, "main", "users") == 320
    with postgres.admin(t.postgres) as conn:
        row = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
            (t.database("main"),),
        ).fetchone()
    assert row is not None and row[0] is None  # like a clone: no comment on the branch database
    # and the next copy is made again
    assert standby_of(t, "main") == comment


def test_a_standby_of_another_template_is_not_used(project: Project, branches: Branches) -> None:
    branch = branches.new()
    assert project.inv("db.reset", "--yes", "--stores", "main", branch=branch).returncode == 0
    t = project.target(branch)
    assert standby_of(t, "main") is not None
    spare = standby_db(t.ident.project, t.database("main"))
    with postgres.admin(t.postgres) as conn:
        # as if the migrations changed since the copy was made
        conn.execute(
            f"COMMENT ON DATABASE {postgres.quote_ident(spare)} IS "
            f"'clikd standby of {t.database('main')} from clikd_tpl_main_0000'".encode()
        )
    done = project.inv("db.reset", "--yes", "--json", "--stores", "main", branch=branch)
    assert done.returncode == 0, done.stderr
    assert hows(done)["main"].startswith("clone of clikd_tpl_main_")
    assert pg_count(t, "main", "users") == 320


def test_destroy_removes_the_standbys_and_refills_collect_orphans(
    project: Project, branches: Branches
) -> None:
    from tasks.core.db import destroy

    t = reset_with_standbys(project, branches.new())
    destroy.destroy(t)
    assert standby_of(t, "auth", wait=0) is None and standby_of(t, "main", wait=0) is None

    # a copy whose branch database is gone (its branch removed while it was made) is dropped by a refill
    orphan = standby_db(t.ident.project, "clikd_main_gone_branch")
    other = branches.new("other")
    with postgres.admin(t.postgres) as conn:
        postgres.drop_database(conn, orphan)
        postgres.create_database(conn, orphan)
        conn.execute(
            f"COMMENT ON DATABASE {postgres.quote_ident(orphan)} IS "
            "'clikd standby of clikd_main_gone_branch from clikd_tpl_main_0000'".encode()
        )
    assert project.inv("db.reset", "--yes", "--stores", "main", branch=other).returncode == 0
    assert standby_of(project.target(other), "main") is not None
    deadline = time.monotonic() + 30
    while postgres.database_exists(t.postgres, orphan):
        assert time.monotonic() < deadline, f"the orphan standby {orphan} was not collected"
        time.sleep(0.1)


def test_purging_a_branch_from_a_shared_server_drops_its_standby_copies(
    project: Project, branches: Branches
) -> None:
    from tasks.core.stack.provision import drop_external

    branch = branches.new()
    t = reset_with_standbys(project, branch)
    session = project.session(branch)
    dropped = " ".join(drop_external(session.config.settings, session.ident, "postgres"))  # env.stop --purge
    for role in ("auth", "main"):
        spare = standby_db(t.ident.project, t.database(role))
        assert spare == session.ident.postgres_standby(role)
        assert spare in dropped and t.database(role) in dropped
        assert not postgres.database_exists(t.postgres, spare)
