"""Where the server of this clikd installation listens, and where it logs.

Plain strings and ``os.path``: a served command imports this before anything else, and pathlib
with its imports would be a tenth of what such a command costs.
"""

from __future__ import annotations

import os
import sys
import zlib

PROTOCOL = 1
IDLE_SECONDS = 900.0  # an idle server exits after this long without a command


def folder() -> str:
    """The user's private folder for clikd's sockets (created 0700), in the runtime dir when there is one."""
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    base = runtime if runtime and os.path.isdir(runtime) else os.environ.get("TMPDIR") or "/tmp"  # noqa: S108 - made private, checked below
    return os.path.join(base, f"clikd-{os.getuid()}")


def ensure_folder() -> str:
    """:func:`folder`, made if missing; refused (OSError) when it is not this user's and private."""
    path = folder()
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    info = os.stat(path)
    if info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise PermissionError(f"{path} is not private to this user")
    return path


def _installation() -> str:
    # One server per interpreter and per clikd source tree: a second checkout, or another venv,
    # gets its own and never runs the other's code. (A checksum, not a digest: hashlib's import
    # costs more than the whole client, and nothing here needs to resist a forger.)
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    key = f"{PROTOCOL}\0{sys.executable}\0{here}".encode()
    return f"{zlib.crc32(key):08x}{zlib.adler32(key):08x}"


def socket_path() -> str:
    """The server's socket for this installation."""
    return os.path.join(folder(), f"server-{_installation()}.sock")


def log_path() -> str:
    """The server's log (its start, what it preloaded, why it stepped down)."""
    return os.path.join(folder(), f"server-{_installation()}.log")
