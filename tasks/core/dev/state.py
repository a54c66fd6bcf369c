"""env.dev's last cycle per service, kept beside clikd.toml for env.status (.clikd/dev/)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from tasks.core.dev.model import Cycle, DevMode


def _path(root: Path, slug: str, service: str) -> Path:
    return root / ".clikd" / "dev" / f"{slug}-{service}.json"


def record(root: Path, slug: str, service: str, source: str, cycle: Cycle) -> None:
    path = _path(root, slug, service)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"source": source, "cycle": asdict(cycle)}))
        tmp.replace(path)
    except OSError:
        pass  # status loses the last cycle, the session goes on


def dev_mode(root: Path, slug: str, service: str, source: str) -> DevMode:
    """The dev mode of a service whose container carries the dev label (source from the label)."""
    mode = DevMode(service, source)
    try:
        data = json.loads(_path(root, slug, service).read_text())
    except (OSError, ValueError):
        return mode
    cycle = data.get("cycle") or {}
    mode.last_action = str(cycle.get("action", ""))
    mode.last_result = str(cycle.get("result", ""))
    mode.last_at = str(cycle.get("ts", ""))
    return mode
