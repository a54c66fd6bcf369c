"""A normalising pass over the document before openapi-python-client sees it.

openapi-python-client refuses, or silently drops, some valid documents:
- a string enum whose values give the same Python member name (``ACTIVE`` and ``active`` both become
  ``ACTIVE``) stops it with "Duplicate key"; a value such as ``Active!`` gives a member name that is
  not an identifier. Such enums get ``x-enum-varnames`` (which it honours), chosen here: unique,
  valid, upper case, in document order.
- two schemas whose class names collide after case conversion (``item`` and ``Item``) leave one of
  them out with a warning. The later one is renamed (``Item2``) and every ``$ref`` to it follows.
The pass works on a copy and says what it changed, so the result can tell the user.
"""

from __future__ import annotations

import copy
import keyword
import re
from dataclasses import dataclass, field
from typing import Any

from tasks.core.codegen.errors import pointer_of

_SCHEMAS = "#/components/schemas/"


@dataclass
class Prepared:
    document: dict[str, Any]
    notes: list[str] = field(default_factory=list)


def _fold(name: str) -> str:
    """What a name keeps through opc's case conversion: its letters and digits, lower-cased."""
    return re.sub(r"[^0-9a-z]", "", name.lower())


def _ref(name: str) -> str:
    return _SCHEMAS + name.replace("~", "~0").replace("/", "~1")


def _opc_member(value: object, index: int) -> str:
    # openapi-python-client's own rule for a string member without x-enum-varnames.
    if isinstance(value, str) and value and value[0].isalpha():
        return value.upper()
    return f"VALUE_{index}"


def _member_name(value: object, index: int) -> str:
    text = re.sub(r"[^0-9A-Za-z]+", "_", str(value)).strip("_").upper()
    if not text:
        return f"VALUE_{index}"
    return f"VALUE_{text}" if text[0].isdigit() else text


def _fix_enum(schema: dict[str, Any], where: str, notes: list[str]) -> None:
    values = schema.get("enum")
    if not isinstance(values, list) or not any(isinstance(v, str) for v in values):
        return
    if any(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return  # a mixed enum is not an enum class for openapi-python-client
    current = schema.get("x-enum-varnames")
    if isinstance(current, list) and len(current) == len(values):
        return
    members = [_opc_member(v, i) for i, v in enumerate(values)]
    clean = len(set(members)) == len(members) and all(
        m.isidentifier() and not keyword.iskeyword(m) for m in members
    )
    if clean:
        return
    chosen: list[str] = []
    for i, value in enumerate(values):
        base = _member_name(value, i)
        name, n = base, 2
        while name in chosen or keyword.iskeyword(name):
            name, n = f"{base}_{n}", n + 1
        chosen.append(name)
    schema["x-enum-varnames"] = chosen
    notes.append(f"{where}: enum member names chosen for Python ({', '.join(chosen)})")


def _walk(node: Any, parts: list[object], notes: list[str]) -> None:
    if isinstance(node, dict):
        if "enum" in node:
            _fix_enum(node, "#" + pointer_of(parts), notes)
        for key, value in node.items():
            _walk(value, [*parts, key], notes)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _walk(value, [*parts, i], notes)


def _rewrite_refs(node: Any, renames: dict[str, str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref in renames:
            node["$ref"] = renames[ref]
        for value in node.values():
            _rewrite_refs(value, renames)
    elif isinstance(node, list):
        for value in node:
            _rewrite_refs(value, renames)


def _rename_colliding_schemas(doc: dict[str, Any], notes: list[str]) -> None:
    schemas = (doc.get("components") or {}).get("schemas")
    if not isinstance(schemas, dict):
        return
    taken: set[str] = set()
    renamed: dict[str, str] = {}  # old name -> new name
    for name in list(schemas):
        folded = _fold(name)
        if folded not in taken:
            taken.add(folded)
            continue
        n = 2
        while _fold(f"{name}{n}") in taken or f"{name}{n}" in schemas:
            n += 1
        renamed[name] = f"{name}{n}"
        taken.add(_fold(f"{name}{n}"))
    if not renamed:
        return
    # Keep the order of components/schemas, with the new names in place of the old.
    doc["components"]["schemas"] = {renamed.get(k, k): v for k, v in schemas.items()}
    _rewrite_refs(doc, {_ref(old): _ref(new) for old, new in renamed.items()})
    for old, new in renamed.items():
        notes.append(f"#/components/schemas/{old}: named {new} in Python (its class name collides)")


def prepare(document: dict[str, Any]) -> Prepared:
    """A copy of ``document`` that openapi-python-client generates whole, and what was changed."""
    doc = copy.deepcopy(document)
    notes: list[str] = []
    _rename_colliding_schemas(doc, notes)
    _walk(doc, [], notes)
    return Prepared(doc, notes)
