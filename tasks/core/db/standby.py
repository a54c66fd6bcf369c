"""Standby copies of a branch's Postgres databases: the next db.reset renames one instead of cloning.

``CREATE DATABASE ... TEMPLATE`` copies every file of the template: about 0.2 s for the Clikd schema
and seeds on the test bed, all of it waiting on the server, and the longest part of a reset. So each
reset leaves a copy for the next one, made after the command has answered (by the worker process,
which the command does not wait for): ``<project>_sb_<hash of the branch database>``, its comment
naming the branch database and the template it was copied from. The next reset with the same
template drops the branch database and renames the standby into its place, a catalog update of a few
milliseconds. A missing standby, one of another template, or one still being copied (its advisory lock
is held) means the usual clone. Standbys whose branch database is gone are dropped by later refills
and by :func:`drop`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tasks.core.branch import standby_db
from tasks.core.db import postgres
from tasks.core.stores import Endpoint

if TYPE_CHECKING:
    import psycopg

MARK = "clikd standby of "


def _comment(database: str, template: str) -> str:
    return f"{MARK}{database} from {template}"


def _described(conn: psycopg.Connection[Any], database: str) -> str | None:
    row = conn.execute(
        "SELECT coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database WHERE datname = %s",
        (database,),
    ).fetchone()
    return None if row is None else str(row[0])


def take(conn: psycopg.Connection[Any], project: str, database: str, template: str) -> bool:
    """Put the standby copy of ``template`` in the place of ``database``; False when there is none to use.

    The caller holds ``database``'s migration lock.
    """
    spare = standby_db(project, database)
    with postgres.lock_if_free(conn, spare) as mine:
        if not mine:
            return False  # a refill is still copying it
        comment = _described(conn, spare)
        if comment is None:
            return False
        if comment != _comment(database, template):
            postgres.drop_database(conn, spare)  # a copy of an older template
            return False
        q = postgres.quote_ident
        postgres.drop_database(conn, database)
        conn.execute(f"ALTER DATABASE {q(spare)} RENAME TO {q(database)}".encode())
        # A clone carries no comment (shared descriptions are not copied): neither does the renamed copy.
        conn.execute(f"COMMENT ON DATABASE {q(database)} IS NULL".encode())
        return True


def refill(ep: Endpoint, project: str, database: str, template: str) -> None:
    """Copy ``template`` as ``database``'s standby (unless one is there or being made); collect orphans."""
    spare = standby_db(project, database)
    q = postgres.quote_ident
    with postgres.admin(ep) as conn:
        with postgres.lock_if_free(conn, spare) as mine:
            if mine and _described(conn, spare) != _comment(database, template):
                postgres.drop_database(conn, spare)
                postgres.create_database(conn, spare, template=template)
                note = postgres.quote_literal(_comment(database, template))
                conn.execute(f"COMMENT ON DATABASE {q(spare)} IS {note}".encode())
        _collect_orphans(conn, project)


def _collect_orphans(conn: psycopg.Connection[Any], project: str) -> None:
    """Drop standbys whose branch database no longer exists (a branch removed while its copy was made)."""
    like = project + r"\_sb\_%"  # project names are [a-z0-9] only: nothing else to escape
    rows = conn.execute(
        "SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database WHERE datname LIKE %s",
        (like,),
    ).fetchall()
    live = {r[0] for r in conn.execute("SELECT datname FROM pg_database").fetchall()}
    for spare, comment in rows:
        if not comment or not comment.startswith(MARK):
            continue
        database = comment[len(MARK) :].rsplit(" from ", 1)[0]
        if database in live:
            continue
        with postgres.lock_if_free(conn, spare) as mine:
            if mine:
                postgres.drop_database(conn, spare)


def drop(conn: psycopg.Connection[Any], project: str, database: str) -> None:
    """Remove ``database``'s standby, waiting for a refill in progress to finish first."""
    spare = standby_db(project, database)
    with postgres.migration_lock(conn, spare, on_wait=lambda _m: None):
        postgres.drop_database(conn, spare)
