"""A thin, typed door to the Kubernetes API: raw JSON requests, server-side apply, errors as ClikdErrors.

The official client does the transport (kubeconfig, TLS, tokens); objects stay plain dicts, which is
what manifests are and what kubectl's rollout rules read. The client is imported here, never at
module import time of a task, so ``inv --list`` stays fast.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tasks.core.errors import ClikdError, Conflict, Unavailable

FIELD_MANAGER = "clikd"
Obj = dict[str, Any]

# kind -> (API path prefix, plural, namespaced). Everything clikd renders or reads.
KINDS: dict[str, tuple[str, str, bool]] = {
    "Namespace": ("/api/v1", "namespaces", False),
    "ConfigMap": ("/api/v1", "configmaps", True),
    "Service": ("/api/v1", "services", True),
    "Pod": ("/api/v1", "pods", True),
    "Event": ("/api/v1", "events", True),
    "Node": ("/api/v1", "nodes", False),
    "Deployment": ("/apis/apps/v1", "deployments", True),
    "ReplicaSet": ("/apis/apps/v1", "replicasets", True),
    "Job": ("/apis/batch/v1", "jobs", True),
    "Ingress": ("/apis/networking.k8s.io/v1", "ingresses", True),
    "Lease": ("/apis/coordination.k8s.io/v1", "leases", True),
    "HTTPRoute": ("/apis/gateway.networking.k8s.io/v1", "httproutes", True),
    "GRPCRoute": ("/apis/gateway.networking.k8s.io/v1", "grpcroutes", True),
}


class ApiError(ClikdError):
    """The API server answered with an error status."""

    title = "kubernetes api error"

    def __init__(self, status: int, reason: str, message: str, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.status = status
        self.reason = reason


def path_of(kind: str, namespace: str | None = None, name: str | None = None) -> str:
    """The REST path of a collection (no name) or an object."""
    if kind not in KINDS:
        raise ClikdError(f"clikd does not know the Kubernetes kind {kind!r}", hint="see KINDS in kube.py")
    prefix, plural, namespaced = KINDS[kind]
    path = prefix
    if namespaced:
        if not namespace:
            raise ClikdError(f"a {kind} needs a namespace")
        path += f"/namespaces/{quote(namespace)}"
    path += f"/{plural}"
    if name:
        path += f"/{quote(name, safe=':')}"
    return path


@dataclass(frozen=True)
class ClusterRef:
    """Which cluster: the kubeconfig file and context that were used."""

    kubeconfig: str
    context: str
    server: str


class Kube:
    """Requests against one cluster."""

    def __init__(self, api_client: Any, ref: ClusterRef) -> None:
        self.api = api_client
        self.ref = ref

    # ------------------------------------------------------------------ raw
    def request(
        self,
        method: str,
        path: str,
        *,
        query: list[tuple[str, Any]] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        timeout: float = 15.0,
        raw: bool = False,
    ) -> Any:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            verb, url, headers, payload, post = self.api.param_serialize(
                method,
                path,
                query_params=query or [],
                header_params={"Content-Type": content_type, "Accept": "application/json, */*"},
                body=body,
                auth_settings=["BearerToken"],
            )
            response = self.api.call_api(
                verb, url, header_params=headers, body=payload, post_params=post, _request_timeout=timeout
            )
            data = response.read()
        except ApiException as exc:
            raise _api_error(exc.status, exc.reason, exc.body, method, path) from None
        except (HTTPError, OSError) as exc:
            raise self._silent(exc) from None
        if not 200 <= response.status < 300:
            raise _api_error(response.status, response.reason, data, method, path)
        if raw:
            return data.decode("utf-8", "replace")
        return json.loads(data) if data else None

    def stream(
        self, path: str, *, query: list[tuple[str, Any]] | None = None, connect_timeout: float = 15.0
    ) -> Any:
        """GET ``path`` and hand back the open body (a urllib3 response) unread, for long-lived answers
        such as ``follow=true`` pod logs: iterate ``.stream()``, and ``.shutdown()``/``.release_conn()``
        it when done. Waits for data without a read timeout; errors as in :meth:`request`."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            verb, url, headers, payload, post = self.api.param_serialize(
                "GET",
                path,
                query_params=query or [],
                header_params={"Accept": "*/*"},
                auth_settings=["BearerToken"],
            )
            response = self.api.call_api(
                verb,
                url,
                header_params=headers,
                body=payload,
                post_params=post,
                _request_timeout=(connect_timeout, None),
            )
        except ApiException as exc:
            raise _api_error(exc.status, exc.reason, exc.body, "GET", path) from None
        except (HTTPError, OSError) as exc:
            raise self._silent(exc) from None
        if not 200 <= response.status < 300:
            raise _api_error(response.status, response.reason, response.read(), "GET", path)
        return response.response

    # ------------------------------------------------------------------ objects
    def _silent(self, exc: BaseException) -> Unavailable:
        return Unavailable(
            f"the Kubernetes API server at {self.ref.server} does not answer ({type(exc).__name__})",
            hint="check the cluster and [deployment] kubeconfig / kube_context; "
            "for the test control plane run tests/infra/k8s/up",
        )

    def get(self, kind: str, name: str, namespace: str | None = None) -> Obj | None:
        try:
            result: Obj = self.request("GET", path_of(kind, namespace, name))
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise
        return result

    def list(
        self, kind: str, namespace: str | None = None, *, labels: str = "", fields: str = ""
    ) -> list[Obj]:
        query: list[tuple[str, Any]] = []
        if labels:
            query.append(("labelSelector", labels))
        if fields:
            query.append(("fieldSelector", fields))
        items: list[Obj] = self.request("GET", path_of(kind, namespace), query=query).get("items", [])
        for item in items:  # list items carry no kind; put it back so they can be re-applied
            item.setdefault("kind", kind)
        return items

    def create(self, obj: Obj) -> Obj:
        meta = obj["metadata"]
        result: Obj = self.request("POST", path_of(obj["kind"], meta.get("namespace")), body=obj)
        return result

    def replace(self, obj: Obj) -> Obj:
        meta = obj["metadata"]
        result: Obj = self.request("PUT", path_of(obj["kind"], meta.get("namespace"), meta["name"]), body=obj)
        return result

    def delete(self, kind: str, name: str, namespace: str | None = None) -> bool:
        try:
            self.request(
                "DELETE",
                path_of(kind, namespace, name),
                body={"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"},
            )
        except ApiError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def patch(self, kind: str, name: str, namespace: str | None, body: Obj) -> Obj:
        """A JSON merge patch (for small runtime changes: replicas, annotations), as field manager clikd."""
        result: Obj = self.request(
            "PATCH",
            path_of(kind, namespace, name),
            query=[("fieldManager", FIELD_MANAGER)],
            body=body,
            content_type="application/merge-patch+json",
        )
        return result

    def apply(self, obj: Obj, *, dry_run: bool = False) -> Obj:
        """Server-side apply as field manager ``clikd``; Strict field validation rejects unknown fields."""
        meta = obj["metadata"]
        query: list[tuple[str, Any]] = [
            ("fieldManager", FIELD_MANAGER),
            ("force", "true"),
            ("fieldValidation", "Strict"),
        ]
        if dry_run:
            query.append(("dryRun", "All"))
        try:
            result: Obj = self.request(
                "PATCH",
                path_of(obj["kind"], meta.get("namespace"), meta["name"]),
                query=query,
                body=obj,
                content_type="application/apply-patch+yaml",
            )
        except ApiError as exc:
            where = f"{obj['kind']}/{meta['name']}"
            raise ApiError(exc.status, exc.reason, f"{where}: {exc.message}", exc.hint) from None
        return result

    def service_proxy(self, namespace: str, service: str, port: str, path: str, timeout: float = 10.0) -> str:
        """GET through the API server's service proxy; raises ApiError with the backend's status."""
        target = f"/api/v1/namespaces/{quote(namespace)}/services/{quote(service)}:{quote(port)}/proxy/"
        text: str = self.request("GET", target + path.lstrip("/"), timeout=timeout, raw=True)
        return text


def _api_error(status: Any, reason: Any, body: Any, method: str, path: str) -> ApiError:
    status = int(status or 0)
    reason = str(reason or "")
    message = f"{method} {path}: {status} {reason}"
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if body:
        try:
            doc = json.loads(body)
            message = str(doc.get("message") or message)
            reason = str(doc.get("reason") or reason)
        except (ValueError, AttributeError):
            message = f"{message}: {str(body)[:300]}"
    if status in (401, 403):
        return ApiError(status, reason, message, hint="check the credentials in your kubeconfig")
    if status == 409 and reason == "Conflict":
        error = ApiError(status, reason, message, hint="someone changed it meanwhile; run again")
        error.exit_code = Conflict.exit_code
        return error
    return ApiError(status, reason, message)


def connect(kubeconfig: str | None = None, context: str | None = None) -> Kube:
    """A client for the cluster named by ``[deployment] kubeconfig``/``kube_context`` (or KUBECONFIG)."""
    from kubernetes import config as kconfig
    from kubernetes.config.config_exception import ConfigException

    path = (
        kubeconfig
        or os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
        or str(Path.home() / ".kube/config")
    )
    path = str(Path(path).expanduser())
    if not Path(path).is_file():
        raise Unavailable(
            f"no kubeconfig at {path}",
            hint="set KUBECONFIG, [deployment] kubeconfig or [environments.NAME] kubeconfig; "
            "for the test control plane run tests/infra/k8s/up",
        )
    try:
        contexts, current = kconfig.list_kube_config_contexts(config_file=path)  # type: ignore[no-untyped-call]
        chosen = context or (current or {}).get("name", "")
        client = kconfig.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=path, context=chosen or None
        )
    except ConfigException as exc:
        names = ", ".join(c["name"] for c in contexts) if "contexts" in locals() and contexts else "none"
        raise Unavailable(
            f"cannot use kubeconfig {path} (context {context or 'current'}): {exc}",
            hint=f"contexts there: {names}; set [deployment] kube_context "
            "(or [environments.NAME] kube_context)",
        ) from None
    client.configuration.retries = 1
    return Kube(client, ClusterRef(path, chosen, str(client.configuration.host)))
