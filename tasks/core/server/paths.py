"""Where the server of this clikd installation listens, and where it logs."""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from pathlib import Path

PROTOCOL = 1
IDLE_SECONDS = 900.0  # an idle server exits after this long without a command


def folder() -> Path:
    """The user's private folder for clikd's sockets (created 0700), in the runtime dir when there is one."""
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    base = Path(runtime) if runtime and Path(runtime).is_dir() else Path(tempfile.gettempdir())
    return base / f"clikd-{os.getuid()}"


def ensure_folder() -> Path:
    """:func:`folder`, made if missing; refused (OSError) when it is not this user's and private."""
    path = folder()
    path.mkdir(mode=0o700, exist_ok=True)
    info = path.stat()
    if info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise PermissionError(f"{path} is not private to this user")
    return path


def _installation() -> str:
    # One server per interpreter and per clikd source tree: a second checkout, or another venv,
    # gets its own, and never runs the code of the other.
    here = Path(__file__).resolve().parents[2]
    key = f"{PROTOCOL}\0{sys.executable}\0{here}".encode()
    return hashlib.sha256(key).hexdigest()[:16]


def socket_path() -> Path:
    """The server's socket for this installation."""
    return folder() / f"server-{_installation()}.sock"


def log_path() -> Path:
    """The server's log (its start, what it preloaded, why it stepped down)."""
    return folder() / f"server-{_installation()}.log"
