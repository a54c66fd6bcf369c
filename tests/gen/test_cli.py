"""The gen tasks as users and CI run them: `inv gen.*` in a subprocess, exit codes, JSON, the live spec."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.gen.conftest import CLIKD_SPEC, REPO

INV = str(REPO / ".venv" / "bin" / "inv")


def inv(
    *args: str, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [INV, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_gen_all_writes_every_client_and_reports_json(tmp_path: Path) -> None:
    proc = inv("gen.all", "--output", str(tmp_path), "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert [r["language"] for r in report["results"]] == ["swift", "kotlin", "typescript", "python"]
    assert {r["status"] for r in report["results"]} == {"generated"}
    swift, kotlin, typescript, python = report["results"]
    assert (swift["models"], swift["endpoints"], swift["services"]) == (54, 27, 6)
    assert kotlin["files"] > 60 and typescript["files"] == 12 and python["files"] > 50
    assert (tmp_path / "swift" / "Package.swift").is_file()
    assert (tmp_path / "kotlin" / "build.gradle.kts").is_file()
    assert (tmp_path / "typescript" / "package.json").is_file()
    assert (tmp_path / "python" / "pyproject.toml").is_file()
    assert (tmp_path / "python" / "clikd_api" / "client.py").is_file()

    again = json.loads(inv("gen.all", "--output", str(tmp_path), "--json").stdout)
    assert {r["status"] for r in again["results"]} == {"unchanged"}

    check = inv("gen.all", "--output", str(tmp_path), "--check")
    assert check.returncode == 0, check.stderr

    (tmp_path / "python" / "clikd_api" / "client.py").write_text("# edited\n")
    failed = inv("gen.all", "--output", str(tmp_path), "--check")
    assert failed.returncode == 7, failed.stderr
    assert "python: changed  clikd_api/client.py" in failed.stderr


def test_human_output_has_the_summary_table(tmp_path: Path) -> None:
    proc = inv("gen.typescript", "--output", str(tmp_path / "ts"), "--no-validate", env={"COLUMNS": "200"})
    assert proc.returncode == 0, proc.stderr
    for column in ("language", "models", "endpoints", "services", "files", "size", "time"):
        assert column in proc.stdout
    assert "typescript" in proc.stdout and "generated" in proc.stdout


def test_bad_spec_exits_3_naming_the_pointer(tmp_path: Path) -> None:
    doc = yaml.safe_load(CLIKD_SPEC.read_text())
    doc["components"]["schemas"]["Drop"]["properties"]["media"] = {"$ref": "#/components/schemas/Nope"}
    spec = tmp_path / "bad.yaml"
    spec.write_text(yaml.safe_dump(doc))
    proc = inv("gen.all", "--spec", str(spec), "--output", str(tmp_path / "out"), "--json")
    assert proc.returncode == 3, proc.stderr
    error = json.loads(proc.stdout)
    assert error["exit_code"] == 3
    assert error["message"].endswith(f"(at {spec}#/components/schemas/Drop/properties/media/$ref)")
    assert "nothing was written" in error["hint"]
    assert not (tmp_path / "out").exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def live_api(tmp_path: Path) -> Iterator[str]:
    """The test bed's reference service, run from the checkout, serving the Clikd document as JSON."""
    spec = tmp_path / "openapi.json"
    spec.write_text(json.dumps(yaml.safe_load(CLIKD_SPEC.read_text())))
    port = _free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "CLIKD_REF_OPENAPI": str(spec),
        "CLIKD_REF_LOG_RATE": "0",
        "CLIKD_SERVICE": "api",
    }
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "tests" / "infra" / "refservice" / "refservice.py")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/api/openapi.json"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_spec_live_fetches_the_running_api(live_api: str, tmp_path: Path) -> None:
    env = {"CLIKD_CODEGEN__OPENAPI_ENDPOINT": live_api}
    live = inv("gen.typescript", "--spec", "live", "--output", str(tmp_path / "live"), "--json", env=env)
    assert live.returncode == 0, live.stderr
    assert json.loads(live.stdout)["spec"] == live_api
    local = inv("gen.typescript", "--output", str(tmp_path / "file"), "--json")
    assert local.returncode == 0, local.stderr
    # the same API from JSON over HTTP and from the YAML file: the same client, the same input hash
    live_files = {
        p.relative_to(tmp_path / "live"): p.read_bytes()
        for p in (tmp_path / "live").rglob("*")
        if p.is_file()
    }
    file_files = {
        p.relative_to(tmp_path / "file"): p.read_bytes()
        for p in (tmp_path / "file").rglob("*")
        if p.is_file()
    }
    assert live_files == file_files
    by_url = inv("gen.typescript", "--spec", live_api, "--output", str(tmp_path / "file"), "--check", env=env)
    assert by_url.returncode == 0, by_url.stderr


def test_spec_live_when_the_service_is_down(tmp_path: Path) -> None:
    env = {
        "CLIKD_CODEGEN__OPENAPI_ENDPOINT": f"http://127.0.0.1:{_free_port()}/api/openapi.json",
        "CLIKD_CODEGEN__TIMEOUT": "2",
    }
    proc = inv("gen.all", "--spec", "live", "--output", str(tmp_path / "out"), "--json", env=env)
    assert proc.returncode == 5, proc.stderr
    error = json.loads(proc.stdout)
    assert "could not fetch the OpenAPI document" in error["message"]
    assert "inv env.start" in error["hint"]
    assert not (tmp_path / "out").exists()


def test_unknown_language_is_a_usage_error(tmp_path: Path) -> None:
    proc = inv("gen.all", "--only", "swift,cobol", "--output", str(tmp_path), "--json")
    assert proc.returncode == 2
    assert "cobol" in json.loads(proc.stdout)["message"]


def test_list_shows_the_gen_tasks_quickly() -> None:
    started = time.monotonic()
    proc = inv("--list")
    assert proc.returncode == 0
    for name in ("gen.all", "gen.swift", "gen.kotlin", "gen.typescript", "gen.python"):
        assert name in proc.stdout
    # heavy imports (jinja2, the validator, openapi-python-client, the model builder) are not paid by --list
    heavy = "('jinja2', 'openapi_spec_validator', 'openapi_python_client', 'tasks.core.codegen.build')"
    code = f"import sys, tasks.gen; print(sorted(m for m in {heavy} if m in sys.modules))"
    probe = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert probe.stdout.strip() == "[]"
    assert time.monotonic() - started < 60
