"""One deploy at a time per environment: a coordination.k8s.io/v1 Lease that expires.

The Lease ``clikd-deploy`` in the environment's namespace names its holder and is renewed by a
background thread while the deploy runs. A run that dies stops renewing, so after ``lease_ttl``
seconds the next deploy takes the lock over (and says whose it was) instead of being wedged, the
most reported Helm failure. A holder on this very machine whose process is gone (a killed CLI; the
identity names host and pid) is taken over at once, so ``deploy.production --resume`` right after a
kill does not wait out the lease. A live holder is refused with CONFLICT. Taking over and renewing use the
Lease's resourceVersion, so two runs racing for an expired lock cannot both win.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import socket
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from tasks.core.deploy.kube import ApiError, Kube, Obj
from tasks.core.deploy.releases import who
from tasks.core.errors import Conflict

LEASE = "clikd-deploy"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _stamp(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


_IDENTITY = re.compile(r"^\S+@(?P<host>\S+) pid (?P<pid>\d+) ")


def _gone_here(holder: str | None) -> int | None:
    """The pid of ``holder`` when it ran on this machine and that process no longer runs."""
    found = _IDENTITY.match(holder or "")
    if found is None or found["host"] != socket.gethostname():
        return None
    pid = int(found["pid"])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return pid
    except PermissionError:
        return None  # someone else's live process
    try:  # a zombie (killed, not yet reaped) is gone too
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
        return pid if stat.rpartition(")")[2].split()[0] == "Z" else None
    except OSError:
        return None


@dataclass(frozen=True)
class LeaseInfo:
    holder: str | None
    renewed: dt.datetime | None
    ttl: int
    expired: bool

    @property
    def expires(self) -> dt.datetime | None:
        return self.renewed + dt.timedelta(seconds=self.ttl) if self.renewed else None


def read(kube: Kube, namespace: str) -> LeaseInfo | None:
    lease = kube.get("Lease", LEASE, namespace)
    return None if lease is None else _info(lease)


def _info(lease: Obj) -> LeaseInfo:
    spec = lease.get("spec", {})
    holder = spec.get("holderIdentity") or None
    renewed = _parse(spec.get("renewTime")) or _parse(spec.get("acquireTime"))
    ttl = int(spec.get("leaseDurationSeconds") or 0)
    expired = holder is None or renewed is None or renewed + dt.timedelta(seconds=ttl) <= _now()
    return LeaseInfo(holder, renewed, ttl, expired)


class DeployLock:
    """``with DeployLock(kube, ns, ttl) as lock:``; ``lock.took_over`` names an expired holder."""

    def __init__(self, kube: Kube, namespace: str, ttl: float, *, purpose: str = "deploy") -> None:
        self.kube = kube
        self.namespace = namespace
        self.ttl = max(int(ttl), 5)
        self.identity = f"{who()} pid {os.getpid()} {purpose} {uuid.uuid4().hex[:8]}"
        self.took_over: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._version: str | None = None
        self.lost: str | None = None

    def _spec(self, acquire: dt.datetime) -> Obj:
        return {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": self.ttl,
            "acquireTime": _stamp(acquire),
            "renewTime": _stamp(_now()),
        }

    def acquire(self) -> None:
        lease = self.kube.get("Lease", LEASE, self.namespace)
        if lease is None:
            body: Obj = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {
                    "name": LEASE,
                    "namespace": self.namespace,
                    "labels": {"app.kubernetes.io/managed-by": "clikd"},
                },
                "spec": self._spec(_now()),
            }
            try:
                created = self.kube.create(body)
            except ApiError as exc:
                if exc.status == 409:  # someone created it first: look again
                    return self.acquire()
                raise
            self._version = created["metadata"]["resourceVersion"]
        else:
            info = _info(lease)
            gone = None if info.expired else _gone_here(info.holder)
            if not info.expired and gone is None:
                left = (info.expires - _now()).total_seconds() if info.expires else 0
                raise Conflict(
                    f"another deploy to {self.namespace} holds the lock: {info.holder}",
                    hint=(
                        f"wait for it to finish; if that run is dead its lock expires in {left:.0f}s "
                        f"(renewed {info.renewed:%H:%M:%S} UTC, lease {info.ttl}s) "
                        "and the next deploy takes it over"
                    ),
                )
            if info.holder and gone is not None:
                self.took_over = f"{info.holder} (its process {gone} on this machine is gone)"
            elif info.holder:
                self.took_over = f"{info.holder} (expired {info.expires:%H:%M:%S} UTC)"
            lease["spec"] = self._spec(_now())
            try:
                updated = self.kube.replace(lease)
            except ApiError as exc:
                if exc.status == 409:
                    raise Conflict(
                        f"another deploy to {self.namespace} took the lock at the same moment",
                        hint="run again in a moment",
                    ) from None
                raise
            self._version = updated["metadata"]["resourceVersion"]
        self._thread = threading.Thread(target=self._renew, name="clikd-deploy-lock", daemon=True)
        self._thread.start()
        return None

    def _renew(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            try:
                lease = self.kube.get("Lease", LEASE, self.namespace)
                if lease is None or lease.get("spec", {}).get("holderIdentity") != self.identity:
                    self.lost = "the lock was taken by someone else"
                    return
                lease["spec"]["renewTime"] = _stamp(_now())
                self._version = self.kube.replace(lease)["metadata"]["resourceVersion"]
            except Exception as exc:
                self.lost = f"renewing the lock failed: {exc}"

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        try:
            lease = self.kube.get("Lease", LEASE, self.namespace)
            if lease is not None and lease.get("spec", {}).get("holderIdentity") == self.identity:
                lease["spec"] = {"leaseDurationSeconds": self.ttl}
                self.kube.replace(lease)
        except Exception:  # noqa: S110  (an unreleased lock expires by itself)
            pass

    def __enter__(self) -> DeployLock:
        self.acquire()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
