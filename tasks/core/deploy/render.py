"""Manifests: k8s/templates rendered for one environment, branch, commit and set of images.

Templates are Jinja2 YAML (values go in through ``tojson``, so no value can break the YAML);
k8s/environments.toml says where each environment runs and how. Every rendered object carries
the labels clikd selects on: ``app.kubernetes.io/managed-by=clikd`` and ``dev.clikd/environment``.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tasks.core.config.schema import Settings
from tasks.core.deploy.model import ReleaseInput, Strategy, Target
from tasks.core.errors import ConfigError, UsageError
from tasks.core.remote.environments import namespace as environment_namespace

Obj = dict[str, Any]
ENVIRONMENTS = ("staging", "production", "preview")
MANAGED = {"app.kubernetes.io/managed-by": "clikd", "app.kubernetes.io/part-of": "clikd"}
_PLACEHOLDER = re.compile(r"\$\{([a-z_]+)\}")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


@dataclass(frozen=True)
class Layout:
    """The k8s/ folder of the project."""

    root: Path

    @property
    def templates(self) -> Path:
        return self.root / "k8s" / "templates"

    @property
    def environments_file(self) -> Path:
        return self.root / "k8s" / "environments.toml"

    def environments(self) -> dict[str, Any]:
        path = self.environments_file
        if not path.is_file():
            raise ConfigError(f"{path} is missing", hint="the deploy tasks read environments from k8s/")
        with path.open("rb") as f:
            return tomllib.load(f)


def target_for(
    settings: Settings, layout: Layout, environment: str, *, namespace: str | None = None
) -> Target:
    """The Target of ``environment`` (staging, production or preview) from clikd.toml and k8s/."""
    if environment not in ENVIRONMENTS:
        raise UsageError(f"unknown environment {environment!r}", hint=f"one of {', '.join(ENVIRONMENTS)}")
    envs = layout.environments()
    values = envs.get(environment, {})
    deployment = settings.deployment
    ns = namespace or environment_namespace(settings, environment)
    strategy: Strategy = values.get("strategy", "rolling")
    if strategy not in ("rolling", "blue-green"):
        raise ConfigError(
            f"{layout.environments_file}: [{environment}] strategy = {strategy!r}",
            hint="use 'rolling' or 'blue-green'",
        )
    return Target(
        environment=environment,
        namespace=ns,
        strategy=strategy,
        replicas=int(values.get("replicas", deployment.replicas)),
        host=str(values.get("host", "clikd.local")).format(namespace=ns, environment=environment),
        progress_deadline=int(deployment.progress_deadline),
        migrations=values.get("migrations"),
        ttl_hours=values.get("ttl_hours"),
    )


def release_input(settings: Settings, *, branch: str, commit: str, tag: str | None) -> ReleaseInput:
    """Images for every enabled service: the configured repository with ``tag`` (default: the commit)."""
    chosen = tag or (commit[:12] if commit else "")
    if not chosen or not _TAG.match(chosen):
        raise UsageError(f"{chosen!r} is not a valid image tag", hint="pass --tag TAG ([A-Za-z0-9_.-], ≤128)")
    images = {name: f"{repository(svc.image)}:{chosen}" for name, svc in services(settings).items()}
    return ReleaseInput(branch=branch, commit=commit, tag=chosen, images=images)


def repository(image: str) -> str:
    """``ghcr.io/clikd-org/api:latest`` -> ``ghcr.io/clikd-org/api`` (a registry port is kept)."""
    name = image.split("@", 1)[0]
    head, _, last = name.rpartition("/")
    if ":" in last:
        last = last.split(":", 1)[0]
    return f"{head}/{last}" if head else last


def services(settings: Settings) -> dict[str, Any]:
    return {name: svc for name, svc in settings.services.items() if svc.enabled}


class Renderer:
    """Renders the templates for one target and release."""

    def __init__(self, settings: Settings, layout: Layout, target: Target, release: ReleaseInput) -> None:
        import jinja2

        self.settings = settings
        self.layout = layout
        self.target = target
        self.release = release
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(layout.templates)),
            undefined=jinja2.StrictUndefined,
            autoescape=False,  # noqa: S701  (YAML, not HTML; values go in through tojson)
            keep_trailing_newline=True,
        )
        self.env.policies["json.dumps_kwargs"] = {"sort_keys": True}
        self.endpoints = {
            key: str(value).format(
                environment=target.environment, namespace=target.namespace, branch_ident=target.namespace
            )
            for key, value in layout.environments().get("endpoints", {}).items()
        }

    # ------------------------------------------------------------------ helpers
    def _one(self, template: str, **context: Any) -> Obj:
        import jinja2
        import yaml

        try:
            text = self.env.get_template(template).render(target=self.target, release=self.release, **context)
        except jinja2.TemplateError as exc:
            raise ConfigError(f"k8s/templates/{template}: {exc}") from None
        docs = [d for d in yaml.safe_load_all(text) if d]
        if len(docs) != 1 or not isinstance(docs[0], dict):
            raise ConfigError(f"k8s/templates/{template} must render exactly one object")
        obj: Obj = docs[0]
        return obj

    def labels(self, service: str | None = None, slot: str | None = None, **extra: str) -> dict[str, str]:
        labels = dict(MANAGED)
        labels["dev.clikd/environment"] = self.target.environment
        if service:
            labels["app.kubernetes.io/name"] = service
        if slot:
            labels["dev.clikd/slot"] = slot
        labels.update(extra)
        return labels

    def service_context(self, name: str) -> dict[str, Any]:
        svc = self.settings.services[name]
        values = {
            **self.endpoints,
            "branch": self.release.branch,
            "service": name,
        }

        def fill(text: str) -> str:
            return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)

        environment = {k: fill(v) for k, v in svc.environment.items()}
        environment.update(
            {
                "CLIKD_ENVIRONMENT": self.target.environment,
                "CLIKD_COMMIT": self.release.commit,
                "CLIKD_BRANCH": self.release.branch,
            }
        )
        health = svc.health
        health_port = health.port if health.port in svc.ports else next(iter(svc.ports), "http")
        return {
            "name": name,
            "image": self.release.images[name],
            "ports": dict(svc.ports),
            "environment": environment,
            "health_path": health.path if health.kind == "http" else "",
            "health_port": health_port,
        }

    # ------------------------------------------------------------------ objects
    def namespace(self, *, expires: dt.datetime | None = None) -> Obj:
        labels = self.labels()
        annotations = {"dev.clikd/branch": self.release.branch}
        if expires is not None:
            labels["dev.clikd/preview"] = "true"
            labels["dev.clikd/expires-at"] = str(int(expires.timestamp()))
            annotations["dev.clikd/expires"] = expires.isoformat()
        return self._one("namespace.yaml.j2", namespace_labels=labels, namespace_annotations=annotations)

    def workload(self, slot: str | None = None) -> list[Obj]:
        """ConfigMaps and Deployments of every service (of one slot in blue/green)."""
        objects: list[Obj] = []
        for name in services(self.settings):
            svc = self.service_context(name)
            suffix = f"-{slot}" if slot else ""
            names = {"config": f"{name}-config{suffix}", "deployment": f"{name}{suffix}"}
            labels = self.labels(name, slot)
            selector = {"app.kubernetes.io/name": name, **({"dev.clikd/slot": slot} if slot else {})}
            objects.append(self._one("configmap.yaml.j2", names=names, labels=labels, service=svc))
            objects.append(
                self._one("deployment.yaml.j2", names=names, labels=labels, service=svc, selector=selector)
            )
        return objects

    def service_objects(self, *, slot: str | None, preview: bool) -> list[Obj]:
        """Rolling: each service's Service. Blue/green: the public Services pointing at ``slot``
        (preview=False), or ``slot``'s preview Services (preview=True)."""
        objects: list[Obj] = []
        for name in services(self.settings):
            svc = self.service_context(name)
            selector = {"app.kubernetes.io/name": name, **({"dev.clikd/slot": slot} if slot else {})}
            if preview:
                names = {"service": f"{name}-{slot}-preview"}
                labels = self.labels(name, slot, **{"dev.clikd/role": "preview"})
                annotations: dict[str, str] = {}
            else:
                names = {"service": name}
                labels = self.labels(name, None, **{"dev.clikd/role": "public"})
                annotations = {"dev.clikd/active-slot": slot} if slot else {}
            objects.append(
                self._one(
                    "service.yaml.j2",
                    names=names,
                    labels=labels,
                    service=svc,
                    selector=selector,
                    service_annotations=annotations,
                )
            )
        return objects

    def ingress(self) -> Obj:
        routes = []
        for name in services(self.settings):
            svc = self.service_context(name)
            path = "/" if name == "studio" else f"/{name}"
            routes.append({"path": path, "service": name, "port": svc["health_port"]})
        routes.sort(key=lambda r: (-len(r["path"]), r["path"]))
        return self._one("ingress.yaml.j2", labels=self.labels(), routes=routes)

    def migrations_job(self, revision: int, slot: str | None, phase: str = "expand") -> Obj | None:
        """The migrations Job of ``phase``: ``expand`` before a switch, ``contract`` after it.

        The runner is told the phase by ``--phase <phase>`` after the configured command.
        """
        spec = self.target.migrations
        if not spec:
            return None
        service = str(spec.get("service", "api"))
        if service not in services(self.settings):
            raise ConfigError(f"k8s/environments.toml: migrations.service {service!r} is not a service")
        suffix = f"-{slot}" if slot else ""
        job = f"migrate-r{revision}" if phase == "expand" else f"migrate-r{revision}-{phase}"
        names = {"job": job, "config": f"{service}-config{suffix}"}
        return self._one(
            "migrations-job.yaml.j2",
            names=names,
            labels=self.labels(service, None, **{"dev.clikd/role": "migrations", "dev.clikd/phase": phase}),
            image=self.release.images[service],
            command=[*spec.get("command", ["clikd-migrate"]), "--phase", phase],
            service=service,
        )
