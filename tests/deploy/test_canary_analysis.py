"""The canary analysis against the test bed's real Prometheus, scraping an exporter these tests steer.

Each test gets its own exporter (its own file_sd target) and its own service name, so reruns and
neighbours never read each other's series. Nothing waits a fixed time: the tests poll Prometheus
until the series they need are in (with a deadline).
"""

from __future__ import annotations

import json
import math
import socket
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tasks.core.config.loader import load
from tasks.core.config.schema import Settings
from tasks.core.deploy.canary.analysis import (
    DEFAULT_CHECKS,
    Analysis,
    Check,
    CheckResult,
    Context,
    Outcome,
    evaluate,
    evaluate_all,
    render,
)
from tasks.core.deploy.canary.prometheus import (
    Prometheus,
    PrometheusHTTPError,
    PrometheusQueryError,
    PrometheusResultError,
    PrometheusUnreachable,
)
from tasks.core.errors import ConfigError
from tests.deploy.exporter import Exporter

REPO = Path(__file__).resolve().parents[2]
FACTS = REPO / "tests" / "infra" / "prometheus" / "facts.json"
UP = "tests/infra/prometheus/up"
INTERVAL = 5.0  # seconds: the range of rate() in the checks (Prometheus scrapes every second)
DEADLINE = 30.0

needs_prometheus = pytest.mark.testbed


@pytest.fixture(scope="module")
def facts() -> dict[str, str]:
    if not FACTS.is_file():
        pytest.fail(f"{FACTS} is missing: run {UP} (or tests/infra/up) first", pytrace=False)
    doc: dict[str, str] = json.loads(FACTS.read_text(encoding="utf-8"))
    try:
        with urllib.request.urlopen(f"{doc['url']}/-/ready", timeout=3) as answer:  # noqa: S310 (http://127.0.0.1)
            assert answer.status == 200
    except OSError as exc:
        pytest.fail(
            f"the test bed's Prometheus at {doc['url']} is not ready ({exc}): run {UP}", pytrace=False
        )
    return doc


@pytest.fixture
def prometheus(facts: dict[str, str]) -> Prometheus:
    return Prometheus(facts["url"], timeout=5.0)


@pytest.fixture(scope="module")
def exporter(facts: dict[str, str]) -> Iterator[Exporter]:
    """One exporter for the module (Prometheus applies new file_sd targets up to 5 s late); each test
    has its own service name in it."""
    exp = Exporter(Path(facts["targets_dir"]), f"canary-test-{uuid.uuid4().hex[:8]}")
    exp.register()
    client = Prometheus(facts["url"], timeout=5.0)

    def scraped() -> bool:
        return [s.value for s in client.query(f'up{{exporter="{exp.name}"}}').samples] == [1.0]

    try:
        poll(f"Prometheus scraping the exporter {exp.target}", scraped)
        yield exp
    finally:
        exp.close()


@pytest.fixture
def service() -> str:
    return f"svc-{uuid.uuid4().hex[:8]}"


def poll(what: str, probe: Callable[[], bool], deadline: float = DEADLINE) -> float:
    """Call ``probe`` until it is true; the seconds it took. Fails naming ``what`` at the deadline."""
    start = time.monotonic()
    while not probe():
        if time.monotonic() - start > deadline:
            pytest.fail(f"{what}: not within {deadline:g}s", pytrace=False)
        time.sleep(0.2)
    return time.monotonic() - start


def wait_scraped(prometheus: Prometheus, service: str, slot: str, samples: int = 2) -> float:
    """Until Prometheus holds ``samples`` scrapes of the slot's request counter within the interval,
    so rate() over it has something to work on."""
    selector = f'http_requests_total{{service="{service}",slot="{slot}"}}'
    query = f"max(count_over_time({selector}[{int(INTERVAL)}s]))"

    def enough() -> bool:
        found = prometheus.query(query).samples
        return bool(found) and found[0].value >= samples

    return poll(f"{samples} scrapes of {selector} in Prometheus", enough)


def by_name(results: list[CheckResult]) -> dict[str, CheckResult]:
    return {result.check: result for result in results}


DEFAULT = Analysis(interval=INTERVAL, failure_limit=1)


def context(service: str, slot: str, interval: float = INTERVAL) -> Context:
    return Context(service=service, slot=slot, namespace="prod", interval=interval)


# ---------------------------------------------------------------------- checks against Prometheus


@needs_prometheus
def test_a_healthy_slot_passes_both_default_checks_beside_a_failing_one(
    prometheus: Prometheus, exporter: Exporter, service: str
) -> None:
    exporter.healthy(service, "green")
    exporter.error_burst(service, "blue", ratio=0.5)  # the other slot's errors are not green's
    wait_scraped(prometheus, service, "green")
    results = by_name(evaluate_all(DEFAULT, context(service, "green"), prometheus))
    rate, p99 = results["request-success-rate"], results["request-duration-p99"]
    assert rate.outcome is Outcome.PASSED, rate.reason
    assert rate.value == 1.0
    assert (rate.bound, rate.threshold) == ("min", 0.99)
    assert p99.outcome is Outcome.PASSED, p99.reason
    assert p99.value is not None
    assert 0.025 < p99.value <= 0.05  # 40 ms requests: the (25 ms, 50 ms] bucket
    assert 'slot="green"' in rate.query
    assert "[5s]" in rate.query


@needs_prometheus
def test_an_error_burst_fails_the_success_rate_with_value_and_threshold(
    prometheus: Prometheus, exporter: Exporter, service: str
) -> None:
    exporter.error_burst(service, "blue", ratio=0.2)
    wait_scraped(prometheus, service, "blue")
    results = by_name(evaluate_all(DEFAULT, context(service, "blue"), prometheus))
    rate = results["request-success-rate"]
    assert rate.outcome is Outcome.FAILED
    assert not rate.passed
    assert rate.value is not None
    assert 0.7 < rate.value < 0.9  # one request in five answered 500
    assert (rate.bound, rate.threshold) == ("min", 0.99)
    assert "below the minimum 0.99" in rate.reason
    record = rate.to_dict()
    assert record["value"] == rate.value
    assert record["threshold"] == 0.99
    assert record["query"] == rate.query
    assert results["request-duration-p99"].passed  # the errors were fast


@needs_prometheus
def test_only_errors_is_a_success_rate_of_zero_not_no_data(
    prometheus: Prometheus, exporter: Exporter, service: str
) -> None:
    exporter.error_burst(service, "blue", ratio=1.0)
    wait_scraped(prometheus, service, "blue")
    rate = evaluate(DEFAULT_CHECKS[0], context(service, "blue"), prometheus)
    assert (rate.outcome, rate.value) == (Outcome.FAILED, 0.0)


@needs_prometheus
def test_a_latency_spike_fails_the_p99_check(
    prometheus: Prometheus, exporter: Exporter, service: str
) -> None:
    exporter.latency_spike(service, "green", latency=1.2)
    wait_scraped(prometheus, service, "green")
    results = by_name(evaluate_all(DEFAULT, context(service, "green"), prometheus))
    p99 = results["request-duration-p99"]
    assert p99.outcome is Outcome.FAILED
    assert p99.value is not None
    assert 1.0 < p99.value <= 2.5  # the (1 s, 2.5 s] bucket
    assert (p99.bound, p99.threshold) == ("max", 0.5)
    assert "above the maximum 0.5" in p99.reason
    assert results["request-success-rate"].passed


@needs_prometheus
def test_no_traffic_is_no_data_and_not_a_pass(
    prometheus: Prometheus, exporter: Exporter, service: str
) -> None:
    exporter.healthy(service, "blue")
    exporter.idle(service, "green")  # never had a request: no series at all
    wait_scraped(prometheus, service, "blue")  # the exporter is scraped, green simply has nothing
    for result in evaluate_all(DEFAULT, context(service, "green"), prometheus):
        assert result.outcome is Outcome.NO_DATA, result
        assert not result.passed
        assert result.value is None
        assert "no data" in result.reason
        assert "not a pass" in result.reason
        assert result.to_dict()["value"] is None


@needs_prometheus
def test_traffic_that_stopped_is_nan_and_not_a_pass(
    prometheus: Prometheus, exporter: Exporter, service: str
) -> None:
    exporter.healthy(service, "green")
    wait_scraped(prometheus, service, "green", samples=2)
    exporter.idle(service, "green")
    ctx = context(service, "green", interval=3.0)
    seen: list[CheckResult] = []

    def nan() -> bool:
        seen[:] = evaluate_all(DEFAULT, ctx, prometheus)
        return all(result.outcome is Outcome.NAN for result in seen)

    poll("both checks NaN once the counters stopped", nan)
    for result in seen:
        assert not result.passed
        assert result.value is not None
        assert math.isnan(result.value)
        assert "0/0" in result.reason
        assert result.to_dict()["value"] == "NaN"


# ---------------------------------------------------------------------- errors, named


@needs_prometheus
def test_a_wrong_query_is_named_with_prometheus_own_error(prometheus: Prometheus) -> None:
    broken = Check("broken", 'sum(rate(http_requests_total{service="{service}"}[{interval}])', max=1)
    with pytest.raises(PrometheusQueryError) as caught:
        evaluate(broken, context("api", "green"), prometheus)
    exc = caught.value
    assert exc.error_type == "bad_data"
    assert exc.error  # Prometheus's own words
    assert exc.error in exc.message
    assert 'service="api"' in exc.message  # the query as sent
    assert exc.hint is not None
    assert "analysis" in exc.hint


@needs_prometheus
def test_a_range_or_several_series_is_not_one_value(
    prometheus: Prometheus, exporter: Exporter, service: str
) -> None:
    matrix = Check("matrix", 'http_requests_total{service="{service}"}[{interval}]', max=1)
    with pytest.raises(PrometheusResultError, match="matrix result"):
        evaluate(matrix, context(service, "green"), prometheus)
    exporter.healthy(service, "green")
    exporter.healthy(service, "blue")
    wait_scraped(prometheus, service, "green")
    wait_scraped(prometheus, service, "blue")
    per_slot = Check("per-slot", 'sum by (slot) (http_requests_total{service="{service}"})', min=0)
    with pytest.raises(PrometheusResultError, match="2 series") as caught:
        evaluate(per_slot, context(service, "green"), prometheus)
    assert caught.value.hint is not None
    assert "aggregate" in caught.value.hint


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_an_unreachable_url_is_named_with_a_hint() -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    with pytest.raises(PrometheusUnreachable) as caught:
        Prometheus(url, timeout=2).query("vector(1)")
    exc = caught.value
    assert url in exc.message
    assert "cannot reach Prometheus" in exc.message
    assert exc.hint is not None
    assert "prometheus_url" in exc.hint
    assert int(exc.exit_code) == 5  # Unavailable


@needs_prometheus
def test_a_wrong_path_is_an_http_error_with_a_hint(facts: dict[str, str]) -> None:
    with pytest.raises(PrometheusHTTPError, match="HTTP 404") as caught:
        Prometheus(facts["url"] + "/not-prometheus").query("vector(1)")
    assert caught.value.hint is not None
    assert "/api/v1" in caught.value.hint


@needs_prometheus
def test_through_a_local_forward_the_host_header_and_prefix_are_kept(facts: dict[str, str]) -> None:
    # What an SSH tunnel gives: a local port for the remote Prometheus (here the same server).
    remote = Prometheus("http://prometheus.monitoring.invalid:9090", timeout=5)
    port = int(facts["url"].rsplit(":", 1)[1])
    local = remote.through(port)
    assert (local.host, local.port, local.host_header) == (
        "127.0.0.1",
        port,
        "prometheus.monitoring.invalid:9090",
    )
    answer = local.query("vector(42)")
    assert [s.value for s in answer.samples] == [42.0]
    assert Prometheus("https://m.example/prom").through(4000).url == "https://127.0.0.1:4000/prom"


# ---------------------------------------------------------------------- the model and the config


def test_placeholders_are_filled_and_promql_braces_kept() -> None:
    text = render(DEFAULT_CHECKS[0].query, Context("api", "green", "clikd-production", 90))
    assert 'http_requests_total{service="api",slot="green",code!~"5.."}[90s]' in text
    assert "{service}" not in text
    assert render('x{a="{slot}"}[{interval}]', Context("s", 'we"ird', "n", 1.5)) == 'x{a="we\\"ird"}[1500ms]'


def _load(tmp_path: Path, toml: str) -> Settings:
    (tmp_path / "clikd.toml").write_text('[project]\nname = "demo"\n' + toml, encoding="utf-8")
    return load(tmp_path, env={}).settings


def _refused(tmp_path: Path, toml: str) -> str:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, toml)
    return caught.value.message


CANARY = (
    '[deployment]\nprometheus_url = "http://127.0.0.1:7450"\n[deployment.production]\nstrategy = "canary"\n'
)


def test_the_default_stays_blue_green_with_flaggers_checks(tmp_path: Path) -> None:
    settings = _load(tmp_path, "")
    production = settings.deployment.production
    assert production.strategy == "bluegreen"
    assert [s.weight for s in production.steps] == [10, 25, 50, 100]
    analysis = Analysis.from_settings(production.analysis)
    assert analysis.interval == 60.0
    assert [(c.name, c.bound, c.threshold) for c in analysis.checks] == [
        ("request-success-rate", "min", 0.99),
        ("request-duration-p99", "max", 0.5),
    ]


def test_a_canary_config_is_read(tmp_path: Path) -> None:
    toml = """
router = "replicas"
steps = [{ weight = 20, pause = "30s" }, { weight = 100, pause = 0 }]
[deployment.production.analysis]
interval = "1m30s"
failure_limit = 2
[[deployment.production.analysis.checks]]
name = "5xx"
query = 'sum(rate(e{service="{service}"}[{interval}]))'
max = 0.1
"""
    settings = _load(tmp_path, CANARY + toml)
    production = settings.deployment.production
    assert [(s.weight, s.pause_seconds) for s in production.steps] == [(20, 30.0), (100, 0.0)]
    analysis = Analysis.from_settings(production.analysis)
    assert (analysis.interval, analysis.failure_limit) == (90.0, 2)
    assert analysis.checks == (Check("5xx", 'sum(rate(e{service="{service}"}[{interval}]))', max=0.1),)


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        (
            "steps = [{ weight = 50 }, { weight = 25 }, { weight = 100 }]",
            "must increase strictly: step 2 has 25",
        ),
        ("steps = [{ weight = 10 }, { weight = 50 }]", "the last step's weight is 50: it must be 100"),
        ("steps = [{ weight = 0 }, { weight = 100 }]", "expected an integer from 1 to 100; found 0"),
        ("steps = [{ weight = 10 }, { weight = 120 }]", "from 1 to 100; found 120"),
        ("steps = []", "has no step"),
        ('steps = [{ weight = 100, pause = "soon" }]', "'soon' is not a duration"),
        ('router = "istio"', "istio"),
        (
            '[deployment.production.analysis]\nchecks = [{ name = "a", query = "up", max = 1, min = 0 }]',
            "sets both of max and min: set exactly one",
        ),
        (
            '[deployment.production.analysis]\nchecks = [{ name = "a", query = "up" }]',
            "sets neither of max and min",
        ),
        (
            "[deployment.production.analysis]\n"
            'checks = [{ name = "a", query = "x{s=\\"{servce}\\"}", max = 1 }]',
            "{servce} is not a placeholder",
        ),
        ('[deployment.production.analysis]\ninterval = "0s"', "under a second"),
        ("[deployment.production.analysis]\nchecks = []", "remove the key for the default checks"),
        ("[deployment.production.analysis]\nfailure_limit = 0", "an integer of at least 1; found 0"),
    ],
)
def test_invalid_canary_settings_are_named(tmp_path: Path, toml: str, expected: str) -> None:
    message = _refused(tmp_path, CANARY + toml + "\n")
    assert expected in message
    assert "deployment.production" in message


def test_canary_without_prometheus_url_and_a_bad_url_are_named(tmp_path: Path) -> None:
    message = _refused(tmp_path, '[deployment.production]\nstrategy = "canary"\n')
    assert "set [deployment] prometheus_url" in message
    message = _refused(tmp_path, '[deployment]\nprometheus_url = "localhost:9090"\n')
    assert "is not an http(s)://host[:port][/path] URL" in message
