"""Python: openapi-python-client, through its command line (its supported interface), into a scratch
folder whose files then go through the same atomic writer, stamp and ``--check`` as the other languages."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from tasks.core.codegen.build import Builder
from tasks.core.codegen.writer import read_tree, scratch
from tasks.core.errors import ClikdError, ConfigError


class PythonGeneratorFailed(ClikdError):
    title = "openapi-python-client failed"


def opc_version() -> str:
    from importlib.metadata import version

    return version("openapi-python-client")


def _executable() -> str:
    candidate = Path(sys.executable).with_name("openapi-python-client")
    if candidate.exists():
        return str(candidate)
    raise ConfigError(
        "openapi-python-client is not installed beside this Python",
        "install clikd's dependencies: .venv/bin/pip install -e .",
    )


def package_name(project: str) -> str:
    return re.sub(r"\W+", "_", project).strip("_").lower() or "client"


def opc_config(doc: dict[str, Any], project: str, version: str) -> dict[str, Any]:
    overrides: dict[str, str] = {}
    for item in (doc.get("paths") or {}).values():
        for op in (item or {}).values() if isinstance(item, dict) else []:
            body = op.get("requestBody") if isinstance(op, dict) else None
            if not isinstance(body, dict):
                continue
            for ct in body.get("content") or {}:
                if Builder.classify(ct, None) == "binary" and ct != "application/octet-stream":
                    overrides[ct] = "application/octet-stream"
    return {
        "project_name_override": project,
        "package_name_override": package_name(project),
        "package_version_override": version,
        "post_hooks": [],
        "content_type_overrides": dict(sorted(overrides.items())),
    }


def generate_python(
    doc: dict[str, Any], project: str, version: str, *, timeout: float = 300
) -> dict[str, bytes]:
    """Run openapi-python-client on the document; return the client's files (relative path -> bytes)."""
    with scratch("clikd-gen-python-") as work:
        spec_path = work / "openapi.json"
        spec_path.write_text(json.dumps(doc, ensure_ascii=False))
        config_path = work / "config.json"
        config_path.write_text(json.dumps(opc_config(doc, project, version)))
        out = work / "client"
        env = {**os.environ, "NO_COLOR": "1", "TERM": "dumb", "COLUMNS": "200"}
        args = [_executable(), "generate", "--path", str(spec_path), "--output-path", str(out)]
        args += ["--config", str(config_path), "--meta", "pdm", "--overwrite"]
        try:
            proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env, check=False)
        except subprocess.TimeoutExpired:
            raise PythonGeneratorFailed(
                f"openapi-python-client did not finish in {timeout:.0f} s", "try a smaller document"
            ) from None
        if proc.returncode != 0 or not out.is_dir():
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
            raise PythonGeneratorFailed(
                f"openapi-python-client exited {proc.returncode}",
                "its output is below; the document may use something it does not support",
                details=tail.splitlines(),
            )
        return read_tree(out)
