"""The torture documents (tests/gen/torture) give unique, valid, non-keyword identifiers in every
language, disambiguated in document order. test_compile.py compiles their clients with the corpus."""

from __future__ import annotations

from pathlib import Path

import pytest

from tasks.core.codegen import naming
from tasks.core.codegen.build import build_api
from tasks.core.codegen.errors import SpecError
from tasks.core.codegen.model import Api
from tasks.core.codegen.spec import SpecSource, load

TORTURE = Path(__file__).resolve().parent / "torture"
DOCUMENTS = sorted(p for p in TORTURE.iterdir() if p.suffix in (".yaml", ".json"))
LANGUAGES = ("swift", "kotlin", "typescript")


def api_of(name: str) -> Api:
    # clikd's loader, which keeps YAML keys such as `null:` and `true:` as strings
    return build_api(load(SpecSource("file", str(TORTURE / name)), timeout=5).document, source=name)


def test_the_suite_is_there() -> None:
    assert [p.name for p in DOCUMENTS] == [
        "empty-components.yaml",
        "names.yaml",
        "no-components.json",
        "python-and-more.yaml",
        "shapes.yaml",
    ]


def _unique(names: list[str], what: str) -> None:
    folded = [n.casefold() for n in names]
    twice = sorted({n for n in folded if folded.count(n) > 1})
    assert not twice, f"{what}: {twice}"


def _valid(name: str, what: str) -> None:
    for lang in LANGUAGES:
        escaped = naming.escape_member(name, lang)
        assert escaped.strip("`") not in naming.KEYWORDS[lang] or escaped.startswith("`"), (what, lang)
        assert escaped.strip("`")[:1].isdigit() is False, (what, escaped)


@pytest.mark.parametrize("doc", DOCUMENTS, ids=lambda p: p.name)
def test_every_identifier_is_unique_and_usable(doc: Path) -> None:
    api = api_of(doc.name)
    _unique([m.name for m in api.models], "model names (case-insensitive: one file each)")
    _unique([s.name for s in api.services], "service names")
    for m in api.models:
        assert m.name not in naming.RESERVED_TYPE_NAMES and not m.name[0].isdigit(), m.name
        assert len({p.name for p in m.properties}) == len(m.properties), m.name
        assert len({c.name for c in m.cases}) == len(m.cases), m.name
        assert len({v.name for v in m.variants}) == len(m.variants), m.name
        for p in m.properties:
            _valid(p.name, f"{m.name}.{p.name}")
    for s in api.services:
        assert len({op.name for op in s.operations}) == len(s.operations), s.name
        for op in s.operations:
            _valid(op.name, op.pointer)
            assert len({p.name for p in op.parameters}) == len(op.parameters), op.pointer
            for param in op.parameters:
                _valid(param.name, f"{op.pointer} {param.wire}")


def test_collisions_are_numbered_in_document_order() -> None:
    api = api_of("names.yaml")
    by_pointer = {m.pointer: m.name for m in api.models}
    assert by_pointer["/components/schemas/item"] == "Item"
    assert by_pointer["/components/schemas/Item"] == "Item2"
    assert by_pointer["/components/schemas/ITEM"] == "Item3"
    assert by_pointer["/components/schemas/String"] == "StringModel"
    collide = api.model("Collide")
    assert [p.name for p in collide.properties][:3] == ["userId", "userId2", "userId3"]
    assert [p.wire for p in collide.properties][:3] == ["userId", "user_id", "user-id"]
    status = api.model("Status")
    assert [c.value for c in status.cases][:3] == ["active", "ACTIVE", "Active"]
    assert [c.name for c in status.cases][:3] == ["active", "active2", "active3"]


def test_parameters_with_brackets_and_dashes_keep_their_wire_names() -> None:
    api = api_of("names.yaml")
    listing = next(op for op in api.operations if op.method == "GET" and op.path == "/items")
    names = {p.wire: p.name for p in listing.parameters}
    assert names["filter[status]"] == "filterStatus"
    assert names["filter[Status]"] == "filterStatus2"
    assert names["page[size]"] == "pageSize"
    assert names["x-request-id"] == "xRequestId"


def test_missing_and_duplicate_operation_ids_get_distinct_method_names() -> None:
    api = api_of("names.yaml")
    methods = sorted((op.service, op.name) for op in api.operations)
    assert len(set(methods)) == len(methods), methods
    users = sorted(op.name for op in api.operations if op.path.startswith("/users"))
    assert users == ["getUser", "getUser2", "getUser3"]


def test_operations_never_take_a_member_every_object_has() -> None:
    api = api_of("python-and-more.yaml")
    names = {op.operation_id: op.name for op in api.operations}
    assert names["constructor"] == "constructor2"  # a TypeScript class cannot have a method `constructor`
    assert names["toString"] == "toString2"  # Kotlin: an accidental override of Any.toString()
    assert names["__init__"] == "init2"
    for op in api.operations:
        assert op.name not in naming.RESERVED_METHOD_NAMES, op.pointer


def test_a_schema_that_is_only_itself_is_refused_at_its_pointer() -> None:
    doc = {
        "openapi": "3.0.3",
        "info": {"title": "T", "version": "1"},
        "paths": {},
        "components": {
            "schemas": {
                "A": {"$ref": "#/components/schemas/B"},
                "B": {"$ref": "#/components/schemas/A"},
            }
        },
    }
    with pytest.raises(SpecError) as caught:
        build_api(doc, source="cycle.yaml")
    assert caught.value.pointer in ("/components/schemas/A", "/components/schemas/B")
    assert "reference cycle" in caught.value.message
