"""Compile gates over the generated clients of the Clikd spec and of every corpus document.

The torture suite (tests/gen/torture, written for this project) rides along in the same compiler runs.
Each language's gate runs once over all documents (tests/gen/gates.py: one tsc, one Kotlin compiler, one
tree-sitter pass). Documents that are not valid OpenAPI are listed in codegen/known-failures.toml under
``[invalid]`` with the pointer the validator names; they are still generated (validation off) and must
still pass every gate. Documents under ``[failures]`` are expected to fail the named gates, and the test
fails when one starts passing, so the list only shrinks.

Needs the toolchains of tests/infra/toolchains/up (a missing one fails, never skips).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from msgspec.structs import replace

from tasks.core.codegen.errors import SpecError
from tasks.core.codegen.run import generate
from tasks.core.codegen.spec import SpecSource, load, validate
from tasks.core.config.schema import Settings
from tests.gen import gates
from tests.gen.conftest import CLIKD_SPEC, REPO, corpus_documents

KNOWN = REPO / "codegen" / "known-failures.toml"
LANGUAGES = ("swift", "kotlin", "typescript")


def known() -> dict[str, Any]:
    with KNOWN.open("rb") as f:
        return tomllib.load(f)


TORTURE = Path(__file__).resolve().parent / "torture"


def torture_documents() -> list[Path]:
    """The hostile documents of tests/gen/torture (hostile names, shapes, empty components)."""
    return sorted(p for p in TORTURE.iterdir() if p.suffix in (".yaml", ".yml", ".json"))


def slug(path: Path) -> str:
    prefix = "torture_" if path.parent == TORTURE else ""
    return prefix + re.sub(r"[^a-z0-9]+", "_", path.stem.lower()).strip("_")


def swift_module(name: str) -> str:
    return "Corpus" + name.title().replace("_", "")


def documents() -> list[Path]:
    return [CLIKD_SPEC, *corpus_documents(), *torture_documents()]


@pytest.fixture(scope="session")
def clients(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Path]]:
    """language -> document name -> generated client folder."""
    root = tmp_path_factory.mktemp("corpus")
    invalid = known().get("invalid", {})
    out: dict[str, dict[str, Path]] = {lang: {} for lang in LANGUAGES}
    base = Settings()
    for doc in documents():
        name = slug(doc)
        clients = replace(
            base.clients,
            kotlin=replace(base.clients.kotlin, package=f"corpus.{name}"),
            swift=replace(base.clients.swift, package=swift_module(name)),
            typescript=replace(base.clients.typescript, package=f"@corpus/{name}"),
        )
        settings = replace(base, clients=clients)
        # validation is its own test below; here every document gets generated
        generate(settings, REPO, list(LANGUAGES), spec=str(doc), output=str(root / name), validate=False)
        for lang in LANGUAGES:
            out[lang][doc.name] = root / name / lang
    del invalid
    return out


def test_known_failures_file_is_short_and_explained() -> None:
    data = known()
    names = {d.name for d in documents()}
    for section in ("invalid", "failures"):
        for doc, entry in data.get(section, {}).items():
            assert doc in names, f"{section}.{doc}: no such corpus document"
            assert entry.get("reason"), f"{section}.{doc}: give the reason"
    assert len(data.get("failures", {})) <= 3


@pytest.mark.parametrize("doc", documents(), ids=lambda p: p.name)
def test_validation_verdict(doc: Path) -> None:
    """Valid documents validate; the ones listed as invalid fail at the pointer the file records."""
    entry = known().get("invalid", {}).get(doc.name)
    loaded = load(SpecSource("file", str(doc)), timeout=5)
    if entry is None:
        validate(loaded.document, source=doc.name)
        return
    with pytest.raises(SpecError) as caught:
        validate(loaded.document, source=doc.name)
    assert caught.value.pointer == entry["pointer"], caught.value.message


def test_the_error_named_is_the_first_in_the_documents_order() -> None:
    """Of several errors the one written first is named, in whatever order the backend finds them."""
    doc: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/a": {
                "get": {
                    "responses": {"200": {"description": "ok"}},
                    "parameters": [{"name": "q", "in": "query", "required": "no"}],
                }
            }
        },
        "servers": [{"url": "http://x", "variables": {"port": {"default": "80", "enum": [80]}}}],
    }
    with pytest.raises(SpecError) as caught:
        validate(doc, source="two-errors")
    assert caught.value.pointer == "/paths/~1a/get/parameters/0"
    doc = {"servers": doc.pop("servers"), **doc}
    with pytest.raises(SpecError) as caught:
        validate(doc, source="two-errors")
    assert caught.value.pointer.startswith("/servers/0/variables/port"), caught.value.pointer


def _gate(language: str, result: gates.GateResult, folders: dict[str, Path]) -> None:
    expected = {
        doc for doc, entry in known().get("failures", {}).items() if language in entry.get("gates", [])
    }
    failed = {doc for doc, folder in folders.items() if str(folder) in result.failures}
    unexpected = failed - expected
    report = [f"{doc}:\n{result.failures[str(folders[doc])][:4000]}" for doc in sorted(unexpected)]
    assert not unexpected, "\n\n".join(report)
    now_passing = expected - failed
    assert not now_passing, f"now passing, remove from codegen/known-failures.toml: {sorted(now_passing)}"


def test_typescript_clients_type_check(clients: dict[str, dict[str, Path]]) -> None:
    folders = clients["typescript"]
    _gate("typescript", gates.typescript_check(list(folders.values())), folders)


def test_swift_clients_parse(clients: dict[str, dict[str, Path]]) -> None:
    folders = clients["swift"]
    _gate("swift", gates.swift_parse(list(folders.values())), folders)


@pytest.mark.early
def test_kotlin_clients_compile(clients: dict[str, dict[str, Path]]) -> None:
    folders = clients["kotlin"]
    _gate("kotlin", gates.kotlin_compile(list(folders.values()), timeout=3600), folders)


def test_python_client_imports(tmp_path: Path) -> None:
    generate(Settings(), REPO, ["python"], output=str(tmp_path / "python"), validate=False)
    result = gates.python_import(tmp_path / "python", "clikd_api")
    assert result.ok, result.output
