"""The generated Python client against the test bed's reference service: a real HTTP round trip.

`inv gen.python` writes the openapi-python-client package for the Clikd spec into a temporary folder; a
container from the reference service image (tests/infra/testbed.json) serves the in-memory fake of the
API; a fresh interpreter with only that folder on PYTHONPATH registers, logs in, reads the signed-in
user, pages the feed and hits error cases through the generated `sync_detailed` functions.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest
from docker.models.containers import Container

from tests.gen.conftest import CLIKD_SPEC, REPO

pytestmark = pytest.mark.testbed

TESTBED_JSON = REPO / "tests" / "infra" / "testbed.json"
INV = str(REPO / ".venv" / "bin" / "inv")
PACKAGE = "clikd_api"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(base_url: str, container: Container, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(base_url + "/health", timeout=2) as response:  # noqa: S310 (http://127.0.0.1)
                if response.status == 200:
                    return
        except (OSError, urllib.error.URLError) as exc:
            last = str(exc)
        time.sleep(0.2)
    container.reload()
    logs = container.logs(tail=30).decode(errors="replace")
    raise AssertionError(
        f"reference service not healthy after {timeout}s ({last}); state {container.status}; logs:\n{logs}"
    )


@pytest.fixture(scope="module")
def generated_client(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("python-client")
    proc = subprocess.run(
        [INV, "gen.python", "--spec", str(CLIKD_SPEC), "--output", str(out), "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert (out / PACKAGE / "client.py").is_file(), sorted(p.name for p in out.iterdir())
    return out


@pytest.fixture(scope="module")
def reference_service() -> Iterator[str]:
    """Base URL of a fresh reference service container on 127.0.0.1:<free port>; removed afterwards."""
    if not TESTBED_JSON.is_file():
        pytest.fail(f"{TESTBED_JSON} is missing: run tests/infra/up first", pytrace=False)
    image = json.loads(TESTBED_JSON.read_text())["images"]["service"]
    client = docker.from_env()
    port = free_port()
    container: Container | None = None
    try:
        container = client.containers.run(
            image,
            name=f"clikdtb-roundtrip-{uuid.uuid4().hex[:8]}",
            detach=True,
            environment={"CLIKD_SERVICE": "api", "CLIKD_REF_LOG_RATE": "0"},
            ports={"8080/tcp": ("127.0.0.1", port)},
            labels={"dev.clikd.testbed.test": "tests/gen/test_roundtrip.py"},
        )
        base_url = f"http://127.0.0.1:{port}"
        wait_healthy(base_url, container)
        yield base_url
    finally:
        if container is not None:
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True, v=True)
        client.close()


# Runs in a fresh interpreter whose only source of `clikd_api` is the generated folder.
CLIENT_SCRIPT = textwrap.dedent(
    """
    import datetime
    import json
    import sys
    import uuid

    import clikd_api
    from clikd_api import AuthenticatedClient, Client
    from clikd_api.api.auth import login, register
    from clikd_api.api.feed import get_feed
    from clikd_api.api.users import get_current_user, get_user
    from clikd_api.models import (
        AnnouncementFeedItem,
        AuthTokens,
        CrewActivityFeedItem,
        DropFeedItem,
        ErrorCode,
        FeedPage,
        LoginBody,
        Problem,
        RegisterRequest,
        User,
        ValidationProblem,
    )
    from clikd_api.types import UNSET

    base_url = sys.argv[1]
    facts = {"package_file": clikd_api.__file__}
    anonymous = Client(base_url=base_url, raise_on_unexpected_status=True)

    # register -> 201 AuthTokens
    reg = register.sync_detailed(
        client=anonymous,
        body=RegisterRequest(email="ace@example.com", password="hunter2hunter2", handle="ace_42"),
    )
    assert reg.status_code == 201, reg
    tokens = reg.parsed
    assert isinstance(tokens, AuthTokens), type(tokens)
    assert isinstance(tokens.user, User)
    assert isinstance(tokens.user.id, uuid.UUID)
    assert isinstance(tokens.user.created_at, datetime.datetime)
    assert tokens.user.created_at.tzinfo is not None
    facts["register"] = {
        "token_type": str(tokens.token_type.value), "expires_in": tokens.expires_in,
        "handle": tokens.user.handle, "email": tokens.user.email, "role": tokens.user.role.value,
        "access_token_nonempty": bool(tokens.access_token),
    }
    user_id = tokens.user.id

    # the same handle again -> 409 Problem; an invalid body -> 422 ValidationProblem
    dup = register.sync_detailed(
        client=anonymous,
        body=RegisterRequest(email="ace@example.com", password="hunter2hunter2", handle="ace_42"),
    )
    assert isinstance(dup.parsed, Problem), type(dup.parsed)
    facts["duplicate"] = {"status": int(dup.status_code), "code": dup.parsed.code.value}
    bad = register.sync_detailed(
        client=anonymous, body=RegisterRequest(email="nope", password="short", handle="A!")
    )
    assert isinstance(bad.parsed, ValidationProblem), type(bad.parsed)
    facts["invalid"] = {
        "status": int(bad.status_code), "code": bad.parsed.code.value,
        "fields": sorted(error.field for error in bad.parsed.errors),
    }

    # login: wrong password -> 401 Problem, right one -> 200 AuthTokens
    wrong = login.sync_detailed(
        client=anonymous, body=LoginBody(email="ace@example.com", password="wrong-password")
    )
    assert isinstance(wrong.parsed, Problem), type(wrong.parsed)
    assert isinstance(wrong.parsed.code, ErrorCode)
    facts["bad_login"] = {
        "status": int(wrong.status_code), "problem_status": wrong.parsed.status,
        "code": wrong.parsed.code.value,
    }
    signed_in = login.sync(
        client=anonymous, body=LoginBody(email="ace@example.com", password="hunter2hunter2")
    )
    assert isinstance(signed_in, AuthTokens), type(signed_in)
    assert signed_in.user.id == user_id
    assert signed_in.access_token != tokens.access_token

    # authenticated: GET /users/me with the bearer token; without it -> 401
    authed = AuthenticatedClient(
        base_url=base_url, token=signed_in.access_token, raise_on_unexpected_status=True
    )
    me = get_current_user.sync_detailed(client=authed)
    assert isinstance(me.parsed, User), type(me.parsed)
    facts["me"] = {
        "status": int(me.status_code), "same_id": me.parsed.id == user_id,
        "handle": me.parsed.handle, "email": me.parsed.email,
    }
    anon_me = get_current_user.sync_detailed(client=anonymous)
    assert isinstance(anon_me.parsed, Problem), type(anon_me.parsed)
    facts["anonymous_me"] = {"status": int(anon_me.status_code), "code": anon_me.parsed.code.value}

    # GET /users/{id}: public view (no email); an unknown id -> 404 Problem
    other = get_user.sync(user_id, client=authed)
    assert isinstance(other, User), type(other)
    facts["public_user"] = {"same_id": other.id == user_id, "email_unset": other.email is UNSET}
    missing = get_user.sync_detailed(uuid.UUID(int=0), client=authed)
    assert isinstance(missing.parsed, Problem), type(missing.parsed)
    facts["missing_user"] = {"status": int(missing.status_code), "code": missing.parsed.code.value}

    # the feed, two items a page, following next_cursor to the end
    pages = []
    cursor = UNSET
    while True:
        page = get_feed.sync(client=authed, cursor=cursor, limit=2)
        assert isinstance(page, FeedPage), type(page)
        kinds = []
        for item in page.items:
            assert isinstance(item.created_at, datetime.datetime)
            if isinstance(item, DropFeedItem):
                assert isinstance(item.drop.id, uuid.UUID)
                assert item.drop.author.id == user_id
                assert item.drop.media.status.value == "ready"
                kinds.append(("drop", item.drop.kind.value, item.drop.reactions.additional_properties))
            elif isinstance(item, CrewActivityFeedItem):
                assert isinstance(item.crew.id, uuid.UUID)
                kinds.append(("crew_activity", item.action.value, item.actor.id == user_id))
            elif isinstance(item, AnnouncementFeedItem):
                kinds.append(("announcement", item.title, item.priority.value))
            else:
                raise AssertionError(f"unexpected feed item {type(item)}")
        pages.append({"kinds": kinds, "next_cursor": page.next_cursor})
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    facts["feed"] = pages

    print(json.dumps(facts))
    """
)


def test_generated_python_client_round_trip(generated_client: Path, reference_service: str) -> None:
    script = generated_client / "roundtrip_client.py"
    script.write_text(CLIENT_SCRIPT)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PYTHONPATH"] = str(generated_client)
    proc = subprocess.run(
        [sys.executable, "-B", str(script), reference_service],
        cwd=generated_client,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, f"client script failed:\n{proc.stdout}\n{proc.stderr}"
    facts = json.loads(proc.stdout.strip().splitlines()[-1])

    assert Path(facts["package_file"]).is_relative_to(generated_client)
    assert facts["register"] == {
        "token_type": "Bearer",
        "expires_in": 900,
        "handle": "ace_42",
        "email": "ace@example.com",
        "role": "player",
        "access_token_nonempty": True,
    }
    assert facts["duplicate"] == {"status": 409, "code": "handle_taken"}
    assert facts["invalid"] == {
        "status": 422,
        "code": "validation_failed",
        "fields": ["/email", "/handle", "/password"],
    }
    assert facts["bad_login"] == {"status": 401, "problem_status": 401, "code": "invalid_credentials"}
    assert facts["me"] == {"status": 200, "same_id": True, "handle": "ace_42", "email": "ace@example.com"}
    assert facts["anonymous_me"] == {"status": 401, "code": "token_expired"}
    assert facts["public_user"] == {"same_id": True, "email_unset": True}
    assert facts["missing_user"] == {"status": 404, "code": "not_found"}
    assert facts["feed"] == [
        {
            "kinds": [["drop", "clip", {"gg": 1}], ["crew_activity", "joined", True]],
            "next_cursor": "2",
        },
        {
            "kinds": [["announcement", "Season 3", 2], ["drop", "clip", {"gg": 4}]],
            "next_cursor": "4",
        },
        {"kinds": [["crew_activity", "joined", True]], "next_cursor": None},
    ]
