"""The Prometheus a shift analyses against: directly, or through the environment's SSH bastion.

A Prometheus that answers only inside the cluster's network is reached like the databases: when
[environments.NAME] names a bastion, one local port is forwarded to the host and port of
``[deployment] prometheus_url`` for the length of the shift, and the client sends the original Host.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from tasks.core.config.schema import Settings
from tasks.core.deploy.canary.prometheus import Prometheus, remote_address
from tasks.core.errors import ConfigError

TIMEOUT = 5.0  # seconds per query: a shift decides within seconds, it cannot wait on one answer


@contextmanager
def prometheus(settings: Settings, environment: str, *, note: object = None) -> Iterator[Prometheus]:
    """A client of ``[deployment] prometheus_url`` as this machine reaches it, for a ``with`` block."""
    url = settings.deployment.prometheus_url
    if not url:
        raise ConfigError(
            "the canary analysis needs [deployment] prometheus_url",
            hint='e.g. prometheus_url = "http://prometheus.monitoring:9090"',
        )
    client = Prometheus(url, timeout=TIMEOUT)
    env = settings.environments.get(environment)
    if env is None or not env.bastion:
        yield client
        return
    from tasks.core.remote.tunnel import forwards, parse_bastion

    bastion = parse_bastion(env.bastion, environment)
    if callable(note):
        note(f"reaching Prometheus ({url}) through {bastion}")
    with forwards(
        environment,
        bastion,
        {"prometheus": remote_address(url)},
        identity_file=env.identity_file,
        known_hosts=env.known_hosts,
        timeout=env.connect_timeout,
        what="the canary analysis",
    ) as tunnels:
        yield client.through(tunnels.ports["prometheus"])
