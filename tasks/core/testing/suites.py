"""A service's own suite (``[services.NAME.test] command``), run against the branch's stack.

``where = "container"``: in the service's dev container when it runs from source (env.dev), else in
a one-off container of the image the service runs, on the branch's network (removed afterwards).
``where = "host"``: a process on this machine, in ``cwd`` (relative to clikd.toml).

The suite's environment has the branch's addresses as the place it runs sees them: ``CLIKD_BRANCH``,
``CLIKD_SERVICE``, ``CLIKD_SERVICE_URL`` (the service under test), ``CLIKD_<NAME>_URL`` for every
service, ``CLIKD_POSTGRES_AUTH_URL``, ``CLIKD_POSTGRES_MAIN_URL``, ``CLIKD_KEYDB_URL``,
``CLIKD_KEY_PREFIX``, ``CLIKD_SCYLLA_HOSTS`` and ``CLIKD_SCYLLA_KEYSPACE``; in a container, the
service's own environment comes first; ``env`` (with the ``${...}`` placeholders) last.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tasks.core.branch import BranchIdentity
from tasks.core.config.schema import Settings
from tasks.core.stack.model import LABEL_ROLE
from tasks.core.stack.spec import HOST_GATEWAY, Stack, base_labels, placeholder_values, render_environment
from tasks.core.stores import endpoint
from tasks.core.testing.model import Case, Outcome, Planned

if TYPE_CHECKING:
    import docker

OUTPUT_KEPT = 200  # lines of a suite's output kept for the failures section
_PYTEST = re.compile(r"=+ (.*\b(?:passed|failed|skipped|error|errors)\b.*) in [\d.]+s")
_UNITTEST_RAN = re.compile(r"^Ran (\d+) tests? in", re.MULTILINE)
_UNITTEST_END = re.compile(r"^(OK|FAILED)(?: \((.*)\))?\s*$", re.MULTILINE)


def _host_values(settings: Settings, ident: BranchIdentity) -> dict[str, str]:
    """The placeholders' values as this machine reaches the branch (published ports)."""
    values = {"key_prefix": ident.key_prefix, "scylla_keyspace": ident.keyspace, "branch": ident.branch}
    kinds = {db.kind for db in settings.databases.values()}
    if "postgres" in kinds:
        pg = endpoint(settings, ident, "postgres")
        for role in ("auth", "main"):
            values[f"postgres_{role}_url"] = pg.postgres_dsn(ident.postgres_db(role))
    if "keydb" in kinds:
        values["keydb_url"] = endpoint(settings, ident, "keydb").redis_url()
    if "scylla" in kinds:
        cql = endpoint(settings, ident, "scylla")
        values["scylla_hosts"] = f"{cql.host}:{cql.port}"
    return values


def service_urls(stack: Stack, *, inside: bool) -> dict[str, str]:
    """name -> base URL of every service (its ``http`` port, else ``ws``, else its first), by its
    name on the branch's network or at its published port."""
    urls: dict[str, str] = {}
    for comp in stack.components.values():
        if comp.role != "service" or not comp.ports:
            continue
        port = next(
            (comp.ports[n] for n in ("http", "ws") if n in comp.ports), next(iter(comp.ports.values()))
        )
        urls[comp.name] = f"http://{comp.name}:{port[0]}" if inside else f"http://127.0.0.1:{port[1]}"
    return urls


def environment(
    planned: Planned, settings: Settings, ident: BranchIdentity, stack: Stack, *, inside: bool
) -> dict[str, str]:
    """The suite's own variables (without the service's or the host's environment)."""
    values = placeholder_values(settings, ident) if inside else _host_values(settings, ident)
    urls = service_urls(stack, inside=inside)
    env = {
        "CLIKD_BRANCH": ident.branch,
        "CLIKD_SERVICE": planned.service,
        "CLIKD_SERVICE_URL": urls.get(planned.service, ""),
        "CLIKD_KEY_PREFIX": ident.key_prefix,
        "CLIKD_SCYLLA_KEYSPACE": ident.keyspace,
    }
    for name, url in urls.items():
        env[f"CLIKD_{re.sub(r'[^A-Z0-9]', '_', name.upper())}_URL"] = url
    for placeholder in ("postgres_auth_url", "postgres_main_url", "keydb_url", "scylla_hosts"):
        if placeholder in values:
            env[f"CLIKD_{placeholder.upper()}"] = values[placeholder]
    extra = {**values, "service_url": env["CLIKD_SERVICE_URL"]}
    env.update(
        render_environment(
            planned.config.env, extra, service=planned.service, where=f"services.{planned.service}.test"
        )
    )
    return env


def counts(output: str, code: int) -> tuple[int, int, int]:
    """(passed, failed, skipped) from a pytest or unittest summary line, else the command as one test."""
    tail = "\n".join(output.splitlines()[-40:])
    found = _PYTEST.findall(tail)
    if found:
        numbers = dict.fromkeys(("passed", "failed", "skipped", "error"), 0)
        for count, word in re.findall(r"(\d+) (passed|failed|skipped|errors?|xfailed|xpassed)", found[-1]):
            key = "error" if word.startswith("error") else word
            if key in numbers:
                numbers[key] += int(count)
        return numbers["passed"], numbers["failed"] + numbers["error"], numbers["skipped"]
    ran, end = _UNITTEST_RAN.findall(tail), _UNITTEST_END.findall(tail)
    if ran and end:
        detail = dict(re.findall(r"(\w+)=(\d+)", end[-1][1]))
        failed = int(detail.get("failures", 0)) + int(detail.get("errors", 0))
        skipped = int(detail.get("skipped", 0))
        return int(ran[-1]) - failed - skipped, failed, skipped
    return (1, 0, 0) if code == 0 else (0, 1, 0)


def _finish(outcome: Outcome, code: int | None, output: str, began: float, planned: Planned) -> Outcome:
    outcome.seconds = round(time.monotonic() - began, 3)
    outcome.output = "\n".join(output.splitlines()[-OUTPUT_KEPT:])
    if code is None:
        outcome.status = "error"
        outcome.failed = 1
        outcome.cases = [Case(planned.suite, "error", outcome.detail, outcome.output, outcome.seconds)]
        return outcome
    outcome.passed, outcome.failed, outcome.skipped = counts(output, code)
    if code != 0 and outcome.failed == 0:
        outcome.failed = 1
    outcome.status = "passed" if code == 0 else "failed"
    outcome.detail = f"{' '.join(planned.config.command or [])} exited {code}"
    message = "" if code == 0 else f"exit status {code}"
    outcome.cases = [
        Case(
            planned.suite,
            "passed" if code == 0 else "failed",
            message,
            "" if code == 0 else outcome.output,
            outcome.seconds,
        )
    ]
    return outcome


def _overran(planned: Planned) -> str:
    return f"did not finish within {planned.config.timeout:g}s ([services.{planned.service}.test] timeout)"


def run_host(planned: Planned, env: dict[str, str], root: Path) -> Outcome:
    """The suite as a process on this machine."""
    test = planned.config
    cwd = (root / test.cwd).resolve() if test.cwd else root
    outcome = Outcome(planned.service, planned.suite, "suite", "error", key="", where=f"host ({cwd})")
    began = time.monotonic()
    try:
        done = subprocess.run(
            test.command or [],
            cwd=cwd,
            env={**os.environ, **env},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=test.timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        outcome.detail = _overran(planned)
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else exc.stdout or ""
        return _finish(outcome, None, out, began, planned)
    except OSError as exc:
        outcome.detail = f"could not run {test.command[0] if test.command else '?'}: {exc}"
        return _finish(outcome, None, "", began, planned)
    return _finish(outcome, done.returncode, done.stdout, began, planned)


def run_in_dev_container(
    client: docker.DockerClient, planned: Planned, env: dict[str, str], container: str
) -> Outcome:
    """The suite as an exec in the service's dev container (it runs from source)."""
    outcome = Outcome(
        planned.service, planned.suite, "suite", "error", key="", where=f"dev container {container}"
    )
    began = time.monotonic()
    try:
        code, output = client.containers.get(container).exec_run(
            planned.config.command or [], environment=env, demux=False, stream=False
        )
    except Exception as exc:  # docker-py's APIError / NotFound: named, not a traceback
        outcome.detail = f"exec in {container} failed: {exc}"
        return _finish(outcome, None, "", began, planned)
    text = output.decode(errors="replace") if isinstance(output, bytes) else str(output or "")
    return _finish(outcome, int(code), text, began, planned)


def run_one_off(
    client: docker.DockerClient,
    planned: Planned,
    env: dict[str, str],
    *,
    image: str,
    service_env: dict[str, str],
    ident: BranchIdentity,
    network: str,
) -> Outcome:
    """The suite in a one-off container of ``image`` on the branch's network, removed afterwards."""
    name = f"{ident.container(planned.service)}-test-{uuid.uuid4().hex[:6]}"
    outcome = Outcome(
        planned.service, planned.suite, "suite", "error", key="", where=f"one-off container on {network}"
    )
    began = time.monotonic()
    labels = {**base_labels(ident.project, ident.branch), LABEL_ROLE: "test"}
    container: Any = None
    try:
        container = client.containers.create(
            image,
            command=planned.config.command,
            environment={**service_env, **env},
            network=network,
            labels=labels,
            name=name,
            extra_hosts=HOST_GATEWAY,
        )
        container.start()
        try:
            status = container.wait(timeout=planned.config.timeout)
        except Exception:  # the read timed out: the suite ran over its time
            container.kill()
            outcome.detail = _overran(planned)
            return _finish(outcome, None, container.logs().decode(errors="replace"), began, planned)
        output = container.logs(stdout=True, stderr=True).decode(errors="replace")
        return _finish(outcome, int(status.get("StatusCode", 1)), output, began, planned)
    except Exception as exc:  # docker-py's errors: named, not a traceback
        outcome.detail = f"the one-off container of {image} failed: {exc}"
        return _finish(outcome, None, "", began, planned)
    finally:
        if container is not None:
            with contextlib.suppress(Exception):  # already gone
                container.remove(force=True)
