"""Deploys want green tests: "Tests: Required" for the commit being deployed.

``deploy.staging`` needs a green record of every configured test at its commit, or
``--skip-tests REASON`` (the reason goes into the release record); ``deploy.production`` needs it,
with no skip, unless ``--force`` (recorded as well). Records are this machine's (results.py), so
the gate asks the machine that ran ``clikd test`` on the commit; a project without any
``[services.NAME.test]`` has nothing to require.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tasks.core.errors import TestsFailed
from tasks.core.testing import keys, results
from tasks.core.testing.model import TestState

if TYPE_CHECKING:
    from tasks.core.session import Session


def state(session: Session) -> TestState:
    """The tests' state at the project's HEAD commit."""
    from tasks.core.testing.run import required_inputs

    commit, _dirty = keys.head_commit(session.root)
    return results.state_for_commit(session.ident, commit, required_inputs(session))


def line(tests: TestState) -> str:
    """The plan's line: ``Tests: Required`` and what the records say."""
    if tests.state == "none":
        return f"Tests: not required ({tests.detail})"
    return f"Tests: Required; {tests.state}: {tests.detail}"


def require(tests: TestState, environment: str, *, skip: str = "", forced: bool = False) -> str:
    """What the release records about the tests; TestsFailed when they do not allow the deploy."""
    if tests.state == "green":
        return f"green: {tests.detail}"
    if tests.state == "none":
        return "none configured"
    if environment != "production" and skip.strip():
        return f"skipped ({tests.state}: {tests.detail}): {skip.strip()}"
    if forced:
        return f"forced ({tests.state}: {tests.detail})"
    if environment == "production":
        hint = "run clikd test.all at this commit on this machine (then deploy again), or --force (recorded)"
    else:
        hint = 'run clikd test.all at this commit, or --skip-tests "REASON" (recorded in the release)'
    raise TestsFailed(
        f"{environment} requires green tests at {tests.commit[:12] or 'this commit'}: {tests.detail}",
        hint=hint,
    )
