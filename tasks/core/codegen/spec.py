"""Reading the OpenAPI document: from a file, a URL or the running API, then validating it.

Sources, in order of precedence:
  * ``--spec PATH`` or ``--spec URL`` (http/https);
  * ``--spec live``: the running API's document at ``[codegen] openapi_endpoint``;
  * otherwise the project's contract, ``[codegen] spec`` (``codegen/spec/clikd.openapi.yaml``).

The file is the default because it is what the repository reviews and versions; the live document is
what a developer compares against while changing the API.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tasks.core.codegen.errors import SpecError, pointer_of
from tasks.core.errors import ConfigError, Unavailable

LIVE = "live"


@dataclass(frozen=True)
class SpecSource:
    """Where a document comes from: ``kind`` is ``file``, ``url`` or ``live``."""

    kind: str
    location: str

    def __str__(self) -> str:
        return self.location


@dataclass
class LoadedSpec:
    source: SpecSource
    document: dict[str, Any]
    raw: bytes
    digest: str  # sha256 of the canonical JSON form: the same API hashes the same from YAML or JSON


def resolve_source(spec: str, *, root: Path, default_file: str, endpoint: str) -> SpecSource:
    if spec == LIVE:
        return SpecSource("live", endpoint)
    if spec.startswith(("http://", "https://")):
        return SpecSource("url", spec)
    path = Path(spec or default_file)
    if not path.is_absolute():
        path = (Path.cwd() / path) if spec else (root / path)
    return SpecSource("file", str(path.resolve()))


def read_source(source: SpecSource, *, timeout: float) -> bytes:
    if source.kind == "file":
        path = Path(source.location)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise ConfigError(
                f"OpenAPI document {path} does not exist",
                "pass --spec PATH|URL, or --spec live for the running API, or set [codegen] spec",
            ) from None
    return fetch(source.location, timeout=timeout, live=source.kind == "live")


def fetch(url: str, *, timeout: float, live: bool) -> bytes:
    import urllib.error
    import urllib.request

    if not url.startswith(("http://", "https://")):
        raise ConfigError(
            f"{url} is not an http(s) URL", "set [codegen] openapi_endpoint to http://host:port/path"
        )
    accept = {"Accept": "application/json, application/yaml;q=0.9"}
    request = urllib.request.Request(url, headers=accept)  # noqa: S310  (http/https checked above)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (http/https only)
            data: bytes = response.read()
            return data
    except urllib.error.HTTPError as error:
        raise Unavailable(
            f"{url} answered HTTP {error.code} instead of an OpenAPI document",
            "check the URL; for the running API check [codegen] openapi_endpoint",
        ) from None
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        reason = getattr(error, "reason", error)
        hint = (
            "start the stack with `inv env.start` (or `--only api`), or generate from the file in "
            "codegen/spec by leaving out --spec live"
            if live
            else "check the URL and that the server is up, or pass --spec PATH"
        )
        raise Unavailable(f"could not fetch the OpenAPI document from {url}: {reason}", hint) from None


def parse(raw: bytes, *, source: str) -> dict[str, Any]:
    text = raw.decode("utf-8-sig", errors="replace")
    doc: Any
    if text.lstrip().startswith("{"):
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as error:
            raise SpecError(
                f"not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})", "", source=source
            ) from None
    else:
        import yaml

        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        try:
            doc = yaml.load(text, Loader=loader)  # noqa: S506 (a safe loader)
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
            raise SpecError(f"not valid YAML{where}: {error}", "", source=source) from None
    if not isinstance(doc, dict):
        raise SpecError("the document is not a mapping", "", source=source)
    version = str(doc.get("openapi", ""))
    if not version.startswith("3."):
        found = f"swagger {doc['swagger']}" if "swagger" in doc else f"openapi {version or '(missing)'}"
        raise SpecError(
            f"unsupported document version: {found}; clikd generates from OpenAPI 3.0 and 3.1",
            "/openapi",
            source=source,
            hint="convert Swagger 2 documents to OpenAPI 3 first (e.g. with swagger2openapi)",
        )
    clean: dict[str, Any] = _stringify_keys(doc)
    return clean


def _stringify_keys(value: Any) -> Any:
    # YAML turns unquoted response codes (200) and some names into ints; OpenAPI keys are strings.
    if isinstance(value, dict):
        return {str(k): _stringify_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_stringify_keys(v) for v in value]
    if isinstance(value, dt.date):  # YAML reads unquoted 2021-01-01 as a date; JSON has strings
        return value.isoformat()
    return value


def canonical_digest(doc: dict[str, Any]) -> str:
    blob = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def load(source: SpecSource, *, timeout: float) -> LoadedSpec:
    raw = read_source(source, timeout=timeout)
    doc = parse(raw, source=str(source))
    return LoadedSpec(source, doc, raw, canonical_digest(doc))


def check_refs(doc: dict[str, Any], *, source: str) -> None:
    """Every ``$ref`` is local and resolves and no ``required`` repeats a name; else a SpecError naming
    the pointer (the validator cannot say where these are in the document)."""
    stack: list[tuple[Any, list[object]]] = [(doc, [])]
    while stack:
        node, path = stack.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                if not ref.startswith("#"):
                    raise SpecError(
                        f"external $ref {ref!r} is not supported; bundle the document into one file",
                        pointer_of(path),
                        source=source,
                        hint="bundle it first (e.g. `redocly bundle`); nothing was written",
                    )
                if _resolve(doc, ref) is _MISSING:
                    raise SpecError(
                        f"$ref {ref!r} does not resolve", pointer_of([*path, "$ref"]), source=source
                    )
            required = node.get("required")
            if isinstance(required, list) and len(required) != len({str(r) for r in required}):
                # the validator reports this relative to the schema; name the place in the document
                twice = ", ".join(sorted({str(r) for r in required if required.count(r) > 1}))
                where = pointer_of([*path, "required"])
                raise SpecError(f"`required` lists {twice} more than once", where, source=source)
            stack.extend((v, [*path, k]) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((v, [*path, i]) for i, v in enumerate(node))


_MISSING = object()


def _resolve(doc: Any, ref: str) -> Any:
    node = doc
    for token in ref[1:].split("/")[1:] if ref not in ("#", "#/") else []:
        key = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            return _MISSING
    return node


def _cache_dir() -> Path:
    import os

    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "clikd" / "codegen" / "validated"


def _cache_marker(digest: str) -> Path:
    return _cache_dir() / f"{digest}-{_validator_version()}"


def _validator_version() -> str:
    from importlib.metadata import version

    return version("openapi-spec-validator")


def validate_cached(doc: dict[str, Any], digest: str, *, source: str) -> bool:
    """:func:`validate`, remembered per document digest (and validator version) in the user's cache.

    A document that passed once is not validated again: validation is most of the cost of generating.
    Returns True when the verdict came from the cache.
    """
    marker = _cache_marker(digest)
    if marker.exists():
        return True
    validate(doc, source=source)
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(source + "\n")
    except OSError:
        pass  # a read-only home only costs the next run a validation
    return False


def start_validation(doc: dict[str, Any], digest: str, *, source: str) -> Callable[[], None]:
    """Validate in a forked process while the caller renders; the returned function waits for the verdict
    and raises its SpecError. Validation is the slowest step for a small spec and needs no result but
    yes or no, so on a second core it costs no wall time. Without ``fork`` it runs inline."""
    import multiprocessing
    import sys

    if _cache_marker(digest).exists() or sys.platform != "linux":
        validate_cached(doc, digest, source=source)
        return lambda: None
    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_validate_child, args=(send, doc, digest, source), daemon=True)
    child.start()
    send.close()

    def wait() -> None:
        try:
            verdict = receive.recv()
        except EOFError:
            verdict = ("the validator process died", "", None)
        finally:
            child.join()
        if verdict is not None:
            message, pointer, hint = verdict
            raise SpecError(message, pointer, source=source, hint=hint)

    return wait


def _validate_child(send: Any, doc: dict[str, Any], digest: str, source: str) -> None:
    try:
        validate_cached(doc, digest, source=source)
        send.send(None)
    except SpecError as error:
        send.send((error.detail, error.pointer, error.hint))
    except BaseException as error:
        send.send((f"the validator failed: {error}", "", None))
    finally:
        send.close()


def validate(doc: dict[str, Any], *, source: str) -> None:
    """Check every $ref, then validate against the OpenAPI 3.0/3.1 rules (openapi-spec-validator)."""
    check_refs(doc, source=source)
    from openapi_spec_validator import OpenAPIV30SpecValidator, OpenAPIV31SpecValidator

    v31 = str(doc.get("openapi", "")).startswith("3.1")
    cls = OpenAPIV31SpecValidator if v31 else OpenAPIV30SpecValidator
    errors: list[tuple[list[Any], Any]] = []
    try:
        for e in itertools.islice(cls(doc).iter_errors(), _MAX_ERRORS):
            errors.append((list(getattr(e, "absolute_path", None) or getattr(e, "path", None) or []), e))
    except Exception as error:  # the validator failing is a spec error, not a crash
        # It can trip over what it found wrong already (a parameter without a name): those errors are the
        # verdict; its own failure only when it found nothing else.
        if not errors:
            message = f"the validator could not process the document: {error}"
            raise SpecError(message, "", source=source) from None
    if errors:
        # The validator's own order depends on its backend (jsonschema or jsonschema-rs, which
        # schemathesis brings in): the error reported is the first in the document's order, so one
        # document gives one verdict on every machine. One without a place says least, so it comes last.
        path, first = min(errors, key=lambda item: (not item[0], _document_order(doc, item[0])))
        message = str(getattr(first, "message", first)).splitlines()[0]
        raise SpecError(message[:300], pointer_of(path), source=source)


_MAX_ERRORS = 200


def _document_order(doc: Any, path: list[Any]) -> list[int]:
    """The position of ``path`` in ``doc`` as it was written: the index of each key or item on the way."""
    order: list[int] = []
    node = doc
    for step in path:
        if isinstance(node, dict):
            keys = list(node)
            order.append(keys.index(step) if step in node else len(keys))
            node = node.get(step)
        elif isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node):
            order.append(step)
            node = node[step]
        else:
            break
    return order
