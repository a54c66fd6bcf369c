"""The release history, kept in the cluster: one ConfigMap per revision (like Helm's release Secrets).

ConfigMap ``clikd-release-v<N>`` in the environment's namespace, labelled ``dev.clikd.release=true``
and ``dev.clikd/revision=<N>``; ``release.json`` holds the record and ``manifests.json`` the rendered
objects, which is what a rollback re-applies. The newest ``history_limit`` revisions are kept.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
import socket
from dataclasses import asdict
from typing import Any

from tasks.core.deploy.kube import Kube, Obj
from tasks.core.deploy.model import Check, CheckState, Release

LABEL = "dev.clikd.release"


def who() -> str:
    user = os.environ.get("CLIKD_DEPLOY_USER") or os.environ.get("GITHUB_ACTOR")
    if not user:
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = "unknown"
    return f"{user}@{socket.gethostname()}"


def _name(revision: int) -> str:
    return f"clikd-release-v{revision}"


def history(kube: Kube, namespace: str) -> list[Release]:
    """Every recorded release, newest first."""
    if kube.get("Namespace", namespace) is None:
        return []
    releases = [from_configmap(cm) for cm in kube.list("ConfigMap", namespace, labels=f"{LABEL}=true")]
    return sorted(releases, key=lambda r: r.revision, reverse=True)


def manifests(kube: Kube, namespace: str, revision: int) -> list[Obj] | None:
    cm = kube.get("ConfigMap", _name(revision), namespace)
    if cm is None:
        return None
    objects: list[Obj] = json.loads(cm.get("data", {}).get("manifests.json", "[]"))
    return objects


def next_revision(kube: Kube, namespace: str) -> int:
    past = history(kube, namespace)
    return (past[0].revision + 1) if past else 1


def record(kube: Kube, release: Release, objects: list[Obj], *, keep: int) -> None:
    """Write ``release``; mark the previously deployed one superseded; prune beyond ``keep``."""
    past = history(kube, release.namespace)
    if release.status == "deployed":
        for old in past:
            if old.status == "deployed" and old.revision != release.revision:
                old.status = "superseded"
                _write(kube, old, None)
    _write(kube, release, objects)
    for old in past[keep - 1 :]:
        if old.revision != release.revision:
            kube.delete("ConfigMap", _name(old.revision), release.namespace)


def set_status(kube: Kube, release: Release, status: str) -> None:
    release.status = status
    _write(kube, release, None)


def save(kube: Kube, release: Release) -> None:
    """Write ``release`` as it is now, keeping its recorded manifests (a shift's progress)."""
    _write(kube, release, None)


def _write(kube: Kube, release: Release, objects: list[Obj] | None) -> None:
    data = {"release.json": json.dumps(to_dict(release), indent=1, sort_keys=True)}
    if objects is not None:
        data["manifests.json"] = json.dumps(objects, sort_keys=True)
    else:
        existing = kube.get("ConfigMap", _name(release.revision), release.namespace)
        if existing and "manifests.json" in existing.get("data", {}):
            data["manifests.json"] = existing["data"]["manifests.json"]
    kube.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": _name(release.revision),
                "namespace": release.namespace,
                "labels": {
                    LABEL: "true",
                    "dev.clikd/revision": str(release.revision),
                    "dev.clikd/environment": release.environment,
                    "dev.clikd/status": release.status,
                    "app.kubernetes.io/managed-by": "clikd",
                },
            },
            "data": data,
        }
    )


def to_dict(release: Release) -> dict[str, Any]:
    doc = asdict(release)
    doc["time"] = release.time.isoformat()
    doc["checks"] = [{**asdict(c), "state": c.state.value} for c in release.checks]
    return doc


def from_configmap(cm: Obj) -> Release:
    doc = json.loads(cm.get("data", {}).get("release.json", "{}"))
    checks = [
        Check(
            c["name"],
            CheckState(c["state"]),
            c["detail"],
            c.get("hint"),
            checked=c.get("checked", ""),
            seconds=float(c.get("seconds", 0.0)),
        )
        for c in doc.get("checks", [])
    ]
    return Release(
        revision=int(doc["revision"]),
        environment=doc["environment"],
        namespace=doc["namespace"],
        status=doc.get("status", "deployed"),
        images=dict(doc.get("images", {})),
        commit=doc.get("commit", ""),
        branch=doc.get("branch", ""),
        tag=doc.get("tag", ""),
        user=doc.get("user", ""),
        time=dt.datetime.fromisoformat(doc["time"]),
        strategy=doc.get("strategy", "rolling"),
        slot=doc.get("slot"),
        checks=checks,
        forced=bool(doc.get("forced", False)),
        note=doc.get("note", ""),
        rollback_of=doc.get("rollback_of"),
        contract=doc.get("contract"),
        built=dict(doc.get("built", {})),
        tests=str(doc.get("tests", "")),
        shift=doc.get("shift"),
    )
