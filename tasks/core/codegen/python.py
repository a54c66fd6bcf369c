"""Python: openapi-python-client, through its command line (its supported interface), into a scratch
folder whose files then go through the same atomic writer, stamp and ``--check`` as the other languages."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tasks.core.codegen.build import Builder
from tasks.core.codegen.pyprep import prepare, restore_wire_names
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


def _is_bytes(schema: Any) -> bool:
    """A body schema the Python client can send as a file: none, or a binary string.

    Overriding a plain string body's media type to octet-stream makes openapi-python-client treat
    the ``str`` as a ``File`` (``body.payload``), which does not type-check.
    """
    if not isinstance(schema, dict) or not schema:
        return True
    return (
        schema.get("format") in ("binary", "byte")
        or "contentMediaType" in schema
        or "contentEncoding" in schema
    )


def opc_config(doc: dict[str, Any], project: str, version: str) -> dict[str, Any]:
    overrides: dict[str, str] = {}
    for item in (doc.get("paths") or {}).values():
        for op in (item or {}).values() if isinstance(item, dict) else []:
            body = op.get("requestBody") if isinstance(op, dict) else None
            if not isinstance(body, dict):
                continue
            for ct, media in (body.get("content") or {}).items():
                schema = media.get("schema") if isinstance(media, dict) else None
                if (
                    Builder.classify(ct, None) == "binary"
                    and ct != "application/octet-stream"
                    and _is_bytes(schema)
                ):
                    overrides[ct] = "application/octet-stream"
    return {
        "project_name_override": project,
        "package_name_override": package_name(project),
        "package_version_override": version,
        "post_hooks": [],
        "content_type_overrides": dict(sorted(overrides.items())),
    }


@dataclass
class PythonClient:
    files: dict[str, bytes]
    notes: list[str] = field(default_factory=list)  # what the normalising pass changed, what it left out


_EXCEPTION = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception)): (.*)$")
_LEAVE_OUT = "inv gen.all --only swift,kotlin,typescript"
_ENUM = re.compile(r"in enum \w+\.(\w+)")


def summarise_failure(output: str, doc: dict[str, Any]) -> tuple[str, str, list[str]]:
    """The exception openapi-python-client ended with, the schema it names, and what to change.

    Its own output is a Rich traceback dozens of lines long; the last exception line (folded back
    together when Rich wrapped it) says what it refused.
    """
    lines = [line.rstrip() for line in output.splitlines()]
    found, match = next(
        ((i, m) for i in range(len(lines) - 1, -1, -1) if (m := _EXCEPTION.match(lines[i].strip()))),
        (0, None),
    )
    if match is None:
        # Its own report: "Error(s) encountered while generating ..." and the reasons below it.
        said = [line.strip() for line in lines if line.strip() and not line.startswith("If you believe")]
        start = next((i for i, line in enumerate(said) if line.startswith("Error(s) encountered")), None)
        reasons = said[start + 1 :][:6] if start is not None else said[-6:]
        first = reasons[0] if reasons else "it stopped without saying why"
        hint = "change the construct it names in the document, or leave Python out for now: "
        return f"openapi-python-client refused the document: {first}", hint + _LEAVE_OUT, reasons[1:]
    text = " ".join([match.group(2), *(line.strip() for line in lines[found + 1 :] if line.strip())])
    details: list[str] = []
    enum = _ENUM.search(text)
    schemas = (doc.get("components") or {}).get("schemas") or {}
    if enum:
        named = next((k for k in schemas if k.lower() == enum.group(1).lower()), enum.group(1))
        details.append(f"schema: #/components/schemas/{named}")
    hint = "change the construct it names in the document, or leave Python out for now: " + _LEAVE_OUT
    return f"openapi-python-client refused the document: {match.group(1)}: {text}", hint, details


def _warnings(output: str) -> list[str]:
    """What openapi-python-client left out of a client it did generate, one line each."""
    found = []
    for line in output.splitlines():
        text = line.strip()
        if text.startswith(("Unable to parse", "WARNING parsing")) and text not in found:
            found.append(f"left out by openapi-python-client: {text}")
    return found


_UNABLE = re.compile(r"^Unable to (?:parse|process) schema (/components/schemas/.+?):?$")
_REMOVED = re.compile(r"^/components/schemas/\S+$")
# Reasons that only say a schema it needs was left out: freeing that one brings this one back.
_CASCADE = ("Could not find reference", "was not processed")
_ROUNDS = 6


def _schema_name(pointer: str) -> str:
    return pointer.removeprefix("/components/schemas/").replace("~1", "/").replace("~0", "~")


def left_out_schemas(output: str) -> list[str]:
    """The component schemas openapi-python-client left out for a reason of their own.

    When it only says that other schemas were left out because they refer to one of these, those
    are not named: they come back once these are free-form. Only when every one is such a
    dependant (a cycle) are they all named.
    """
    lines = [line.strip() for line in output.splitlines()]
    roots: list[str] = []
    every: list[str] = []
    for i, line in enumerate(lines):
        unable = _UNABLE.match(line)
        if unable:
            name = _schema_name(unable.group(1))
            reason = next((text for text in lines[i + 1 : i + 4] if text), "")
            if name not in every:
                every.append(name)
            if not any(c in reason for c in _CASCADE) and name not in roots:
                roots.append(name)
        elif _REMOVED.match(line) and _schema_name(line) not in every:
            every.append(_schema_name(line))
    return roots or every


def free_form(doc: dict[str, Any], names: list[str]) -> list[str]:
    """Replace the named schemas by free-form ones (an object of any properties, or any value).

    openapi-python-client leaves a schema it cannot parse out of the client but still imports its
    module wherever another model refers to it: the package does not import. A free-form schema
    keeps the client whole; the notes name every schema typed this way.
    """
    schemas = (doc.get("components") or {}).get("schemas") or {}
    notes = []
    for said in names:
        # An inline schema is named after its component: "Component_Its title".
        owners = [k for k in schemas if said == k or said.startswith(f"{k}_")]
        name = max(owners, key=len) if owners else said
        old = schemas.get(name)
        if not isinstance(old, dict) or old.get("x-clikd-free-form"):
            continue
        object_like = old.get("type") == "object" or "properties" in old or "allOf" in old
        new: dict[str, Any] = {"x-clikd-free-form": True}
        if object_like:
            new.update(type="object", additionalProperties=True)
        for key in ("title", "description"):  # the title names the class: keep the name it had
            if isinstance(old.get(key), str):
                new[key] = old[key]
        schemas[name] = new
        kind = "a dict of any properties" if object_like else "any value"
        notes.append(f"#/components/schemas/{name}: typed as {kind} in Python (opc could not parse it)")
    return notes


def _run_opc(
    work: Path, doc: dict[str, Any], project: str, version: str, timeout: float
) -> tuple[int, str, Path]:
    spec_path = work / "openapi.json"
    spec_path.write_text(json.dumps(doc, ensure_ascii=False))
    config_path = work / "config.json"
    config_path.write_text(json.dumps(opc_config(doc, project, version)))
    out = work / "client"
    env = {**os.environ, "NO_COLOR": "1", "TERM": "dumb", "COLUMNS": "400"}
    args = [_executable(), "generate", "--path", str(spec_path), "--output-path", str(out)]
    args += ["--config", str(config_path), "--meta", "pdm", "--overwrite"]
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env, check=False)
    except subprocess.TimeoutExpired:
        raise PythonGeneratorFailed(
            f"openapi-python-client did not finish in {timeout:.0f} s", "try a smaller document"
        ) from None
    return proc.returncode, proc.stdout + "\n" + proc.stderr, out


def generate_python(doc: dict[str, Any], project: str, version: str, *, timeout: float = 300) -> PythonClient:
    """Run openapi-python-client on the (normalised) document; the client's files and the notes."""
    prepared = prepare(doc)
    notes = list(prepared.notes)
    with scratch("clikd-gen-python-") as work:
        for _ in range(_ROUNDS):
            code, output, out = _run_opc(work, prepared.document, project, version, timeout)
            if code != 0 or not out.is_dir():
                message, hint, details = summarise_failure(output, prepared.document)
                raise PythonGeneratorFailed(message, hint or None, details=details)
            freed = free_form(prepared.document, left_out_schemas(output))
            if not freed:
                break
            notes += freed
        files = restore_wire_names(read_tree(out), prepared.wire)
        return PythonClient(files, [*notes, *_warnings(output)])
