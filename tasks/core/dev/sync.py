"""Copy changed files into a container through the Engine's archive API, and check they landed."""

from __future__ import annotations

import io
import posixpath
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import docker

VERIFY_MAX = 20  # files whose size is read back after each sync (all of them up to this many)


class SyncFailed(Exception):
    """The engine refused or did not apply a copy or a delete."""

    def __init__(self, message: str, details: list[str] | None = None) -> None:
        super().__init__(message)
        self.details = details or []


@dataclass(frozen=True)
class Owner:
    uid: int
    gid: int


def container_owner(client: docker.DockerClient, container: str) -> Owner:
    """The container's user as numbers: from ``id`` when the image has it, else its USER if numeric."""
    try:
        uid = _exec_int(client, container, ["id", "-u"])
        gid = _exec_int(client, container, ["id", "-g"])
        return Owner(uid, gid)
    except (SyncFailed, ValueError):
        pass
    user = str(client.api.inspect_container(container)["Config"].get("User") or "0")
    uid_text, _, gid_text = user.partition(":")
    if uid_text.isdigit():
        return Owner(int(uid_text), int(gid_text) if gid_text.isdigit() else int(uid_text))
    return Owner(0, 0)


def _exec_int(client: docker.DockerClient, container: str, cmd: list[str]) -> int:
    code, out = run_exec(client, container, cmd)
    if code != 0:
        raise SyncFailed(f"{' '.join(cmd)} exited {code}")
    return int(out.strip())


def run_exec(
    client: docker.DockerClient, container: str, cmd: list[str], workdir: str | None = None
) -> tuple[int, str]:
    """Run ``cmd`` in the container; its exit code and output. An image without it gives 127."""
    from docker.errors import APIError

    try:
        made = client.api.exec_create(container, cmd, workdir=workdir, stdout=True, stderr=True)
        raw = client.api.exec_start(made["Id"])
        code = client.api.exec_inspect(made["Id"]).get("ExitCode")
    except APIError as exc:
        return 127, str(exc.explanation or exc)
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
    return (127 if code is None else int(code)), text


def build_tar(source: Path, paths: list[str], owner: Owner) -> bytes:
    """A tar of ``paths`` (relative to ``source``) owned by ``owner``, with host modes and mtimes."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        dirs: set[str] = set()
        for rel in sorted(paths):
            parent = posixpath.dirname(rel)
            chain: list[str] = []
            while parent and parent not in dirs:
                chain.append(parent)
                parent = posixpath.dirname(parent)
            for folder in reversed(chain):
                dirs.add(folder)
                info = tarfile.TarInfo(folder)
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                info.uid, info.gid = owner.uid, owner.gid
                tar.addfile(info)
            full = source / rel
            info = tar.gettarinfo(str(full), arcname=rel)
            info.uid, info.gid = owner.uid, owner.gid
            info.uname = info.gname = ""
            if info.isfile():
                with full.open("rb") as handle:
                    tar.addfile(info, handle)
            else:
                tar.addfile(info)
    return buffer.getvalue()


def put(  # noqa: PLR0917  (the copy's whole context)
    client: docker.DockerClient, container: str, dest: str, source: Path, paths: list[str], owner: Owner
) -> int:
    """Copy ``paths`` into ``dest``; returns the bytes sent. Raises SyncFailed when it did not land."""
    from docker.errors import APIError

    present = [p for p in paths if (source / p).is_file() or (source / p).is_symlink()]
    if not present:
        return 0
    data = build_tar(source, present, owner)
    try:
        ok = client.api.put_archive(container, dest, data)
    except APIError as exc:
        raise SyncFailed(
            f"the engine refused the copy into {dest}: {exc.explanation or exc}",
            ["check that the container's USER can write there and that it is not read-only"],
        ) from None
    if not ok:
        raise SyncFailed(f"the engine did not accept the copy into {dest}")
    verify(client, container, dest, source, present)
    return len(data)


def verify(client: docker.DockerClient, container: str, dest: str, source: Path, paths: list[str]) -> None:
    """Read back the size of up to VERIFY_MAX copied files (first and last ones of a big batch)."""
    from docker.errors import NotFound

    picked = paths if len(paths) <= VERIFY_MAX else paths[: VERIFY_MAX // 2] + paths[-VERIFY_MAX // 2 :]
    wrong: list[str] = []
    for rel in picked:
        if not (source / rel).is_file():
            continue
        try:
            stream, stat = client.api.get_archive(container, posixpath.join(dest, rel))
            for _chunk in stream:
                pass
        except NotFound:
            wrong.append(f"{rel}: missing in the container after the copy")
            continue
        if int(stat.get("size", -1)) != (source / rel).stat().st_size:
            wrong.append(
                f"{rel}: {stat.get('size')} bytes in the container, {(source / rel).stat().st_size} here"
            )
    if wrong:
        raise SyncFailed(f"{len(wrong)} file(s) did not land as sent", wrong)


def delete(client: docker.DockerClient, container: str, dest: str, paths: list[str]) -> bool:
    """Remove ``paths`` below ``dest``; False when the image has no ``rm`` (the caller rebuilds)."""
    from docker.errors import NotFound

    if not paths:
        return True
    targets = [posixpath.join(dest, p) for p in paths]
    code, out = run_exec(client, container, ["rm", "-rf", "--", *targets])
    if code == 127 or ("executable file not found" in out):
        return False
    if code != 0:
        raise SyncFailed(f"rm in the container exited {code}", out.strip().splitlines()[-10:])
    for target in targets[:VERIFY_MAX]:
        try:
            stream, _stat = client.api.get_archive(container, target)
            for _chunk in stream:
                pass
        except NotFound:
            continue
        raise SyncFailed(f"{target} is still in the container after the delete")
    return True
