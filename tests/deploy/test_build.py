"""deploy.staging/production building service images, and a failing contract Job, on the real test bed.

Builds go to the test bed's Docker engine (FROM the base image it already has: nothing is pulled) and
push to its registry (127.0.0.1:5000, htpasswd user clikd, tests/infra/testbed.json); the deploys go
to the test control plane. The contract Job fails through kwok's ``pod-job-failed`` stage
(tests/infra/k8s/kwok/stages.yaml): a Job pod fails when its image tag starts with ``fail-<phase>``.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tasks.core.deploy import build, releases
from tasks.core.deploy.kube import Kube
from tasks.core.errors import CheckFailed, ExitCode

from .conftest import KUBECONFIG, REPO, SHIPPED_IMAGE, Project, run_inv
from .test_deploy import SERVICES, deploy, selectors

# One xdist worker runs the tests of the test bed's single Kubernetes control plane: its
# controllers and KWOK act on every namespace at once, and production slot switches are timed by them.
pytestmark = [pytest.mark.testbed, pytest.mark.xdist_group("k8s")]
FACTS = json.loads((REPO / "tests" / "infra" / "testbed.json").read_text())
REGISTRY = FACTS["registry"]
BASE_IMAGE = FACTS["images"]["base"]
NAMESPACE = "clikd-deploy-tests"  # the registry namespace these tests push to (tags are commits)


def _env(project: Project, tmp_path: Path) -> dict[str, str]:
    empty = tmp_path / "docker-config"  # no credential store: the password comes from token_env
    empty.mkdir(exist_ok=True)
    env = {
        **os.environ,
        "CLIKD_DEPLOYMENT__NAMESPACE_PREFIX": project.prefix,
        "CLIKD_DEPLOYMENT__KUBECONFIG": str(KUBECONFIG),
        "CLIKD_DEPLOYMENT__KUBE_CONTEXT": "clikd-test",
        "CLIKD_DEPLOYMENT__ROLLOUT_TIMEOUT": "60",
        "CLIKD_DEPLOYMENT__PROGRESS_DEADLINE": "30",
        "CLIKD_BRANCH": "main",
        "CLIKD_REGISTRY__HOST": REGISTRY["host"],
        "CLIKD_REGISTRY__NAMESPACE": NAMESPACE,
        "CLIKD_REGISTRY__USERNAME": REGISTRY["username"],
        "CLIKD_REGISTRY__TOKEN_ENV": "CLIKD_TESTBED_REGISTRY_PASSWORD",
        "CLIKD_REGISTRY__USE_GH_CLI": "false",
        "CLIKD_TESTBED_REGISTRY_PASSWORD": REGISTRY["password"],
        "DOCKER_CONFIG": str(empty),
        "COLUMNS": "400",  # Rich wraps the error panel at the width; keep each message on one line
    }
    env.pop("CLIKD_NO_PROMPT", None)
    return env


def _inv(project: Project, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run_inv(project, env, *args)


def _with_build(project: Project, dockerfile: str) -> None:
    """Give the api service a build context (services/api) in the project's clikd.toml, committed."""
    context = project.root / "services" / "api"
    context.mkdir(parents=True)
    (context / "Dockerfile").write_text(dockerfile)
    (context / "hello.txt").write_text(f"built for {project.prefix}\n")
    with (project.root / "clikd.toml").open("a") as f:
        f.write('\n[services.api.build]\ncontext = "services/api"\n')
    project.git("add", ".")
    project.git("-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-q", "-m", "api build")


def _registry(path: str, accept: str = "") -> tuple[int, dict[str, str], bytes]:
    """GET the test registry's HTTP API with the test bed's credentials."""
    token = base64.b64encode(f"{REGISTRY['username']}:{REGISTRY['password']}".encode()).decode()
    request = urllib.request.Request(f"http://{REGISTRY['host']}{path}")
    request.add_header("Authorization", f"Basic {token}")
    if accept:
        request.add_header("Accept", accept)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310  (the test registry)
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


MANIFESTS = ", ".join(
    (
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.index.v1+json",
    )
)


def test_staging_builds_the_service_image_pushes_it_and_deploys_the_digest(
    project: Project, kube: Kube, tmp_path: Path
) -> None:
    _with_build(project, f"FROM {BASE_IMAGE}\nCOPY hello.txt /srv/hello.txt\nLABEL dev.clikd.test=1\n")
    commit = project.git("rev-parse", "HEAD")
    tag = commit[:12]
    done = _inv(project, _env(project, tmp_path), "deploy.staging", "--yes", "--json")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    # progress on stderr: the build steps and the push
    assert "api: Step 1/3 : FROM" in done.stderr
    assert f"api: pushing 127.0.0.1:5000/{NAMESPACE}/api:{tag}" in done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    [built] = result["built"]
    reference = f"{REGISTRY['host']}/{NAMESPACE}/api:{tag}"
    assert built["service"] == "api" and built["reference"] == reference
    digest = built["digest"]
    assert digest.startswith("sha256:") and len(digest) == 71
    image = f"{REGISTRY['host']}/{NAMESPACE}/api@{digest}"
    assert built["image"] == image

    # The Deployment runs exactly the pushed digest; the others keep their configured image.
    ns = project.namespace("staging")
    deps = {d["metadata"]["name"]: d for d in kube.list("Deployment", ns)}
    assert deps["api"]["spec"]["template"]["spec"]["containers"][0]["image"] == image
    for name in SERVICES:
        if name != "api":
            want = f"ghcr.io/clikd-org/{SHIPPED_IMAGE[name]}:latest"
            assert deps[name]["spec"]["template"]["spec"]["containers"][0]["image"] == want
        assert deps[name]["status"]["availableReplicas"] == 2

    # The registry has the tag, under that digest.
    status, headers, _body = _registry(f"/v2/{NAMESPACE}/api/manifests/{tag}", accept=MANIFESTS)
    assert status == 200
    assert {k.lower(): v for k, v in headers.items()}["docker-content-digest"] == digest
    status, _headers, body = _registry(f"/v2/{NAMESPACE}/api/tags/list")
    assert status == 200 and tag in json.loads(body)["tags"]

    # The release history records what was built.
    recorded = releases.history(kube, ns)[0]
    assert (recorded.status, recorded.tag, recorded.commit) == ("deployed", tag, commit)
    assert recorded.built == {"api": reference}
    assert recorded.images["api"] == image


def test_a_broken_dockerfile_names_the_service_and_step_without_a_traceback(
    project: Project, kube: Kube, tmp_path: Path
) -> None:
    _with_build(project, f"FROM {BASE_IMAGE}\nCOPY hello.txt /srv/hello.txt\nRUN echo migrating && exit 3\n")
    failed = _inv(project, _env(project, tmp_path), "deploy.staging", "--yes")
    assert failed.returncode == ExitCode.FAILURE, failed.stderr
    text = failed.stderr
    assert "Traceback" not in failed.stderr
    assert "build failed" in text
    assert "building the image of api failed at Step 3/3 : RUN echo migrating && exit 3" in text
    assert "returned a non-zero code: 3" in text
    assert "migrating" in text  # the build log's last lines
    assert "services/api/Dockerfile" in text  # the hint names the file to fix
    # nothing was deployed
    ns = project.namespace("staging")
    assert kube.get("Namespace", ns) is None or not releases.history(kube, ns)


def test_production_refuses_to_build_from_a_dirty_tree_and_no_build_keeps_the_tags(
    project: Project, kube: Kube, tmp_path: Path
) -> None:
    from tasks.core.deploy.wizard import plan as _plan

    _with_build(project, f"FROM {BASE_IMAGE}\n")
    (project.root / "services" / "api" / "hello.txt").write_text("changed, not committed\n")
    session = project.session()
    source = build.source(session)
    assert source.dirty and source.tag == project.git("rev-parse", "HEAD")[:12] + "-dirty"
    assert "services/api/hello.txt" in source.changes

    refused = _inv(project, _env(project, tmp_path), "deploy.production", "--yes", "--confirm=production")
    assert refused.returncode == ExitCode.CHECK_FAILED, refused.stderr
    text = refused.stderr
    assert "refusing to build production images from a dirty tree" in text
    assert "services/api/hello.txt" in text
    assert "commit or stash the changes" in text and "--no-build --tag TAG" in text
    assert kube.get("Namespace", project.namespace("production")) is None

    with pytest.raises(CheckFailed):
        _plan(session, kube, "production", tag="", no_build=False)
    # --no-build: the configured repositories under the tag, nothing to build.
    plan, building = _plan(session, kube, "production", tag="v7", no_build=True)
    assert not building and plan.release.built == {}
    assert plan.release.images["api"] == "ghcr.io/clikd-org/api-service:v7"
    # staging builds from a dirty tree (its checks decide), tagged -dirty.
    plan, building = _plan(session, kube, "staging", tag="", no_build=False)
    assert building
    assert plan.release.built == {
        "api": f"ghcr.io/clikd-org/api-service:{source.tag}"
    }  # [registry] of clikd.toml
    assert plan.release.images["auth"] == "ghcr.io/clikd-org/auth-service:latest"  # configured, not built


def test_a_failing_contract_job_keeps_the_new_slot_live_and_says_why(
    project: Project, kube: Kube, tmp_path: Path
) -> None:
    ns = project.namespace("production")
    first = deploy(project, kube, "production", "v1")
    assert first.release.slot == "blue"
    failed = _inv(
        project,
        _env(project, tmp_path),
        "deploy.production",
        "--no-build",
        "--tag",
        "fail-contract-1",
        "--yes",
        "--confirm=production",
        "--force",
        "--json",
    )
    assert failed.returncode == ExitCode.FAILURE, failed.stderr
    assert "Traceback" not in failed.stderr
    error = json.loads(failed.stdout)
    assert error["error"] == "contract migrations failed"
    assert error["exit_code"] == ExitCode.FAILURE
    message = error["message"]
    assert "revision 2 is live on slot green" in message
    assert "migrations job migrate-r2-contract failed: BackoffLimitExceeded" in message
    details = "\n".join(error["details"])
    assert "migrate: Error (simulated failure" in details  # the pod's reason, from its container status
    assert "log" in details  # its log lines, or why they cannot be read
    assert "stays live" in error["hint"] and f"{ns}/migrate-r2-contract" in error["hint"]
    # the deploy's result comes with the error
    assert error["result"]["release"]["revision"] == 2
    assert error["result"]["switched"] == "blue -> green"
    assert error["result"]["release"]["contract"].startswith("failed: migrations job migrate-r2-contract")

    # The cluster: the new slot serves, the expand Job of revision 2 completed, the contract Job failed.
    assert selectors(kube, ns) == dict.fromkeys(SERVICES, "green")
    expand = kube.get("Job", "migrate-r2", ns)
    contract = kube.get("Job", "migrate-r2-contract", ns)
    assert expand is not None and any(c["type"] == "Complete" for c in expand["status"]["conditions"])
    assert contract is not None and any(c["type"] == "Failed" for c in contract["status"]["conditions"])
    # The release is recorded as deployed, with the contract failure.
    latest, previous = releases.history(kube, ns)[:2]
    assert (latest.revision, latest.status, latest.slot) == (2, "deployed", "green")
    assert latest.contract is not None and latest.contract.startswith("failed: ")
    assert "contract migrations failed" in latest.note
    assert (previous.revision, previous.status) == (1, "superseded")


def test_a_refused_registry_login_says_pushing_needs_write_access(
    project: Project, kube: Kube, tmp_path: Path
) -> None:
    _with_build(project, f"FROM {BASE_IMAGE}\n")
    env = {**_env(project, tmp_path), "CLIKD_TESTBED_REGISTRY_PASSWORD": "not-the-password"}
    refused = _inv(project, env, "deploy.staging", "--yes")
    assert refused.returncode == ExitCode.FAILURE, refused.stderr
    assert "Traceback" not in refused.stderr and "not-the-password" not in refused.stderr
    assert "registry login failed" in refused.stderr
    assert "can push to 127.0.0.1:5000 (write access" in refused.stderr
    assert kube.get("Namespace", project.namespace("staging")) is None


def test_preview_builds_the_branch_image_into_its_own_namespace(
    project: Project, kube: Kube, tmp_path: Path
) -> None:
    _with_build(project, f"FROM {BASE_IMAGE}\nCOPY hello.txt /srv/hello.txt\n")
    tag = project.git("rev-parse", "HEAD")[:12]
    env = _env(project, tmp_path)
    env["CLIKD_BRANCH"] = "feature/preview-build"
    done = _inv(project, env, "deploy.preview", "--yes", "--json")
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    namespace = result["namespace"]
    assert namespace.startswith(project.prefix + "-feature-preview-build")
    [built] = result["deploy"]["built"]
    assert built["reference"] == f"{REGISTRY['host']}/{NAMESPACE}/api:{tag}"
    api = kube.get("Deployment", "api", namespace)
    assert api is not None
    assert api["spec"]["template"]["spec"]["containers"][0]["image"] == built["image"]
    assert built["image"].startswith(f"{REGISTRY['host']}/{NAMESPACE}/api@sha256:")
