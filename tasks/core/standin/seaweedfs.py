"""The object store's stand-in: SeaweedFS (Apache-2.0) built from the Go module proxy, in a thin image.

No registry is reachable for a first run, so its image is made here like the others: ``go mod
download`` fetches the module's source (its go.mod has replace directives, so ``go install
module@version`` refuses it), ``go build`` makes one static ``weed`` binary (about five minutes on
two cores the first time; Go's build cache makes a rebuild a link), and the test bed's recipe
(tests/infra/images/seaweedfs) puts it FROM the base image. The version is the test bed's, read
from the recipe, so both build the same server.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from tasks.core.stack.model import StepEvent
from tasks.core.standin.model import StandinFailed
from tasks.core.standin.recipes import recipe_root

if TYPE_CHECKING:
    from tasks.core.standin.builder import Builder

MODULE = "github.com/seaweedfs/seaweedfs"
RECIPE = "images/seaweedfs"  # below tests/infra
VERSION_FILE = "version"  # in the recipe: the module version, one line


def module_version(root: Path) -> str:
    path = recipe_root(root) / RECIPE / VERSION_FILE
    try:
        found = path.read_text(encoding="utf-8").strip()
    except OSError:
        raise StandinFailed(f"{path} is missing: it names the SeaweedFS version to build") from None
    if not found.startswith("v"):
        raise StandinFailed(f"{path} holds {found!r}, not a Go module version (v...)")
    return found


def image_tag(prefix: str, version: str) -> str:
    return f"{prefix}/seaweedfs:{version}"


def _runs(binary: Path) -> bool:
    try:
        done = subprocess.run([str(binary), "version"], capture_output=True, timeout=30, check=False)
    except OSError:
        return False
    return done.returncode == 0


def weed_binary(b: Builder, version: str) -> Path:
    """The ``weed`` binary of ``version``, built once into the stand-in cache."""
    out = b.cache / f"seaweedfs-{version}" / "weed"
    if out.is_file() and _runs(out):
        return out
    go = shutil.which("go")
    if go is None:
        raise StandinFailed(
            "Go is needed once to build the object store's stand-in (SeaweedFS, from the Go module proxy)",
            hint="install Go 1.26 or newer, then run env.standin again; or point [databases.s3] image at "
            "a SeaweedFS image you can pull",
        )
    log = b.logs / "seaweedfs-download.log"
    b.run([go, "mod", "download", "-json", f"{MODULE}@{version}"], log, "s3", r'"(Path|Version)"')
    text = log.read_text(encoding="utf-8")  # the JSON object, maybe among "go: downloading" lines
    try:
        source = Path(json.loads(text[text.index("{") : text.rindex("}") + 1])["Dir"])
    except (ValueError, KeyError) as exc:
        raise StandinFailed(f"go mod download gave no module folder ({exc})", hint=f"read {log}") from None
    work = b.cache / "build" / f"seaweedfs-{version}"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(source, work)
    for path in [work, *work.rglob("*")]:  # the module cache is read-only
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | stat.S_IWUSR)
    partial = out.with_name("weed.partial")
    partial.parent.mkdir(parents=True, exist_ok=True)
    b.on_event(StepEvent("s3", "s3: go build ./weed (minutes the first time)"))
    b.run(
        [go, "-C", str(work), "build", "-trimpath", "-ldflags=-s -w", "-o", str(partial), "./weed"],
        b.logs / "seaweedfs-build.log",
        "s3",
        r"^go: downloading",
        env={**os.environ, "CGO_ENABLED": "0"},
    )
    partial.rename(out)
    shutil.rmtree(work, ignore_errors=True)
    return out


def context(b: Builder, version: str) -> Path:
    """The build context: the test bed's recipe with the binary beside its Dockerfile."""
    binary = weed_binary(b, version)
    ctx = b.cache / "context" / "s3"
    shutil.rmtree(ctx, ignore_errors=True)
    shutil.copytree(recipe_root(b.root) / RECIPE, ctx)
    shutil.copy(binary, ctx / "weed")
    return ctx
