"""env.status / env.logs against a remote target, on the real test control plane (tests/infra/k8s/up).

No mocks: Deployments are applied to the API server, kwok runs their pods (Ready, or ImagePullBackOff
for an image tagged ``bad*``), and pod logs travel API server -> kwok's kubelet endpoint -> the log file
kwok serves every pod (tests/infra/k8s/podlogs/app.log, copied to the test bed's state by up).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from tasks.core import console
from tasks.core.config.schema import Settings
from tasks.core.deploy import flow
from tasks.core.deploy.kube import Kube
from tasks.core.deploy.model import ChecksReport
from tasks.core.errors import Unavailable, UsageError
from tasks.core.remote import cluster, views
from tasks.core.stack.logs import LogLine, make_filters
from tests.deploy.conftest import KUBECONFIG, Project

SETTINGS = Settings()  # Deployments made by hand here: no services to read a live slot from

# One xdist worker runs the tests of the test bed's single Kubernetes control plane: its
# controllers and KWOK act on every namespace at once, and production slot switches are timed by them.
pytestmark = [pytest.mark.testbed, pytest.mark.xdist_group("k8s")]
FIXTURE_DAY = "2026-01-15T"  # the timestamps of tests/infra/k8s/podlogs/app.log
FIXTURE = Path(__file__).resolve().parents[1] / "infra" / "k8s" / "podlogs" / "app.log"


def wait_until(what: str, check: Callable[[], bool], timeout: float = 45.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.3)


def apply_deployment(
    kube: Kube, namespace: str, service: str, image: str, replicas: int, *, deadline: int = 600
) -> None:
    labels = {"app.kubernetes.io/name": service, "app.kubernetes.io/managed-by": "clikd"}
    kube.apply(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": service, "namespace": namespace, "labels": labels},
            "spec": {
                "replicas": replicas,
                "progressDeadlineSeconds": deadline,
                "selector": {"matchLabels": {"app.kubernetes.io/name": service}},
                "template": {
                    "metadata": {"labels": {"app.kubernetes.io/name": service}},
                    "spec": {"containers": [{"name": service, "image": image}]},
                },
            },
        }
    )


def settled(kube: Kube, namespace: str, name: str) -> bool:
    dep = kube.get("Deployment", name, namespace)
    if dep is None:
        return False
    st, want = dep.get("status", {}), dep["spec"]["replicas"]
    pods = kube.list("Pod", namespace, labels=f"app.kubernetes.io/name={name}")
    running = [p for p in pods if p.get("status", {}).get("phase") == "Running"]
    return (
        st.get("observedGeneration") == dep["metadata"]["generation"]
        and st.get("availableReplicas", 0) == st.get("updatedReplicas", 0) == want
        and len(running) == len(pods) == want
    )


@pytest.fixture
def two_services(kube: Kube, namespace: str) -> str:
    """``api`` with 2 pods and ``auth`` with 1, all Ready."""
    apply_deployment(kube, namespace, "api", "ghcr.io/clikd-org/api:v1", 2)
    apply_deployment(kube, namespace, "auth", "ghcr.io/clikd-org/auth:v1", 1)
    wait_until(
        "api and auth ready", lambda: settled(kube, namespace, "api") and settled(kube, namespace, "auth")
    )
    return namespace


def render(result: Any) -> str:
    view = console._VIEWS[type(result)]
    out = Console(record=True, width=200)
    out.print(view(result))
    return out.export_text()


def append_live(path: Path, text: str, stream: str = "stdout") -> str:
    """Append one line to the log every simulated pod serves; its timestamp (as the API returns it)."""
    now = dt.datetime.now(dt.UTC)
    ts = now.strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"
    with path.open("a", encoding="utf-8") as f:
        f.write(f"{ts} {stream} F {text}\n")
    return ts


def fixture_lines() -> list[str]:
    return [line.split(" ", 3)[3] for line in FIXTURE.read_text().splitlines() if line]


# ---------------------------------------------------------------------------- status
def test_status_reports_replicas_images_pods_and_health(kube: Kube, two_services: str) -> None:
    ns = two_services
    result = cluster.status(kube, ns, environment="staging", settings=SETTINGS)
    assert result.namespace == ns and result.environment == "staging"
    assert result.active_slot is None and result.hints == []
    rows = {d.name: d for d in result.deployments}
    assert sorted(rows) == ["api", "auth"]
    api = rows["api"]
    assert (api.service, api.slot, api.active) == ("api", None, None)
    assert api.images == ["ghcr.io/clikd-org/api:v1"]
    assert (api.desired, api.ready, api.available, api.updated) == (2, 2, 2, 2)
    assert (api.health, api.hint) == ("healthy", None)
    assert api.age_s is not None and 0 <= api.age_s < 300
    assert len(api.pods) == 2 and rows["auth"].desired == 1
    assert result.healthy
    pods = {p.name: p for p in result.pods}
    assert set(pods) == set(api.pods) | set(rows["auth"].pods)
    for pod in pods.values():
        assert pod.phase == "Running" and pod.ready and pod.ready_containers == pod.containers == 1
        assert pod.restarts == 0 and pod.node == "kwok-node-0" and pod.reason is None
    assert {p.service for p in pods.values()} == {"api", "auth"}

    doc = json.loads(console.dumps(result))  # JSON-able through the console layer
    assert doc["deployments"][0]["name"] == "api" and doc["deployments"][0]["health"] == "healthy"
    text = render(result)
    assert "deployments" in text and "ghcr.io/clikd-org/api:v1" in text and "kwok-node-0" in text
    assert views.HEALTH_STYLE["healthy"] == "green"


def test_a_bad_image_is_degraded_with_a_hint_and_scaled_to_zero_is_reported(
    kube: Kube, namespace: str
) -> None:
    apply_deployment(kube, namespace, "media", "ghcr.io/clikd-org/media:bad-1", 1)

    def stuck() -> bool:
        pods = kube.list("Pod", namespace)
        statuses = [cs for p in pods for cs in p.get("status", {}).get("containerStatuses", [])]
        return any(cs.get("state", {}).get("waiting", {}).get("reason") for cs in statuses)

    wait_until("the pod stuck on ImagePullBackOff", stuck)
    result = cluster.status(kube, namespace, environment="staging", settings=SETTINGS)
    (media,) = result.deployments
    assert media.health == "degraded" and not result.healthy
    assert media.ready == 0 and media.desired == 1
    assert media.hint and "ghcr.io/clikd-org/media:bad-1 cannot be pulled" in media.hint
    assert any(h.startswith("media: ") for h in result.hints)
    (pod,) = result.pods
    assert (pod.phase, pod.ready, pod.reason) == ("Pending", False, "ImagePullBackOff")
    assert pod.message and "bad-1" in pod.message
    assert "ImagePullBackOff" in render(result)

    kube.patch("Deployment", "media", namespace, {"spec": {"replicas": 0}})
    wait_until("media scaled to 0", lambda: not kube.list("Pod", namespace))
    (media,) = cluster.status(kube, namespace, environment="staging", settings=SETTINGS).deployments
    assert (media.health, media.desired, media.pods) == ("scaled-to-zero", 0, [])
    assert media.hint and "nothing serves media" in media.hint


def test_a_missing_namespace_says_nothing_is_deployed(kube: Kube) -> None:
    ns = f"remote-missing-{uuid.uuid4().hex[:6]}"
    with pytest.raises(Unavailable) as caught:
        cluster.status(kube, ns, environment="staging", settings=SETTINGS)
    assert "nothing is deployed to staging yet" in caught.value.message and ns in caught.value.message
    assert caught.value.hint and "inv deploy.staging" in caught.value.hint
    with pytest.raises(Unavailable):
        cluster.collect(kube, ns, filters=make_filters("", "", ""), since=None, tail=None)


def test_an_unreachable_api_server_is_unavailable(tmp_path: Path) -> None:
    from tasks.core.deploy.kube import connect

    text = re.sub(r"server: https://127\.0\.0\.1:\d+", "server: https://127.0.0.1:1", KUBECONFIG.read_text())
    (tmp_path / "kubeconfig").write_text(text)
    dead = connect(str(tmp_path / "kubeconfig"), "clikd-test")
    with pytest.raises(Unavailable) as caught:
        cluster.status(dead, "anything", environment="production", settings=SETTINGS)
    assert "does not answer" in caught.value.message


def test_blue_green_production_shows_both_slots_and_the_live_one(project: Project, kube: Kube) -> None:
    session = project.session()
    for tag in ("v1", "v2"):  # v1 fills blue, v2 fills green and switches to it; blue stays for rollbacks
        plan = flow.make_plan(session, kube, "production", tag=tag)
        flow.deploy(session, kube, plan, checks=ChecksReport([]), timeout=60.0)
    ns = project.namespace("production")
    settings = session.config.settings
    result = cluster.status(kube, ns, environment="production", settings=settings)
    assert result.active_slot == "green"
    by_name = {d.name: d for d in result.deployments}
    assert {"api-blue", "api-green", "auth-blue", "auth-green"} <= set(by_name)
    blue, green = by_name["api-blue"], by_name["api-green"]
    assert (blue.service, blue.slot, blue.active) == ("api", "blue", False)
    assert (green.service, green.slot, green.active) == ("api", "green", True)
    assert blue.images == ["ghcr.io/clikd-org/api-service:v1"]
    assert green.images == ["ghcr.io/clikd-org/api-service:v2"]
    assert green.health == "healthy" and green.ready == green.desired > 0
    # The migrations Jobs' pods belong to no Deployment: listed, with no deployment.
    assert all(p.deployment in by_name for p in result.pods if p.deployment)
    assert "green (live)" in render(result) and "blue (idle)" in render(result)
    # Read again (no deploy in between): the same live slot.
    assert cluster.status(kube, ns, environment="production", settings=settings).active_slot == "green"


# ---------------------------------------------------------------------------- logs
def test_collect_reads_pod_logs_with_levels_and_filters(kube: Kube, two_services: str) -> None:
    ns = two_services
    everything = cluster.collect(kube, ns, filters=make_filters("", "", ""), since=None, tail=None)
    assert everything == sorted(everything)
    fixture = [ln for ln in everything if ln.ts.startswith(FIXTURE_DAY)]
    labels = {ln.service for ln in fixture}
    assert len(labels) == 3 and "auth" in labels  # auth has one pod: no suffix
    api_labels = sorted(label for label in labels if label != "auth")
    assert all(re.fullmatch(r"api/[a-z0-9]{5}", label) for label in api_labels)
    assert len(fixture) == 3 * len(fixture_lines())
    auth = [ln for ln in fixture if ln.service == "auth"]
    assert [ln.text for ln in auth] == fixture_lines()
    assert [ln.level for ln in auth] == ["INFO", "DEBUG", "INFO", "WARN", "WARN", "ERROR", "ERROR", "INFO"]
    assert auth[0].ts == "2026-01-15T09:00:00.100000000Z"  # nine fraction digits: sorts as text

    warn = cluster.collect(kube, ns, filters=make_filters("", "warn", ""), since=None, tail=None)
    assert warn and {ln.level for ln in warn} <= {"WARN", "ERROR", "FATAL"}
    assert len([ln for ln in warn if ln.ts.startswith(FIXTURE_DAY)]) == 3 * 4

    grep = cluster.collect(
        kube, ns, filters=make_filters("", "", "upstream timed out"), since=None, tail=None
    )
    assert [ln.text for ln in grep] == ["[error] upstream timed out: media"] * 3
    assert {ln.level for ln in grep} == {"ERROR"}

    only_auth = cluster.collect(kube, ns, filters=make_filters("auth", "error", ""), since=None, tail=None)
    assert {ln.service for ln in only_auth} == {"auth"}
    assert [ln.text for ln in only_auth if ln.ts.startswith(FIXTURE_DAY)] == [
        "[error] upstream timed out: media",
        fixture_lines()[6],
    ]

    with pytest.raises(UsageError) as caught:
        cluster.collect(kube, ns, filters=make_filters("nope", "", ""), since=None, tail=None)
    assert caught.value.hint and "api, auth" in caught.value.hint


def test_collect_passes_tail_and_since_to_the_api(kube: Kube, two_services: str, live_log: Path) -> None:
    ns = two_services
    tailed = cluster.collect(kube, ns, filters=make_filters("auth", "", ""), since=None, tail=2)
    assert len(tailed) == 2  # the last two lines of the file, whatever tests appended before
    last = [ln.split(" ", 3)[3] for ln in live_log.read_text().splitlines() if ln][-2:]
    assert [ln.text for ln in tailed] == last

    marker = f"since-{uuid.uuid4().hex[:8]}"
    ts = append_live(live_log, f'{{"level":"warn","msg":"{marker}"}}')
    since = time.time() - 60
    recent = cluster.collect(kube, ns, filters=make_filters("", "", ""), since=since, tail=None)
    assert recent, "no line from the last minute"
    assert not [ln for ln in recent if ln.ts.startswith(FIXTURE_DAY)]
    mine = [ln for ln in recent if marker in ln.text]
    assert len(mine) == 3 and {ln.ts for ln in mine} == {ts} and {ln.level for ln in mine} == {"WARN"}


def test_follow_streams_new_lines_in_order_and_stops_on_the_event(
    kube: Kube, two_services: str, live_log: Path
) -> None:
    ns = two_services
    marker = f"follow-{uuid.uuid4().hex[:8]}"
    got: list[LogLine] = []
    batches: list[list[LogLine]] = []
    stop = threading.Event()
    errors: list[BaseException] = []

    def on_lines(lines: list[LogLine]) -> None:
        batches.append(lines)
        got.extend(lines)

    def run() -> None:
        try:
            cluster.follow(
                kube,
                ns,
                filters=make_filters("", "", marker),
                since=None,
                tail=0,
                on_lines=on_lines,
                stop=stop,
            )
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    time.sleep(1.5)  # the three streams are open (tail=0: nothing old comes)
    assert not got
    first = append_live(live_log, f"INFO {marker} one")
    time.sleep(0.05)
    second = append_live(live_log, f"ERROR {marker} two", stream="stderr")
    wait_until("six followed lines", lambda: len(got) >= 6, timeout=20)
    assert not errors
    assert [ln.ts for ln in got] == sorted(ln.ts for ln in got)
    assert sorted({ln.ts for ln in got}) == [first, second]
    assert [ln.level for ln in got] == ["INFO"] * 3 + ["ERROR"] * 3
    assert {ln.service for ln in got[:3]} == {ln.service for ln in got[3:]}  # each pod: both lines
    assert len({ln.service for ln in got}) == 3
    assert all(b == sorted(b) for b in batches)

    started = time.monotonic()
    stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive(), "follow did not return after stop was set"
    assert time.monotonic() - started < 5 and not errors


def test_follow_returns_when_every_stream_ends(kube: Kube, namespace: str) -> None:
    apply_deployment(kube, namespace, "realtime", "ghcr.io/clikd-org/realtime:v1", 1)
    wait_until("realtime ready", lambda: settled(kube, namespace, "realtime"))
    got: list[LogLine] = []
    done = threading.Event()

    def run() -> None:
        cluster.follow(
            kube,
            namespace,
            filters=make_filters("", "", ""),
            since=None,
            tail=3,
            on_lines=got.extend,
        )
        done.set()

    threading.Thread(target=run, daemon=True).start()
    wait_until("the last three lines", lambda: len(got) >= 3, timeout=20)
    assert not done.is_set()
    kube.delete("Deployment", "realtime", namespace)  # its pod goes: the stream ends, and follow with it
    for pod in kube.list("Pod", namespace):
        kube.delete("Pod", pod["metadata"]["name"], namespace)
    assert done.wait(30), "follow did not return after its only pod was deleted"
    assert [ln.service for ln in got] == ["realtime"] * len(got)
