"""Registry login: the token variable, then ``gh auth token``, then Docker's credential store.

Each source that has a credential is checked by the engine against the registry (``POST /auth``);
the first one accepted is used for every pull. A failure names each source tried and what the
registry answered. The secret itself is never returned in an error, a note or an event: every text
that leaves this module is scrubbed of it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tasks.core.config.schema import Registry
from tasks.core.errors import ClikdError, Unavailable

if TYPE_CHECKING:
    import docker

DEFAULT_USER = "token"  # GHCR accepts any user name with a personal access token


class RegistryLoginFailed(ClikdError):
    title = "registry login failed"


class RegistryUnreachable(Unavailable):
    title = "registry unreachable"


# What the engine says when no registry answers at the address (as opposed to one that refuses).
NO_ANSWER = (
    "connection refused",
    "no such host",
    "i/o timeout",
    "network is unreachable",
    "no route to host",
)


@dataclass
class Credentials:
    registry: str
    source: str  # which source was accepted, "" for anonymous
    auth_config: dict[str, str] | None
    tried: list[str] = field(default_factory=list)  # "source: outcome", secrets scrubbed


def _scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "****")
    return text


def _gh_token() -> tuple[str | None, str]:
    gh = shutil.which("gh")
    if gh is None:
        return None, "gh is not installed"
    try:
        done = subprocess.run([gh, "auth", "token"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"gh auth token failed to run ({type(exc).__name__})"
    token = done.stdout.strip()
    if done.returncode != 0 or not token:
        return None, "gh has no token (run gh auth login --scopes read:packages)"
    return token, ""


def docker_config_file() -> Path:
    """Where the Docker CLI keeps credentials: $DOCKER_CONFIG/config.json, else ~/.docker/config.json.

    Unlike docker-py's own lookup, a DOCKER_CONFIG without a config.json does not fall back to
    the home folder (the CLI does not either).
    """
    folder = os.environ.get("DOCKER_CONFIG")
    return Path(folder) / "config.json" if folder else Path.home() / ".docker" / "config.json"


def _store_credential(host: str) -> tuple[dict[str, str] | None, str]:
    from docker import auth

    path = docker_config_file()
    if not path.is_file():
        return None, f"no entry for {host}: {path} does not exist"
    try:
        config = auth.load_config(config_path=str(path))
        found = config.resolve_authconfig(host)
    except Exception as exc:  # a broken helper or config file is reported, not fatal
        return None, f"cannot read it ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
    if not found:
        return None, f"no entry for {host} in {path} (credsStore, credHelpers or auths)"
    cred = {str(k).lower(): str(v) for k, v in found.items() if v}
    out: dict[str, str] = {}
    if "identitytoken" in cred:
        out["identitytoken"] = cred["identitytoken"]
    if "username" in cred:
        out["username"] = cred["username"]
    if "password" in cred:
        out["password"] = cred["password"]
    return (out or None), ("" if out else f"the entry for {host} holds no credential")


def _answer(exc: Exception) -> str:
    from docker.errors import APIError

    if isinstance(exc, APIError):
        text = str(exc.explanation or exc)
        code = exc.status_code
        return f"the registry answered {code}: {text}" if code else text
    return f"{type(exc).__name__}: {exc}"


def login(client: docker.DockerClient, settings: Registry, host: str) -> Credentials:
    """Credentials for pulling from ``host``; anonymous when no source has any.

    Raises RegistryLoginFailed when some source had a credential and the registry refused all, and
    RegistryUnreachable when no registry answered at that address at all.
    """
    tried: list[str] = []
    secrets: list[str] = []
    refusals: list[str] = []  # what the registry (or the engine, for it) answered each credential
    user = settings.username or DEFAULT_USER

    candidates: list[tuple[str, dict[str, str] | None, str]] = []
    token = os.environ.get(settings.token_env) if settings.token_env else None
    env_source = f"${settings.token_env}"
    candidates.append((env_source, {"username": user, "password": token} if token else None, "not set"))
    if settings.use_gh_cli:
        gh_token, why = _gh_token()
        candidates.append(
            ("gh auth token", {"username": user, "password": gh_token} if gh_token else None, why)
        )
    else:
        tried.append("gh auth token: not used ([registry] use_gh_cli = false)")
    # The store is consulted only when the others have not worked (its helpers can be slow).
    for source, cred, why in candidates:
        if cred is None:
            tried.append(f"{source}: {why}")
            continue
        secrets.append(cred.get("password", ""))
        try:
            client.api.login(username=cred["username"], password=cred["password"], registry=host, reauth=True)
        except Exception as exc:
            refusals.append(_scrub(_answer(exc), secrets))
            tried.append(f"{source}: refused, {refusals[-1]}")
            continue
        tried.append(f"{source}: accepted")
        return Credentials(host, source, {"username": cred["username"], "password": cred["password"]}, tried)

    stored, why = _store_credential(host)
    source = "docker credential store"
    if stored is None:
        tried.append(f"{source}: {why}")
    else:
        secrets.extend([stored.get("password", ""), stored.get("identitytoken", "")])
        if "identitytoken" in stored:
            tried.append(f"{source}: identity token found (checked by the pull)")
            return Credentials(host, source, stored, tried)
        try:
            client.api.login(
                username=stored.get("username", ""),
                password=stored.get("password", ""),
                registry=host,
                reauth=True,
            )
        except Exception as exc:
            refusals.append(_scrub(_answer(exc), secrets))
            tried.append(f"{source}: refused, {refusals[-1]}")
        else:
            tried.append(f"{source}: accepted")
            return Credentials(host, source, stored, tried)

    if refusals:
        raise _refusal(settings, host, tried, refusals)
    return Credentials(host, "", None, tried)


def _refusal(settings: Registry, host: str, tried: list[str], refusals: list[str]) -> ClikdError:
    """Unreachable when no answer came from a registry at all, else every credential was refused."""
    if all(any(w in answer.lower() for w in NO_ANSWER) for answer in refusals):
        return RegistryUnreachable(
            f"the registry {host} does not answer",
            hint=f"check the network (VPN, proxy) and [registry] host; {STANDIN_HINT}",
            details=[f"the engine said: {refusals[0]}"],
        )
    return RegistryLoginFailed(
        f"the registry {host} refused every credential clikd found",
        hint=_hint(settings, host),
        details=[f"tried {t}" for t in tried],
    )


STANDIN_HINT = (
    "without access to the registry: inv env.standin builds local stand-in images, then inv env.start"
)


def _hint(settings: Registry, host: str) -> str:
    return (
        f"set {settings.token_env} to a token with read access to {host}"
        + (", or run gh auth login --scopes read:packages" if settings.use_gh_cli else "")
        + f", or docker login {host}; {STANDIN_HINT}"
    )


def anonymous_refusal(creds: Credentials, settings: Registry, image: str, answer: str) -> RegistryLoginFailed:
    """The error for a pull refused when no source had a credential."""
    return RegistryLoginFailed(
        f"pulling {image} was refused by {creds.registry}, and clikd found no credential for it",
        hint=_hint(settings, creds.registry),
        details=[f"the registry answered: {answer}", *[f"tried {t}" for t in creds.tried]],
    )


def auth_header_config(creds: Credentials | None) -> dict[str, Any] | None:
    return dict(creds.auth_config) if creds and creds.auth_config else None
