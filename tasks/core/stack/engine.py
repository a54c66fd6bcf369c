"""The Docker engine: one client per run, clear errors when it does not answer, label queries."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any, cast

from tasks.core.errors import Unavailable
from tasks.core.stack.model import LABEL_BRANCH, LABEL_PROJECT

if TYPE_CHECKING:
    import docker


def stream_error(event: dict[str, Any]) -> str | None:
    """The error of one event of the engine's JSON progress stream (pull, build, push), if it is one."""
    detail = event.get("errorDetail")
    if isinstance(detail, dict) and detail.get("message"):
        return str(detail["message"])
    if event.get("error"):
        return str(event["error"])
    return None


def _where() -> str:
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def import_docker() -> None:
    """Import docker-py without paramiko (a third of its import time) unless DOCKER_HOST is ssh://.

    docker-py imports its SSH transport eagerly but tolerates its absence; paramiko stays importable
    for everything else (fabric) because the block is lifted right after.
    """
    if "docker" in sys.modules or "paramiko" in sys.modules or _where().startswith("ssh://"):
        import docker

        return
    sys.modules["paramiko"] = None  # type: ignore[assignment]
    try:
        import docker  # noqa: F401
    finally:
        del sys.modules["paramiko"]


def connect(timeout: int = 60) -> docker.DockerClient:
    """A client for the engine, or Unavailable naming the socket and the fix.

    A local engine gets :class:`~tasks.core.stack.engine_api.Engine`, which answers the everyday
    read calls itself and hands every other call to docker-py, imported on first use.
    """
    from tasks.core.stack import engine_api

    path = engine_api.socket_path()
    if path is None:
        return _docker_client(timeout)
    engine = engine_api.Engine(path, timeout, lambda: _docker_client(timeout))
    try:
        engine.api.ping()
    except PermissionError:
        raise _permission_denied(_where()) from None
    except FileNotFoundError:
        raise _not_running(_where()) from None
    except OSError as exc:
        raise Unavailable(
            f"the Docker engine at {_where()} does not answer: {exc}",
            hint="start the engine (sudo systemctl start docker) and retry",
        ) from None
    except Exception as exc:  # an HTTP error answer: docker-py's APIError
        raise Unavailable(
            f"the Docker engine at {_where()} does not answer: {_short(str(exc))}",
            hint="start the engine (sudo systemctl start docker, or open Docker Desktop) and retry",
        ) from None
    # Typed as docker-py's client: Engine answers the same calls with the same results and errors.
    return cast("docker.DockerClient", engine)


def versions(client: docker.DockerClient) -> tuple[str, str]:
    """(engine version, API version): from the ping ``connect`` made when it said them, else /version."""
    from tasks.core.stack.engine_api import EngineAPI

    api = client.api
    if isinstance(api, EngineAPI) and api.pinged is not None:
        return api.pinged
    found = api.version()
    return str(found.get("Version", "?")), str(found.get("ApiVersion", "?"))


def _permission_denied(where: str) -> Unavailable:
    return Unavailable(
        f"permission denied on the Docker socket ({where})",
        hint="add yourself to the docker group (sudo usermod -aG docker $USER, then log in "
        "again) or run with sudo",
    )


def _not_running(where: str) -> Unavailable:
    return Unavailable(
        f"Docker is not running: the socket {where} does not exist",
        hint="start the engine (sudo systemctl start docker, or open Docker Desktop); "
        "set DOCKER_HOST if it listens elsewhere",
    )


def _docker_client(timeout: int) -> docker.DockerClient:
    """docker-py's client, checked with a ping; Unavailable when the engine does not answer."""
    import_docker()
    import docker
    from docker.errors import DockerException

    where = _where()
    try:
        client = docker.from_env(timeout=timeout, max_pool_size=32, use_ssh_client=False)
        client.api.ping()
    except DockerException as exc:
        text = str(exc)
        if "Permission denied" in text or "PermissionError" in text:
            raise _permission_denied(where) from None
        if "FileNotFoundError" in text or "No such file" in text:
            raise _not_running(where) from None
        raise Unavailable(
            f"the Docker engine at {where} does not answer: {_short(text)}",
            hint="start the engine (sudo systemctl start docker, or open Docker Desktop) and retry",
        ) from None
    except OSError as exc:
        raise Unavailable(
            f"the Docker engine at {where} does not answer: {exc}",
            hint="start the engine (sudo systemctl start docker) and retry",
        ) from None
    return client


def _short(text: str) -> str:
    return text if len(text) < 240 else text[:240] + "…"


def label_filters(project: str, branch: str | None = None) -> dict[str, Any]:
    labels = [f"{LABEL_PROJECT}={project}"]
    if branch is not None:
        labels.append(f"{LABEL_BRANCH}={branch}")
    return {"label": labels}


def branch_containers(client: docker.DockerClient, project: str, branch: str | None) -> list[dict[str, Any]]:
    """Summaries (as the list endpoint gives them: Names, State, Labels, Image, ImageID, Ports)."""
    found: list[dict[str, Any]] = client.api.containers(all=True, filters=label_filters(project, branch))
    return found


def of_branch(summaries: list[dict[str, Any]], project: str, branch: str | None) -> list[dict[str, Any]]:
    """The summaries ``branch_containers`` would list, picked from a list of every container."""
    return [
        s
        for s in summaries
        if (labels := s.get("Labels") or {}).get(LABEL_PROJECT) == project
        and (branch is None or labels.get(LABEL_BRANCH) == branch)
    ]


def container_name(summary: dict[str, Any]) -> str:
    names = summary.get("Names") or [""]
    return str(names[0]).lstrip("/")


def own_bindings(client: docker.DockerClient, containers: list[str]) -> dict[int, str]:
    """host port -> container, from the port bindings these containers were created with (any state)."""
    from docker.errors import NotFound

    bound: dict[int, str] = {}
    for name in containers:
        try:
            info = client.api.inspect_container(name)
        except NotFound:
            continue
        for binds in ((info.get("HostConfig") or {}).get("PortBindings") or {}).values():
            for bind in binds or []:
                if str(bind.get("HostPort") or "").isdigit():
                    bound[int(bind["HostPort"])] = name
    return bound
