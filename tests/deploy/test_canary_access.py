"""The canary analysis's Prometheus reached through the environment's SSH bastion (the test bed's real
OpenSSH, tests/infra/sshd), as the databases are: one forwarded port for the length of the shift."""

from __future__ import annotations

import json
import subprocess

import pytest

from tasks.core.config.loader import load
from tasks.core.deploy.canary.access import prometheus
from tests.deploy.conftest import REPO

# One xdist worker runs the tests of the test bed's single sshd bastion (see tests/remote/test_bastion.py).
pytestmark = [pytest.mark.testbed, pytest.mark.xdist_group("sshd")]


def test_prometheus_is_reached_through_the_environments_bastion(facts: dict[str, str]) -> None:
    ssh_facts = REPO / "tests" / "infra" / "sshd" / "facts.json"
    done = subprocess.run(
        [str(REPO / "tests" / "infra" / "sshd" / "up")], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    ssh = json.loads(ssh_facts.read_text(encoding="utf-8"))
    settings = load(
        REPO,
        env={},
        overrides={
            "deployment": {"prometheus_url": facts["url"]},
            "environments": {
                "production": {
                    "bastion": f"{ssh['user']}@{ssh['host']}:{ssh['port']}",
                    "identity_file": ssh["key"],
                    "known_hosts": ssh["known_hosts"],
                }
            },
        },
    ).settings
    said: list[str] = []
    with prometheus(settings, "production", note=said.append) as client:
        assert client.host == "127.0.0.1" and client.port != int(facts["url"].rsplit(":", 1)[1])
        assert [s.value for s in client.query("vector(1)").samples] == [1.0]
    assert said and "through clikd-bastion@" in said[0]
