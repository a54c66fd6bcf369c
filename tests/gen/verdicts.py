"""Passing verdicts of the slow compile gates, kept by the exact bytes they judged.

A real compiler (K2JVMCompiler, mypy) judged these sources once; the same sources, judged by the same
compiler with the same options and libraries, get the same verdict. So a warm CI run whose generators
wrote byte-identical clients does not spend four minutes of a 2-core machine proving it again, the way a
build cache (Gradle's, ccache) skips a compile whose inputs it has seen. Anything that changes a byte of
a source, a file name, an option, the compiler or an installed library changes the key and the compiler
runs. Only passes are kept: a failure is always the compiler's own answer of this run.

Kept under ``${CLIKD_TESTBED_HOME}/verdicts`` (a fresh machine has none); ``CLIKD_GATE_VERDICTS=off``
runs every compiler; ``CLIKD_GATE_VERDICTS_DIR`` keeps them elsewhere.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path


def enabled() -> bool:
    return os.environ.get("CLIKD_GATE_VERDICTS", "on").lower() not in ("off", "0", "no", "false")


def home() -> Path:
    if os.environ.get("CLIKD_GATE_VERDICTS_DIR"):
        return Path(os.environ["CLIKD_GATE_VERDICTS_DIR"])
    base = os.environ.get("CLIKD_TESTBED_HOME") or str(Path.home() / ".cache" / "clikd-testbed")
    return Path(base) / "verdicts"


def installed_distributions() -> str:
    """Every installed distribution and version: mypy's verdict depends on the stubs and libraries it sees."""
    seen = sorted(f"{d.metadata['Name']}=={d.version}" for d in metadata.distributions())
    return "\n".join(seen)


def key(kind: str, tool: Iterable[str], files: Iterable[Path], root: Path) -> str:
    """A digest of the tool's identity and options and of every file's path under ``root`` and bytes."""
    digest = hashlib.sha256(kind.encode())
    for part in tool:
        digest.update(b"\0tool\0" + part.encode())
    for path in sorted(files, key=lambda p: p.relative_to(root).as_posix()):
        digest.update(b"\0file\0" + path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def recall(kind: str, digest: str) -> str | None:
    """The kept output of a pass for ``digest``, or None (not seen, or verdicts are off)."""
    if not enabled():
        return None
    path = home() / kind / f"{digest}.json"
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(record.get("at", 0)))
    return (
        f"[pass kept from {when} for these exact sources ({digest[:12]}); CLIKD_GATE_VERDICTS=off reruns]\n"
        + str(record.get("output", ""))
    )


def keep(kind: str, digest: str, output: str) -> None:
    """Keep a pass (written whole by a rename, so a parallel reader never sees half a record)."""
    if not enabled():
        return
    folder = home() / kind
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".{digest}.{os.getpid()}.tmp"
    partial.write_text(json.dumps({"at": time.time(), "output": output[-20000:]}))
    partial.replace(folder / f"{digest}.json")
