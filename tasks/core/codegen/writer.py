"""Writing a client atomically, recording what was generated, and comparing for ``--check``.

A client is written whole into a temp folder beside its target and swapped in with two renames, so an
interrupted run leaves either the old client or the new one, never a mix. Files the generator does not
own (``node_modules``, ``build``, ``.gradle``...) are carried over. A stamp file records the hash of the
inputs (spec, templates, generator) and of every file, so an unchanged run is skipped.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STAMP = ".clikd-gen.json"


@dataclass
class Stamp:
    inputs: str
    spec_digest: str
    validated: bool
    files: dict[str, str] = field(default_factory=dict)  # relative path -> sha256

    def to_bytes(self) -> bytes:
        doc = {
            "inputs": self.inputs,
            "spec_digest": self.spec_digest,
            "validated": self.validated,
            "files": self.files,
        }
        return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_stamp(target: Path) -> Stamp | None:
    try:
        doc: dict[str, Any] = json.loads((target / STAMP).read_text())
        return Stamp(str(doc["inputs"]), str(doc["spec_digest"]), bool(doc["validated"]), dict(doc["files"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def is_current(target: Path, inputs: str) -> bool:
    """The stamp matches these inputs and every recorded file is on disk, unedited."""
    stamp = read_stamp(target)
    if stamp is None or stamp.inputs != inputs:
        return False
    for rel, digest in stamp.files.items():
        try:
            if sha256((target / rel).read_bytes()) != digest:
                return False
        except OSError:
            return False
    return True


def _cleanup(target: Path) -> None:
    for leftover in target.parent.glob(f".{target.name}.*-*"):
        if leftover.name.startswith((f".{target.name}.tmp-", f".{target.name}.old-")):
            shutil.rmtree(leftover, ignore_errors=True)


def write_tree(target: Path, files: dict[str, bytes], stamp: Stamp) -> None:
    """Replace ``target`` with exactly ``files`` (+ the stamp), keeping entries the generator does not own."""
    target = target.resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    _cleanup(target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    old: Path | None = None
    try:
        for rel, data in files.items():
            path = tmp / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        (tmp / STAMP).write_bytes(stamp.to_bytes())
        if target.exists():
            owned = {rel.split("/", 1)[0] for rel in files} | {STAMP}
            previous = read_stamp(target)
            if previous is not None:
                owned |= {rel.split("/", 1)[0] for rel in previous.files}
            for entry in target.iterdir():
                if entry.name not in owned:
                    entry.rename(tmp / entry.name)  # node_modules, build output, IDE folders
            old = target.parent / f".{target.name}.old-{os.getpid()}"
            target.rename(old)
        tmp.rename(target)
    except BaseException:
        if old is not None and not target.exists():
            old.rename(target)
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def differences(target: Path, files: dict[str, bytes]) -> list[str]:
    """What ``--check`` reports: files that would be created, changed or removed by generating."""
    out: list[str] = []
    for rel, data in files.items():
        path = target / rel
        if not path.is_file():
            out.append(f"missing  {rel}")
        elif path.read_bytes() != data:
            out.append(f"changed  {rel}")
    owned = {rel.split("/", 1)[0] for rel in files}
    if target.is_dir():
        for top in sorted(owned):
            root = target / top
            if not root.is_dir():
                continue
            for path in sorted(root.rglob("*")):
                rel = path.relative_to(target).as_posix()
                if path.is_file() and rel not in files:
                    out.append(f"stale    {rel}")
    return out


def read_tree(root: Path) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            files[path.relative_to(root).as_posix()] = path.read_bytes()
    return files


@contextlib.contextmanager
def scratch(prefix: str) -> Any:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
