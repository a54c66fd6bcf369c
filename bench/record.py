"""Write one section of BENCHMARKS.md, leaving the other sections as they are."""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FILE = ROOT / "BENCHMARKS.md"


def user_environ() -> dict[str, str]:
    """This process's environment as a user's shell would have it: bytecode caching on.

    The sandboxes these benchmarks run in may set PYTHONDONTWRITEBYTECODE, which makes every
    command compile clikd's modules from source (~0.1 s): nobody runs clikd like that.
    """
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.strip()
    return (
        f"{platform.system()} {platform.release()}, {os.cpu_count()} cores ({cpu}), {mem:.0f} GiB, "
        f"Python {platform.python_version()}, commit {commit or 'uncommitted'}"
    )


def write_section(key: str, title: str, body: str) -> None:
    """Replace (or append) the section between ``<!-- key -->`` markers."""
    today = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    block = (
        f"<!-- {key} -->\n## {title}\n\nMeasured {today} on {machine()}.\n\n{body.strip()}\n<!-- /{key} -->"
    )
    heading = "# Benchmarks\n\nEach section is written by the script named in it.\n"
    text = FILE.read_text(encoding="utf-8") if FILE.exists() else heading
    pattern = re.compile(rf"<!-- {re.escape(key)} -->.*?<!-- /{re.escape(key)} -->", re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _m: block, text)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    FILE.write_text(text, encoding="utf-8")
