"""deploy.production's canary: decision-to-stable after a failed check, and the shift's own cost per
step beside its pause; writes "deploy-canary".

    .venv/bin/python -m bench.deploy.canary [--aborts 10] [--no-write]

Needs the test bed's control plane (tests/infra/k8s/up, with the Gateway API CRDs) and Prometheus
(tests/infra/prometheus/up). A throwaway copy of the project gets its own namespace; an exporter in
this process plays every service's traffic (tests/deploy/exporter.py), scraped by the real Prometheus.

- aborts: per router (gateway, replicas) ``--aborts`` deploys whose canary slot answers 30 % 5xx from
  the start, so the first analysis round of step 1 fails. Decision-to-stable is the release record's
  ``abort.stable - abort.decided``: from the moment the failed check is judged to the moment the API
  server has stored every route/Service back on the stable slot (goal <= 5 s). The peer is the same
  undo typed by hand: ``kubectl patch`` of every route to 100/0 and ``kubectl scale`` of the canary
  Deployments to 0, from routes set to 50/50 first.
- steps: one shift through 10/25/50/100 with 5 s pauses; per step, its wall time (start to the end of
  its last round) minus the pause is what clikd adds (setting the weight, recording, the analysis).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench.record import write_section
from tasks.core.deploy import flow, releases
from tasks.core.deploy.canary import run as canary_run
from tasks.core.deploy.canary.shift import CanaryAborted
from tasks.core.deploy.canary.state import Shift
from tasks.core.deploy.kube import Kube, connect
from tasks.core.deploy.model import ChecksReport
from tasks.core.deploy.render import Layout, target_for
from tasks.core.session import Session
from tests.deploy.conftest import without_tests
from tests.deploy.exporter import Exporter
from tests.deploy.test_canary_shift import SERVICES, checks

ROOT = Path(__file__).resolve().parents[2]
KUBECONFIG = ROOT / "tests" / "infra" / "k8s" / "kubeconfig"
FACTS = ROOT / "tests" / "infra" / "prometheus" / "facts.json"
INTERVAL = "5s"


def project(tmp: Path) -> tuple[Path, str]:
    root = tmp / "project"
    root.mkdir(parents=True)
    (root / "clikd.toml").write_text(without_tests((ROOT / "clikd.toml").read_text()), encoding="utf-8")
    shutil.copytree(ROOT / "k8s", root / "k8s")
    for args in (
        ["init", "-q", "-b", "main"],
        ["add", "."],
        ["-c", "user.name=b", "-c", "user.email=b@example.invalid", "commit", "-q", "-m", "init"],
    ):
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)
    return root, f"b{uuid.uuid4().hex[:8]}"


def session(
    root: Path,
    prefix: str,
    facts: dict[str, str],
    exp: Exporter,
    *,
    steps: list[tuple[int, str]],
    router: str,
) -> Session:
    deployment = {
        "namespace_prefix": prefix,
        "kubeconfig": str(KUBECONFIG),
        "kube_context": "clikd-test",
        "smoke_timeout": 10.0,
        "rollout_timeout": 60.0,
        "progress_deadline": 30,
        "prometheus_url": facts["url"],
        "production": {
            "strategy": "canary",
            "router": router,
            "steps": [{"weight": w, "pause": p} for w, p in steps],
            "analysis": {"interval": INTERVAL, "failure_limit": 1, "checks": checks(exp.name)},
        },
    }
    return Session(cwd=root, branch="main", overrides={"deployment": deployment})


def deploy(s: Session, kube: Kube, tag: str) -> Any:
    plan = flow.make_plan(s, kube, "production", tag=tag)
    return flow.deploy(s, kube, plan, checks=ChecksReport([]))


def wait_scraped(facts: dict[str, str], exp: Exporter) -> None:
    from tasks.core.deploy.canary.prometheus import Prometheus

    client = Prometheus(facts["url"], timeout=5.0)
    query = f'min(count_over_time(http_requests_total{{exporter="{exp.name}"}}[{INTERVAL}]))'
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = client.query(query).samples
        if found and found[0].value >= 3:
            return
        time.sleep(0.2)
    raise SystemExit("Prometheus did not scrape the exporter within 60 s")


def kubectl_undo(kube: Kube, s: Session, namespace: str, router: str) -> float:
    """Routes (or the replica split) at 50/50, then the same undo by hand with kubectl; its seconds."""
    settings = s.config.settings
    target = target_for(settings, Layout(s.root), "production")
    shifting = canary_run.make_router(kube, settings, target, stable="blue", canary="green", kind=router)
    shifting.set_weight(50)
    base = ["kubectl", "--kubeconfig", str(KUBECONFIG), "--context", "clikd-test", "-n", namespace]
    commands = []
    for ref in sorted(shifting.weights()):
        kind, name = ref.split("/")
        if kind == "Service":
            commands.append(
                [
                    *base,
                    "patch",
                    "service",
                    name,
                    "--type=merge",
                    "-p",
                    json.dumps({"spec": {"selector": {"dev.clikd/slot": "blue"}}}),
                ]
            )
            continue
        port = shifting.kube.get(kind, name, namespace)["spec"]["rules"][0]["backendRefs"]  # type: ignore[index]
        refs = [{**port[0], "weight": 100}, {**port[1], "weight": 0}]
        commands.append(
            [
                *base,
                "patch",
                kind.lower(),
                name,
                "--type=merge",
                "-p",
                json.dumps({"spec": {"rules": [{"backendRefs": refs}]}}),
            ]
        )
    scale = [*base, "scale", "deployment", *(f"{svc}-green" for svc in SERVICES), "--replicas=0"]
    started = time.perf_counter()
    for command in [*commands, scale]:
        subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - started


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def aborts(
    kube: Kube,
    tmp: Path,
    facts: dict[str, str],
    exp: Exporter,
    *,
    router: str,
    runs: int,
    prefixes: list[str],
) -> tuple[list[float], list[float]]:
    """(clikd's decision-to-stable, the kubectl peer's undo) in seconds, ``runs`` each."""
    root, prefix = project(tmp / router)
    prefixes.append(prefix)
    s = session(root, prefix, facts, exp, steps=[(50, "5s"), (100, "5s")], router=router)
    namespace = f"{prefix}-production"
    deploy(s, kube, "v1")
    took, peer = [], []
    for i in range(runs):
        try:
            deploy(s, kube, f"v{i + 2}")
            raise SystemExit("the canary was not aborted")
        except CanaryAborted:
            pass
        shift = Shift.from_dict(releases.history(kube, namespace)[0].shift or {})
        if shift.abort is None:
            raise SystemExit("the aborted release records no abort")
        took.append(shift.abort.seconds)
        print(f"{router} abort {i + 1}: {shift.abort.seconds * 1000:.0f} ms", flush=True)
        peer.append(kubectl_undo(kube, s, namespace, router))
    return took, peer


def steps_cost(kube: Kube, tmp: Path, facts: dict[str, str], exp: Exporter, prefixes: list[str]) -> Shift:
    """One complete shift through 10/25/50/100 with 5 s pauses."""
    root, prefix = project(tmp / "steps")
    prefixes.append(prefix)
    steps = [(10, "5s"), (25, "5s"), (50, "5s"), (100, "5s")]
    s = session(root, prefix, facts, exp, steps=steps, router="gateway")
    deploy(s, kube, "v1")
    done = deploy(s, kube, "v2")
    return Shift.from_dict(done.release.shift or {})


def row(what: str, values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return f"| {what} | {statistics.median(ms):.0f} | {pct(ms, 0.95):.0f} | {min(ms):.0f} | {max(ms):.0f} |"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--aborts", type=int, default=10)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    facts = json.loads(FACTS.read_text())
    kube = connect(str(KUBECONFIG), "clikd-test")
    rows: list[str] = []
    p95s: dict[str, float] = {}
    load_before = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    prefixes: list[str] = []
    exp = Exporter(Path(facts["targets_dir"]), f"bench-{uuid.uuid4().hex[:8]}")
    for svc in SERVICES:
        exp.healthy(svc, "blue")
        exp.error_burst(svc, "green", ratio=0.3)
    exp.register()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            wait_scraped(facts, exp)
            for router in ("gateway", "replicas"):
                took, peer = aborts(
                    kube, Path(tmp), facts, exp, router=router, runs=args.aborts, prefixes=prefixes
                )
                rows += [row(f"{router}: clikd abort, decision to stable", took)]
                rows += [row(f"{router}: by hand, kubectl patch + scale", peer)]
                p95s[router] = pct(took, 0.95)
            for svc in SERVICES:
                exp.healthy(svc, "green")
            time.sleep(5.5)  # the error burst leaves the 5 s rate() window before the healthy shift
            shift = steps_cost(kube, Path(tmp), facts, exp, prefixes)
    finally:
        exp.close()
        for obj in kube.list("Namespace"):
            if any(obj["metadata"]["name"].startswith(p + "-") for p in prefixes):
                kube.delete("Namespace", obj["metadata"]["name"])
    load_after = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    over = [(st.ended or 0) - (st.started or 0) - st.pause for st in shift.steps]
    steps = ", ".join(f"{st.weight} %: {o * 1000:.0f} ms" for st, o in zip(shift.steps, over, strict=True))
    met = "met" if all(p <= 5.0 for p in p95s.values()) else "NOT met"
    p95 = "; ".join(f"{r} p95 {p * 1000:.0f} ms" for r, p in p95s.items())
    body = f"""`python -m bench.deploy.canary --aborts {args.aborts}`: the test bed's control plane (kwok
nodes) and Prometheus (1 s scrapes), the shipped project's five services; an abort = step 1 (50 %)
failing its first analysis round (30 % 5xx on the canary slot). Load average {load_before} before,
{load_after} after. Milliseconds, wall, over {args.aborts} aborts per router.

| what | p50 | p95 | min | max |
|---|---|---|---|---|
{chr(10).join(rows)}

Decision to stable: from the failed check's verdict to the API server's answer to the last write that
puts a route or a Service on the stable slot, read back (gateway: 5 HTTPRoutes and api's GRPCRoute;
then the canary Deployments are scaled to 0 and the record written, not counted. replicas: per
service the Service's selector on the stable slot first, then the stable Deployment back to full
replicas and the canary's to 0, all counted). Goal <= 5 s: {met} ({p95}). The peer column is
the same undo typed as kubectl commands, one process each (what an engineer does by hand without
clikd); Argo Rollouts and Flagger need their controllers in the cluster, whose images cannot be
fetched here (no container registry), so they are not measured.

Cost per step of a complete shift (10/25/50/100, 5 s pauses, one analysis round of 10 queries per
step): the step's wall time minus its pause = {steps} (median {statistics.median(over) * 1000:.0f} ms).
"""
    print(body)
    if not args.no_write:
        title = "deploy.production canary: abort and per-step cost (bench/deploy/canary.py)"
        write_section("deploy-canary", title, body)


if __name__ == "__main__":
    main()
