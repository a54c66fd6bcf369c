"""deploy.production's canary shift on the real test control plane, analysed by the test bed's real
Prometheus scraping an exporter each test runs and steers (tests/deploy/exporter.py).

Each test has its own exporter; the checks select its series by the ``exporter`` label Prometheus puts
on them (file_sd), so no test reads another's traffic. Nothing is timed by sleeps: faults are set from
the shift's own hooks (a Watcher) or when the release record says the step began, and a run killed
"at step N" is killed while step N's pause is far from over.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tasks.core.deploy import flow, releases, rollback
from tasks.core.deploy.canary import run as canary_run
from tasks.core.deploy.canary.prometheus import Prometheus
from tasks.core.deploy.canary.router import serves_gateway_api
from tasks.core.deploy.canary.shift import CanaryAborted, Watcher
from tasks.core.deploy.canary.state import Shift
from tasks.core.deploy.kube import Kube
from tasks.core.deploy.model import ChecksReport
from tasks.core.deploy.render import Layout, target_for
from tasks.core.deploy.status import environment_status
from tasks.core.errors import ConfigError, Conflict, ExitCode, UsageError
from tests.deploy.conftest import KUBECONFIG, REPO, Project
from tests.deploy.exporter import Exporter

pytestmark = [pytest.mark.testbed, pytest.mark.xdist_group("k8s")]
SERVICES = ["auth", "api", "realtime", "media", "studio"]
GATEWAY_API = REPO / "tests" / "infra" / "k8s" / "gateway-api"
INTERVAL = "5s"  # the rate() range: five scrapes at the test bed's 1 s scrape interval
NO_CHECKS = ChecksReport([])
DEADLINE = 60.0


def checks(exporter: str) -> list[dict[str, Any]]:
    """Flagger's two checks, on this test's exporter only."""
    sel = f'exporter="{exporter}",service="{{service}}",slot="{{slot}}"'
    return [
        {
            "name": "request-success-rate",
            "query": f'(sum(rate(http_requests_total{{{sel},code!~"5.."}}[{{interval}}])) or vector(0))'
            f" / sum(rate(http_requests_total{{{sel}}}[{{interval}}]))",
            "min": 0.99,
        },
        {
            "name": "request-duration-p99",
            "query": "histogram_quantile(0.99, sum by (le) "
            f"(rate(http_request_duration_seconds_bucket{{{sel}}}[{{interval}}])))",
            "max": 0.5,
        },
    ]


def poll(what: str, probe: Callable[[], bool], deadline: float = DEADLINE) -> None:
    start = time.monotonic()
    while not probe():
        if time.monotonic() - start > deadline:
            pytest.fail(f"{what}: not within {deadline:g}s", pytrace=False)
        time.sleep(0.1)


@pytest.fixture
def exporter(facts: dict[str, str]) -> Iterator[Exporter]:
    """Every service healthy on both slots, and in Prometheus for a whole rate() range."""
    exp = Exporter(Path(facts["targets_dir"]), f"shift-{uuid.uuid4().hex[:8]}")
    for service in SERVICES:
        for slot in ("blue", "green"):
            exp.healthy(service, slot)
    exp.register()
    client = Prometheus(facts["url"], timeout=5.0)
    query = f'min(count_over_time(http_requests_total{{exporter="{exp.name}"}}[{INTERVAL}]))'

    def scraped() -> bool:
        found = client.query(query).samples
        return bool(found) and found[0].value >= 3

    try:
        poll(f"Prometheus scraping {exp.target}", scraped)
        yield exp
    finally:
        exp.close()


def canary(
    facts: dict[str, str], exp: Exporter, steps: list[tuple[int, str]], **rollout: Any
) -> dict[str, Any]:
    """The [deployment] overrides of a canary production."""
    return {
        "prometheus_url": facts["url"],
        "production": {
            "strategy": "canary",
            "steps": [{"weight": w, "pause": p} for w, p in steps],
            "analysis": {"interval": INTERVAL, "failure_limit": 1, "checks": checks(exp.name)},
            **rollout,
        },
    }


class Seen(Watcher):
    """The weights the API server stored at each step, and a hook per step."""

    def __init__(self, at_step: dict[int, Callable[[], None]] | None = None) -> None:
        self.weights: list[dict[str, list[int]]] = []
        self.at_step = at_step or {}

    def step(self, shift: Shift) -> None:
        self.weights.append(dict(shift.current.weights))
        if hook := self.at_step.get(shift.step + 1):
            hook()


def deploy(project: Project, kube: Kube, tag: str, watcher: Watcher | None = None, **settings: Any) -> Any:
    session = project.session(**settings)
    plan = flow.make_plan(session, kube, "production", tag=tag)
    return flow.deploy(session, kube, plan, checks=NO_CHECKS, watcher=watcher)


def selectors(kube: Kube, ns: str) -> set[str | None]:
    return {(kube.get("Service", s, ns) or {})["spec"]["selector"].get("dev.clikd/slot") for s in SERVICES}


def replicas(kube: Kube, ns: str, slot: str) -> dict[str, int]:
    return {s: int((kube.get("Deployment", f"{s}-{slot}", ns) or {})["spec"]["replicas"]) for s in SERVICES}


def newest(kube: Kube, ns: str) -> Any:  # a Release, its .shift read as a dict
    return releases.history(kube, ns)[0]


def router_of(project: Project, kube: Kube, settings: dict[str, Any], kind: str) -> Any:
    config = project.session(**settings).config.settings
    target = target_for(config, Layout(project.root), "production")
    return canary_run.make_router(kube, config, target, stable="blue", canary="green", kind=kind)


# ---------------------------------------------------------------------- in process
def test_a_gateway_shift_goes_through_every_step_and_goes_live(
    project: Project, kube: Kube, facts: dict[str, str], exporter: Exporter
) -> None:
    ns = project.namespace("production")
    settings = canary(facts, exporter, [(20, "5s"), (50, "5s"), (100, "5s")], router="gateway")
    first = deploy(project, kube, "v1", **settings)  # nothing served yet: live at once
    assert first.release.slot == "blue" and first.release.shift is None
    plan = flow.make_plan(project.session(**settings), kube, "production", tag="v2")
    assert plan.canary is not None and plan.canary.router == "gateway"
    assert [w for w, _ in plan.canary.steps] == [20, 50, 100]

    seen = Seen()
    result = deploy(project, kube, "v2", watcher=seen, **settings)
    assert result.release.status == "deployed" and result.release.slot == "green"
    http = {f"HTTPRoute/{s}" for s in SERVICES}
    assert [{k: v for k, v in w.items() if k in http} for w in seen.weights] == [
        {r: [80, 20] for r in http},
        {r: [50, 50] for r in http},
        {r: [0, 100] for r in http},
    ]
    assert "GRPCRoute/api" in seen.weights[0]  # api has a grpc port
    shift = Shift.from_dict(newest(kube, ns).shift)
    assert shift.phase == "completed" and [s.outcome for s in shift.steps] == ["passed"] * 3
    assert all(s.rounds == 1 for s in shift.steps) and shift.failures == 0
    assert shift.last_round["api"]["request-success-rate"].startswith("passed")
    assert selectors(kube, ns) == {"green"}
    assert replicas(kube, ns, "blue") == dict.fromkeys(SERVICES, 2)  # the old slot stays up for rollback


def test_a_failed_check_at_step_2_puts_all_traffic_back_and_records_why(
    project: Project, kube: Kube, facts: dict[str, str], exporter: Exporter
) -> None:
    ns = project.namespace("production")
    settings = canary(facts, exporter, [(25, "5s"), (50, "5s"), (100, "5s")], router="gateway")
    deploy(project, kube, "v1", **settings)
    seen = Seen({2: lambda: exporter.error_burst("api", "green", ratio=0.3)})
    with pytest.raises(CanaryAborted) as caught:
        deploy(project, kube, "v2", watcher=seen, **settings)
    assert caught.value.exit_code == ExitCode.CANARY_ABORTED
    assert int(caught.value.exit_code) == 11
    assert "step 2/3 (50 %)" in caught.value.message and "request-success-rate of api" in caught.value.message
    release = newest(kube, ns)
    assert release.status == "aborted" and "canary aborted at step 2" in release.note
    shift = Shift.from_dict(release.shift)
    abort = shift.abort
    assert abort is not None and abort.cause == "analysis" and abort.step == 2
    assert (abort.check, abort.service, abort.bound, abort.threshold) == (
        "request-success-rate",
        "api",
        "min",
        0.99,
    )
    assert isinstance(abort.value, float) and abort.value < 0.99
    assert abort.query is not None and 'service="api"' in abort.query and 'slot="green"' in abort.query
    assert abort.decided <= abort.stable
    assert [s.outcome for s in shift.steps] == ["passed", "failed", ""]
    # Read back from the cluster, not from the record: every route on blue, green at 0, blue serving.
    router = router_of(project, kube, settings, "gateway")
    assert {(w.stable, w.canary) for w in router.weights().values()} == {(100, 0)}
    assert replicas(kube, ns, "green") == dict.fromkeys(SERVICES, 0)
    assert selectors(kube, ns) == {"blue"}
    # The next deploy is free to go (the aborted slot is the idle one again).
    exporter.healthy("api", "green")
    assert flow.make_plan(project.session(**settings), kube, "production", tag="v3").next_slot == "green"


def test_without_the_gateway_api_the_replica_ratio_moves_replicas_and_says_it_is_coarse(
    project: Project, kube: Kube, facts: dict[str, str], exporter: Exporter
) -> None:
    """router = "auto" on a cluster really without the CRDs (deleted here and applied again after,
    inside the k8s xdist group, like tests/deploy/test_canary_router.py)."""
    ns = project.namespace("production")
    settings = canary(facts, exporter, [(10, "5s"), (100, "5s")], router="auto")
    gone = subprocess.run([str(GATEWAY_API), "--delete"], capture_output=True, text=True, check=False)
    assert gone.returncode == 0, gone.stderr
    try:
        assert not serves_gateway_api(kube, refresh=True)
        deploy(project, kube, "v1", **settings)
        plan = flow.make_plan(project.session(**settings), kube, "production", tag="v2")
        assert plan.canary is not None and plan.canary.router == "replicas"
        assert "coarse and per connection" in plan.canary.describe[0]
        assert "10 % -> 1 of 2 replicas = 50 %" in plan.canary.describe[1]
        counts: list[tuple[dict[str, int], dict[str, int], set[str | None]]] = []

        class Counts(Watcher):
            def step(self, shift: Shift) -> None:
                counts.append((replicas(kube, ns, "blue"), replicas(kube, ns, "green"), selectors(kube, ns)))

        result = deploy(project, kube, "v2", watcher=Counts(), **settings)
    finally:
        back = subprocess.run([str(GATEWAY_API)], capture_output=True, text=True, check=False)
        assert back.returncode == 0, back.stderr
        assert serves_gateway_api(kube, refresh=True)
    assert result.release.status == "deployed"
    assert Shift.from_dict(result.release.shift or {}).router == "replicas"
    one, two = dict.fromkeys(SERVICES, 1), dict.fromkeys(SERVICES, 2)
    assert counts == [(one, one, {None}), (dict.fromkeys(SERVICES, 0), two, {"green"})]
    assert selectors(kube, ns) == {"green"}


def test_a_new_deploy_is_refused_while_a_shift_is_held(
    project: Project, kube: Kube, facts: dict[str, str], exporter: Exporter
) -> None:
    settings = canary(facts, exporter, [(50, "5s"), (100, "5s")], router="gateway")
    deploy(project, kube, "v1", **settings)

    def hold() -> None:
        raise KeyboardInterrupt  # as Ctrl+C arrives, answered "hold" below

    session = project.session(**settings)
    plan = flow.make_plan(session, kube, "production", tag="v2")
    with pytest.raises(Exception) as caught:
        flow.deploy(session, kube, plan, checks=NO_CHECKS, watcher=Seen({1: hold}), ask=lambda _s: "hold")
    assert getattr(caught.value, "exit_code", None) == ExitCode.INTERRUPTED
    ns = project.namespace("production")
    assert newest(kube, ns).status == "held"
    with pytest.raises(UsageError, match="mid-shift") as refused:
        flow.make_plan(session, kube, "production", tag="v3")
    assert "--resume" in (refused.value.hint or "")
    done = canary_run.resume(session, kube, progress=lambda _m: None)
    assert done.release.status == "deployed" and done.release.slot == "green"
    assert Shift.from_dict(done.release.shift or {}).resumed == 1


# ---------------------------------------------------------------------- a real CLI, killed
def _cli_env(project: Project, facts: dict[str, str]) -> dict[str, str]:
    """The environment of a CLI run against the project's production on the test bed."""
    return {
        **os.environ,
        "CLIKD_DEPLOYMENT__NAMESPACE_PREFIX": project.prefix,
        "CLIKD_DEPLOYMENT__KUBECONFIG": str(KUBECONFIG),
        "CLIKD_DEPLOYMENT__KUBE_CONTEXT": "clikd-test",
        "CLIKD_DEPLOYMENT__PROMETHEUS_URL": facts["url"],
        "CLIKD_BRANCH": "main",
    }


def _cli(project: Project, facts: dict[str, str], *args: str) -> subprocess.Popen[str]:
    env = {**_cli_env(project, facts), "CLIKD_NO_PROMPT": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "invoke", "--search-root", str(REPO), *args],
        cwd=project.root,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _write_rollout(project: Project, exp: Exporter, pauses: tuple[str, str]) -> None:
    """[deployment.production] in the project's clikd.toml (what a CLI run reads): 50 % then 100 %."""
    toml = (project.root / "clikd.toml").read_text(encoding="utf-8").split("\n# -- canary --\n")[0]
    # JSON strings are TOML basic strings; the tables are written as TOML inline tables.
    inline = ", ".join(
        "{ " + ", ".join(f"{k} = {json.dumps(v)}" for k, v in check.items()) + " }"
        for check in checks(exp.name)
    )
    lines = [
        "\n# -- canary --",
        "[deployment.production]",
        'strategy = "canary"',
        'router = "gateway"',
        f'steps = [{{ weight = 50, pause = "{pauses[0]}" }}, {{ weight = 100, pause = "{pauses[1]}" }}]',
        f'analysis = {{ interval = "{INTERVAL}", failure_limit = 1, checks = [{inline}] }}',
    ]
    (project.root / "clikd.toml").write_text(toml + "\n".join(lines) + "\n", encoding="utf-8")


@pytest.mark.parametrize("then", ["resume", "rollback"])
@pytest.mark.parametrize("killed_at", [1, 2])
def test_a_killed_cli_leaves_a_record_that_resume_or_rollback_finishes(  # noqa: PLR0917 (fixtures)
    project: Project, kube: Kube, facts: dict[str, str], exporter: Exporter, killed_at: int, then: str
) -> None:
    ns = project.namespace("production")
    settings = canary(facts, exporter, [(50, "5s"), (100, "5s")], router="gateway")
    deploy(project, kube, "v1", **settings)
    # The killed run holds the step it is killed at for 10 minutes (the ones before it for 5 s).
    _write_rollout(project, exporter, ("10m", "5s") if killed_at == 1 else ("5s", "10m"))
    cli = _cli(project, facts, "deploy.production", "--tag", "v2", "--yes", "--confirm=production", "--force")
    try:

        def at_step() -> bool:
            assert cli.poll() is None, cli.communicate()
            history = releases.history(kube, ns)
            shift = history[0].shift if history and history[0].revision == 2 else None
            return (
                shift is not None
                and shift["step"] == killed_at - 1
                and shift["steps"][killed_at - 1]["started"] is not None
            )

        poll(f"the CLI at step {killed_at}", at_step, deadline=120)
    finally:
        cli.send_signal(signal.SIGKILL)
        cli.communicate()
    killed = newest(kube, ns)
    assert killed.status == "shifting" and Shift.from_dict(killed.shift or {}).step == killed_at - 1
    _write_rollout(project, exporter, ("5s", "5s"))  # the resumed steps are held 5 s
    session = project.session(**settings)
    said: list[str] = []
    if then == "resume":
        result = canary_run.resume(session, kube, progress=said.append)
        assert result.release.status == "deployed" and selectors(kube, ns) == {"green"}
        assert result.took_over_lock is not None and "is gone" in result.took_over_lock
        shift = Shift.from_dict(result.release.shift or {})
        assert [s.outcome for s in shift.steps] == ["passed", "passed"] and shift.resumed == 1
    else:
        result = rollback.rollback(session, kube, "production", progress=said.append)
        assert result.release.status == "aborted" and result.switched == "green -> blue"
        shift = Shift.from_dict(newest(kube, ns).shift)
        assert shift.abort is not None and shift.abort.cause == "rollback" and shift.abort.step == killed_at
        assert selectors(kube, ns) == {"blue"} and replicas(kube, ns, "green") == dict.fromkeys(SERVICES, 0)
        assert all(r.ok for r in result.smoke)


def test_sigterm_aborts_a_shift_without_a_terminal(
    project: Project, kube: Kube, facts: dict[str, str], exporter: Exporter
) -> None:
    ns = project.namespace("production")
    settings = canary(facts, exporter, [(50, "5s"), (100, "5s")], router="gateway")
    deploy(project, kube, "v1", **settings)
    _write_rollout(project, exporter, ("10m", "10m"))
    cli = _cli(project, facts, "deploy.production", "--tag", "v2", "--yes", "--confirm=production", "--force")

    def shifting() -> bool:
        assert cli.poll() is None, cli.communicate()
        history = releases.history(kube, ns)  # step 1 began: the shift's SIGTERM handler is in place
        shift = history[0].shift if history else None
        return shift is not None and shift["steps"][0]["started"] is not None

    try:
        poll("the CLI shifting", shifting, deadline=120)
        # A second deployer (here: a resume from this machine) meets the live CLI's Lease.
        with pytest.raises(Conflict, match="holds the lock"):
            canary_run.resume(project.session(**settings), kube, progress=lambda _m: None)
        cli.send_signal(signal.SIGTERM)
        _out, err = cli.communicate(timeout=60)
    finally:
        if cli.poll() is None:
            cli.kill()
    assert cli.returncode == ExitCode.INTERRUPTED, err
    assert "traffic is back on slot blue" in err
    shift = Shift.from_dict(newest(kube, ns).shift)
    assert (
        newest(kube, ns).status == "aborted" and shift.abort is not None and shift.abort.cause == "terminated"
    )
    assert selectors(kube, ns) == {"blue"}


def test_ctrl_c_in_a_terminal_asks_and_hold_keeps_the_weights_for_resume(
    project: Project, kube: Kube, facts: dict[str, str], exporter: Exporter
) -> None:
    import pexpect

    ns = project.namespace("production")
    settings = canary(facts, exporter, [(50, "5s"), (100, "5s")], router="gateway")
    deploy(project, kube, "v1", **settings)
    _write_rollout(project, exporter, ("10m", "10m"))
    env = {**_cli_env(project, facts), "TERM": "xterm"}
    for name in ("CLIKD_NO_PROMPT", "CI"):
        env.pop(name, None)
    child = pexpect.spawn(
        str(REPO / ".venv" / "bin" / "clikd"),
        ["deploy.production", "--tag", "v2", "--yes", "--confirm=production", "--force"],
        cwd=str(project.root),
        env=env,
        encoding="utf-8",
        timeout=90,
        dimensions=(50, 200),
    )
    try:
        child.expect("steps 50 % for 600s, 100 % for 600s")  # the plan, before anything moves
        child.expect("step 1/2: 50 % to slot green")
        child.expect("step 1/2  50 %")  # its Rich progress line
        child.sendintr()
        child.expect(r"abort or hold\? \[A/h\]")
        child.sendline("h")
        child.expect("the shift is held at step 1/2")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == ExitCode.INTERRUPTED
    held = newest(kube, ns)
    assert held.status == "held"
    router = router_of(project, kube, settings, "gateway")
    assert {(w.stable, w.canary) for w in router.weights().values()} == {(50, 50)}  # kept as they were
    # deploy.status, from any machine: the shift, its step and the weights read from the cluster now.
    seen = environment_status(project.session(**settings), kube, "production")
    assert seen.shift_revision == 2 and seen.shift is not None and seen.shift["phase"] == "held"
    assert seen.shift_weights is not None and set(map(tuple, seen.shift_weights.values())) == {(50, 50)}
    from rich.console import Console

    from tasks.core.console import view_of
    from tasks.core.deploy import views  # noqa: F401  (registers the renderers)

    screen = Console(width=200, record=True, file=open(os.devnull, "w"))  # noqa: SIM115, PTH123
    screen.print(view_of(seen))
    text = screen.export_text()
    assert "canary revision 2: held at step 1/2, 50 % to slot green" in text
    assert "weights now (stable/canary): GRPCRoute/api 50/50" in text
    _write_rollout(project, exporter, ("5s", "5s"))
    done = canary_run.resume(project.session(**settings), kube, progress=lambda _m: None)
    assert done.release.status == "deployed" and selectors(kube, ns) == {"green"}
    # deploy.status --watch redraws the environment (the completed shift too) until Ctrl+C.
    watch = pexpect.spawn(
        str(REPO / ".venv" / "bin" / "clikd"),
        ["deploy.status", "--env", "production", "--watch"],
        cwd=str(project.root),
        env=env,
        encoding="utf-8",
        timeout=60,
        dimensions=(50, 200),
    )
    try:
        watch.expect("completed: 100 % on slot green")
        watch.expect("completed: 100 % on slot green")  # drawn again
        watch.sendintr()
        watch.expect(pexpect.EOF)
    finally:
        watch.close(force=True)
    assert watch.exitstatus == 0


def test_a_canary_on_a_rolling_production_is_a_config_error(
    project: Project, kube: Kube, facts: dict[str, str], exporter: Exporter
) -> None:
    layout = project.root / "k8s" / "environments.toml"
    text = layout.read_text(encoding="utf-8")
    layout.write_text(text.replace('strategy = "blue-green"', 'strategy = "rolling"', 1), encoding="utf-8")
    settings = canary(facts, exporter, [(50, "5s"), (100, "5s")])
    with pytest.raises(ConfigError) as caught:
        flow.make_plan(project.session(**settings), kube, "production", tag="v1")
    assert 'k8s/environments.toml gives production strategy = "rolling"' in caught.value.message
    assert caught.value.hint is not None and '"blue-green"' in caught.value.hint
    assert kube.get("Namespace", project.namespace("production")) is None  # nothing was applied
