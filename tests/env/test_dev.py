"""env.dev against the real engine: reference services built here from the test bed's base image.

Driven by the session's hooks (CLIKD_DEV_HOOKS: a marker when watching, the pending count, one JSON
line per cycle, a hold file), never by sleeps; the waits below only bound how long a marker may take.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.env.conftest import CLIKD, ROOT, Branches, base_env, clikd, host_port, load_render

# One xdist worker runs this module: a test lowers the machine-wide fs.inotify.max_user_watches,
# which would starve every other watcher running at that moment.
pytestmark = [pytest.mark.testbed, pytest.mark.xdist_group("inotify"), pytest.mark.early]

BASE = "clikd-testbed/base:bookworm-1"
WEB_IMAGE = "clikd-devtest/web:1"
LIMIT = 180.0  # upper bound for a marker to appear; the tests never wait on time itself

DOCKERFILE = f"""FROM {BASE}
RUN useradd -u 1234 -m app && mkdir -p /app && chown app /app
WORKDIR /app
COPY --chown=1234:1234 . /app
USER 1234
CMD ["python3", "/app/serve.py"]
"""
SHELLS = "/bin/sh /usr/bin/sh /bin/bash /usr/bin/bash /bin/dash /usr/bin/dash /bin/tar /usr/bin/tar"
NO_SHELL = DOCKERFILE + f"USER root\nRUN rm -f {SHELLS}\nUSER 1234\n"
SERVE = """import functools, http.server, os
port = int(os.environ.get("PORT", "18080"))
CONF = open("/app/conf/app.conf").read()  # read once: a change needs a restart


class Handler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/conf":
            body = CONF.encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()


handler = functools.partial(Handler, directory="/app/www")
http.server.ThreadingHTTPServer(("0.0.0.0", port), handler).serve_forever()
"""


def _source(folder: Path, dockerfile: str = DOCKERFILE) -> Path:
    (folder / "www").mkdir(parents=True)
    (folder / "Dockerfile").write_text(dockerfile)
    (folder / "serve.py").write_text(SERVE)
    (folder / "requirements.txt").write_text("# manifest: a change rebuilds\n")
    (folder / "www" / "health").write_text("ok\n")
    (folder / "www" / "version.txt").write_text("v0\n")
    (folder / "www" / "old.txt").write_text("to be deleted\n")
    (folder / "conf").mkdir()
    (folder / "conf" / "app.conf").write_text("a=1\n")
    (folder / "hooks").mkdir()
    (folder / "notes").mkdir()
    (folder / "target" / "debug").mkdir(parents=True)  # a heavy folder: never watched, never synced
    (folder / "target" / "debug" / "big.bin").write_text("x")
    return folder


@pytest.fixture(scope="module")
def web_image(tmp_path_factory: pytest.TempPathFactory) -> str:
    import docker

    folder = _source(tmp_path_factory.mktemp("webimage") / "web")
    docker.from_env().images.build(path=str(folder), tag=WEB_IMAGE, rm=True)
    return WEB_IMAGE


def _config(tmp: Path, mono: Path, dockerfile: str = DOCKERFILE, project: str = "clikd") -> Path:
    _source(mono / "web", dockerfile)
    render = load_render()
    tree: dict[str, Any] = {
        "project": {"name": project, "monorepo_root": str(mono)},
        "registry": {"host": "127.0.0.1:5000", "use_gh_cli": False},
        "development": {"auto_migrate": False},
        "services": {
            "web": {
                "image": WEB_IMAGE,
                "pull": "never",
                "ports": {"http": 18080},
                "environment": {"PORT": "18080"},
                "health": {"kind": "http", "path": "/health", "timeout": 60},
                "dev": {
                    "watch": [
                        ".",
                    ],
                    "ignore": ["*.tmp"],
                    "rules": [
                        {"paths": ["requirements.txt", "Dockerfile"], "action": "rebuild"},
                        {"paths": ["conf/**"], "action": "sync+restart"},
                        {
                            "paths": ["hooks/**"],
                            "action": "sync+exec",
                            "exec": ["python3", "-c", "import sys; print('hook says no'); sys.exit(4)"],
                        },
                        {"paths": ["www/**", "serve.py"], "action": "sync"},
                    ],
                },
            },
            "dep": {
                "image": WEB_IMAGE,
                "pull": "never",
                "ports": {"http": 18081},
                "environment": {"PORT": "18081"},
                "depends_on": ["web"],
                "health": {"kind": "http", "path": "/health", "timeout": 60},
            },
        },
    }
    path = tmp / "clikd.toml"
    path.write_text(render.dump(tree))
    return path


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310  (http to the test stack)
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""


def _ids(branch: str, project: str = "clikd") -> dict[str, str]:
    import docker

    found = docker.from_env().api.containers(all=True, filters={"label": f"dev.clikd.project={project}"})
    out: dict[str, str] = {}
    for c in found:
        labels = c.get("Labels") or {}
        if labels.get("dev.clikd.branch") == branch:
            out[labels["dev.clikd.service"]] = c["Id"]
    return out


def _wait(check: Callable[[], bool], what: str, proc: subprocess.Popen[str] | None = None) -> None:
    end = time.monotonic() + LIMIT
    while not check():
        if proc is not None and proc.poll() is not None:
            pytest.fail(
                f"env.dev ended ({proc.returncode}) before {what}: "
                + (proc.stderr.read() if proc.stderr else "")
            )
        if time.monotonic() > end:
            pytest.fail(f"no {what} within {LIMIT}s")
        time.sleep(0.05)


class Session:
    """A running `clikd env.dev web` with its hook folder."""

    def __init__(self, hooks: Path, env: dict[str, str], branch: str, *flags: str) -> None:
        self.hooks = hooks
        self.proc = subprocess.Popen(
            [str(CLIKD), "env.dev", "web", "--json", "--branch", branch, *flags],
            cwd=ROOT,
            env={**env, "CLIKD_DEV_HOOKS": str(hooks)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        _wait((hooks / "watching").exists, "watching marker", self.proc)

    def cycles(self) -> list[dict[str, Any]]:
        path = self.hooks / "cycles.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def next_cycle(self, change: Callable[[], object]) -> dict[str, Any]:
        before = len(self.cycles())
        change()
        _wait(lambda: len(self.cycles()) > before, "cycle", self.proc)
        got = self.cycles()
        assert len(got) == before + 1, got[before:]
        return got[-1]


@pytest.fixture
def dev_env(
    tmp_path: Path, branches: Branches, web_image: str
) -> Iterator[tuple[dict[str, str], str, Path, Path]]:
    config = _config(tmp_path, tmp_path / "mono")
    env = base_env(config)
    branch = branches.new(env)
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    yield env, branch, config, tmp_path / "mono" / "web"


def test_once_syncs_and_keeps_dependants(dev_env: tuple[dict[str, str], str, Path, Path]) -> None:
    env, branch, config, src = dev_env
    up = clikd("env.start", "--branch", branch, "--json", env=env)
    assert up.code == 0, up.text
    before = _ids(branch)
    (src / "www" / "version.txt").write_text("v1 from source\n")
    run = clikd("env.dev", "web", "--once", "--json", "--branch", branch, env=env)
    assert run.code == 0, run.text
    event = json.loads(run.out.splitlines()[0])
    assert event["action"] == "enter" and event["result"] == "ok"
    after = _ids(branch)
    assert after["dep"] == before["dep"], "the dependant was recreated"
    assert after["web"] != before["web"]
    port = host_port(branch, "web.http", config)
    assert _get(f"http://127.0.0.1:{port}/version.txt") == (200, "v1 from source\n")
    # Files are the container user's (the image's USER 1234), not root's or this machine's user.
    import docker

    _code, out = (
        docker.from_env().containers.get(after["web"]).exec_run(["stat", "-c", "%u", "/app/www/version.txt"])
    )
    assert out.decode().strip() == "1234"
    status = clikd("env.status", "--json", "--branch", branch, env=env)
    assert status.code == 0, status.text
    assert [(d["service"], d["last_action"], d["last_result"]) for d in status.data["dev"]] == [
        ("web", "enter", "ok")
    ]
    # env.start keeps the dev container; --only web returns it to its image and says so.
    again = clikd("env.start", "--branch", branch, env=env)
    assert again.code == 0 and _ids(branch) == after, again.text
    back = clikd("env.start", "--only", "web", "--branch", branch, env=env)
    assert back.code == 0, back.text
    assert "left dev mode" in back.err
    assert _ids(branch)["dep"] == before["dep"]
    assert _get(f"http://127.0.0.1:{port}/version.txt") == (200, "v0\n")


def test_watch_cycles(dev_env: tuple[dict[str, str], str, Path, Path], tmp_path: Path) -> None:
    env, branch, config, src = dev_env
    import docker

    client = docker.from_env()
    session = Session(tmp_path / "hooks", env, branch)
    port = host_port(branch, "web.http", config)
    url = f"http://127.0.0.1:{port}"
    try:
        ids = _ids(branch)
        # An edit is served.
        cycle = session.next_cycle(lambda: (src / "www" / "version.txt").write_text("v2\n"))
        assert (cycle["action"], cycle["result"], cycle["files"]) == ("sync", "ok", 1)
        assert _get(f"{url}/version.txt") == (200, "v2\n")
        # A delete is applied.
        cycle = session.next_cycle((src / "www" / "old.txt").unlink)
        assert cycle["result"] == "ok"
        assert _get(f"{url}/old.txt")[0] == 404
        # An unmatched path is named, not acted on.
        cycle = session.next_cycle(lambda: (src / "notes" / "idea.md").write_text("x"))
        assert cycle["action"] == "ignored" and cycle["unmatched"] == ["notes/idea.md"]
        # A failing exec leaves the service serving.
        cycle = session.next_cycle(lambda: (src / "hooks" / "x.py").write_text("x"))
        assert cycle["result"] == "failed" and "exited 4" in cycle["error"]
        assert any("hook says no" in d for d in cycle["details"])
        assert _get(f"{url}/version.txt") == (200, "v2\n")
        # A burst of 1,500 files is one cycle (held until all of them are pending).
        (session.hooks / "hold").write_text("")
        burst = src / "www" / "burst"
        burst.mkdir()
        for i in range(1500):
            (burst / f"f{i}.txt").write_text(str(i))
        _wait(
            lambda: int((session.hooks / "pending").read_text() or 0) >= 1500,
            "1,500 pending paths",
            session.proc,
        )
        cycle = session.next_cycle((session.hooks / "hold").unlink)
        assert (cycle["action"], cycle["result"], cycle["files"]) == ("sync", "ok", 1500)
        assert _get(f"{url}/burst/f1499.txt") == (200, "1499")
        assert _ids(branch) == ids, "a sync recreated a container"
        # sync+restart restarts the same container (the service reads its config only at start).
        assert _get(f"{url}/conf") == (200, "a=1\n")
        started = client.api.inspect_container(ids["web"])["State"]["StartedAt"]
        cycle = session.next_cycle(lambda: (src / "conf" / "app.conf").write_text("a=2\n"))
        assert (cycle["action"], cycle["result"]) == ("sync+restart", "ok")
        assert client.api.inspect_container(ids["web"])["State"]["StartedAt"] != started
        assert _get(f"{url}/conf") == (200, "a=2\n")
        assert _ids(branch) == ids
        # A manifest change rebuilds: a new web container, same name; the dependant is not recreated.
        image = client.api.inspect_container(ids["web"])["Image"]
        cycle = session.next_cycle(lambda: (src / "requirements.txt").write_text("# changed\n"))
        assert (cycle["action"], cycle["result"]) == ("rebuild", "ok"), cycle
        now = _ids(branch)
        assert now["dep"] == ids["dep"] and now["web"] != ids["web"]
        assert client.api.inspect_container(now["web"])["Image"] != image
        assert _get(f"{url}/version.txt") == (200, "v2\n")
        # Changes made while a rebuild runs wait for it, then sync as one cycle of their own.
        (session.hooks / "pause-rebuild").write_text("")
        before = len(session.cycles())
        (src / "requirements.txt").write_text("# changed again\n")
        _wait((session.hooks / "at-rebuild").exists, "rebuild to start", session.proc)
        (session.hooks / "queued").unlink(missing_ok=True)
        (src / "www" / "version.txt").write_text("v3\n")
        _wait((session.hooks / "queued").exists, "the edit to queue", session.proc)
        (session.hooks / "pause-rebuild").unlink()
        _wait(lambda: len(session.cycles()) >= before + 2, "rebuild and sync cycles", session.proc)
        got = [(c["action"], c["result"], c["files"]) for c in session.cycles()[before:]]
        assert got == [("rebuild", "ok", 1), ("sync", "ok", 1)]
        assert _get(f"{url}/version.txt") == (200, "v3\n")
        assert _ids(branch)["dep"] == ids["dep"]
    finally:
        session.proc.send_signal(signal.SIGINT)
        session.proc.wait(timeout=LIMIT)


def test_head_moving_stops_syncing(dev_env: tuple[dict[str, str], str, Path, Path], tmp_path: Path) -> None:
    env, branch, _config_path, src = dev_env
    subprocess.run(["git", "init", "-q", "-b", "main", str(src)], check=True)
    session = Session(tmp_path / "hooks", env, branch)
    subprocess.run(["git", "-C", str(src), "symbolic-ref", "HEAD", "refs/heads/other"], check=True)
    (src / "www" / "version.txt").write_text("from other\n")
    code = session.proc.wait(timeout=LIMIT)
    err = session.proc.stderr.read() if session.proc.stderr else ""
    assert code == 1, err
    assert "syncing stopped" in err and "'other'" in err


def test_ctrl_c_leaves_nothing_behind(
    dev_env: tuple[dict[str, str], str, Path, Path], tmp_path: Path
) -> None:
    env, branch, _config_path, _src = dev_env
    session = Session(tmp_path / "hooks", env, branch)
    pid = session.proc.pid
    threads = len(list(Path(f"/proc/{pid}/task").iterdir()))
    assert threads >= 2  # the watcher thread runs
    children = [p.name for p in Path("/proc").iterdir() if p.name.isdigit() and _ppid(p.name) == pid]
    session.proc.send_signal(signal.SIGINT)
    assert session.proc.wait(timeout=LIMIT) == 130
    assert not [c for c in children if Path(f"/proc/{c}").exists()]


def _ppid(pid: str) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


def test_no_shell_image_syncs(tmp_path: Path, branches: Branches, web_image: str) -> None:
    config = _config(tmp_path, tmp_path / "mono", NO_SHELL)
    env = base_env(config)
    branch = branches.new(env)
    assert clikd("env.start", "--branch", branch, env=env).code == 0
    src = tmp_path / "mono" / "web"
    (src / "www" / "version.txt").write_text("no shell\n")
    run = clikd("env.dev", "web", "--once", "--branch", branch, env=env)
    assert run.code == 0, run.text
    port = host_port(branch, "web.http", config)
    assert _get(f"http://127.0.0.1:{port}/version.txt") == (200, "no shell\n")
    import docker

    code, _out = docker.from_env().containers.get(_ids(branch)["web"]).exec_run(["sh", "-c", "true"])
    assert code != 0  # really no shell


def test_poll_and_start_dev(dev_env: tuple[dict[str, str], str, Path, Path], tmp_path: Path) -> None:
    """env.start --dev enters the same session; --poll (no inotify) sees edits too."""
    env, branch, config, src = dev_env
    hooks = tmp_path / "hooks"
    proc = subprocess.Popen(
        [str(CLIKD), "env.start", "--dev", "web", "--json", "--branch", branch],
        cwd=ROOT,
        env={**env, "CLIKD_DEV_HOOKS": str(hooks)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait((hooks / "watching").exists, "watching marker", proc)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=LIMIT) == 130
    assert "dev.clikd.dev" in json.dumps(_labels(branch, "web"))
    (hooks / "watching").unlink()
    session = Session(hooks, env, branch, "--poll")
    try:
        cycle = session.next_cycle(lambda: (src / "www" / "version.txt").write_text("polled\n"))
        assert (cycle["action"], cycle["result"]) == ("sync", "ok")
        port = host_port(branch, "web.http", config)
        assert _get(f"http://127.0.0.1:{port}/version.txt") == (200, "polled\n")
    finally:
        session.proc.send_signal(signal.SIGINT)
        session.proc.wait(timeout=LIMIT)


def _labels(branch: str, service: str) -> dict[str, str]:
    import docker

    labels: dict[str, str] = docker.from_env().api.inspect_container(_ids(branch)[service])["Config"][
        "Labels"
    ]
    return labels


def test_hot_reload_off_refuses_start_dev(tmp_path: Path) -> None:
    config = tmp_path / "clikd.toml"
    config.write_text('[development]\nhot_reload = false\n[services.web]\nimage = "x"\n')
    run = clikd("env.start", "--dev", "web", env=base_env(config))
    assert run.code == 2, run.text
    assert "hot_reload = false" in run.err


def test_stop_removes_the_dev_container(dev_env: tuple[dict[str, str], str, Path, Path]) -> None:
    env, branch, _config_path, _src = dev_env
    assert clikd("env.dev", "web", "--once", "--branch", branch, env=env).code == 0
    assert _labels(branch, "web").get("dev.clikd.dev")
    stop = clikd("env.stop", "--branch", branch, env=env)
    assert stop.code == 0, stop.text
    assert _ids(branch) == {}


def _dev_images(project: str) -> list[str]:
    import docker

    tags = [t for i in docker.from_env().api.images() for t in i.get("RepoTags") or []]
    return [t for t in tags if t.startswith(f"clikd-dev/{project}-")]


def test_prune_removes_a_deleted_branchs_dev_container_and_image(tmp_path: Path, web_image: str) -> None:
    project = "tprunedev"  # a project of its own: prune never sees other tests' stacks
    config = _config(tmp_path, tmp_path / "mono", project=project)
    env = base_env(config)
    gone = "t/deleted-branch-in-dev"
    try:
        entered = clikd("env.dev", "web", "--once", "--branch", gone, env=env)
        assert entered.code == 0, entered.text
        assert set(_ids(gone, project)) == {"web", "dep"}
        assert len(_dev_images(project)) == 1
        pruned = clikd("env.prune", "--yes", "--json", env=env)
        assert pruned.code == 0, pruned.text
        assert [r["branch"] for r in pruned.data["removed"]] == [gone]
        assert _ids(gone, project) == {}
        assert _dev_images(project) == []
        assert pruned.data["removed"][0]["removed_images"]
    finally:
        clikd("env.stop", "--branch", gone, "--purge", "--yes", env=env)


def test_purge_removes_the_branchs_dev_image(dev_env: tuple[dict[str, str], str, Path, Path]) -> None:
    from tasks.core.dev.container import dev_image_tag

    env, branch, _config_path, _src = dev_env
    tag = dev_image_tag("clikd", branch, "web")
    assert clikd("env.dev", "web", "--once", "--branch", branch, env=env).code == 0
    stopped = clikd("env.stop", "--branch", branch, env=env)
    assert stopped.code == 0, stopped.text
    assert tag in _dev_images("clikd")  # a plain stop keeps it: the next env.dev starts warm
    purged = clikd("env.stop", "--branch", branch, "--purge", "--yes", "--json", env=env)
    assert purged.code == 0, purged.text
    assert purged.data["removed_images"] == [tag]
    assert tag not in _dev_images("clikd")
    shown = clikd("env.dev", "web", "--once", "--branch", branch, env=env)
    assert shown.code == 0, shown.text
    human = clikd("env.stop", "--branch", branch, "--purge", "--yes", env=env)
    assert f"removed dev image {tag}" in human.out, human.text


def test_the_watch_limit_names_the_sysctl_and_the_folder(
    dev_env: tuple[dict[str, str], str, Path, Path], tmp_path: Path
) -> None:
    """The real kernel limit, lowered for this test only: it counts per user, machine-wide."""
    import os

    from tasks.core.dev.watch import watches_of_user

    env, branch, _config_path, src = dev_env
    for i in range(150):  # more folders than the limit leaves free
        (src / "www" / "many" / f"f{i}").mkdir(parents=True)
    knob = Path("/proc/sys/fs/inotify/max_user_watches")
    assert os.geteuid() == 0, "this test lowers fs.inotify.max_user_watches: run the suite as root"
    before = knob.read_text().strip()
    try:
        knob.write_text(f"{watches_of_user(0) + 40}\n")
        hooks = tmp_path / "hooks"
        run = subprocess.run(
            [str(CLIKD), "env.dev", "web", "--branch", branch],
            cwd=ROOT,
            env={**env, "CLIKD_DEV_HOOKS": str(hooks), "COLUMNS": "400"},  # paths unwrapped
            capture_output=True,
            text=True,
            timeout=LIMIT,
            check=False,
        )
    finally:
        knob.write_text(f"{before}\n")
    assert knob.read_text().strip() == before
    assert run.returncode == 1, run.stdout + run.stderr
    text = " ".join((run.stdout + run.stderr).split())  # the panel wraps lines
    assert "file watch limit reached" in text, text
    assert "fs.inotify.max_user_watches" in text and "--poll" in text, text
    assert str(src) in text, text
    assert "Traceback" not in text
    assert not (hooks / "watching").exists()
