"""A normalising pass over the document before openapi-python-client sees it.

openapi-python-client refuses, or silently drops, some valid documents:
- a string enum whose values give the same Python member name (``ACTIVE`` and ``active`` both become
  ``ACTIVE``) stops it with "Duplicate key"; a value such as ``Active!`` gives a member name that is
  not an identifier. Such enums get ``x-enum-varnames`` (which it honours), chosen here: unique,
  valid, upper case, in document order.
- a parameter's ``required: optional`` (not a boolean) stops it; it is read as false (true only for
  "true", "yes", "required", "1"), and the note says so.
- a required request body offered in several media types makes it write code that does not
  import (an ``Unset`` it never imports); such a body is optional in the Python client.
- a boolean ``const`` comes out as code that does not parse; it becomes a plain boolean.
- two schemas whose class names collide after case conversion (``item`` and ``Item``) leave one of
  them out with a warning, and a schema named like the package's own classes (``Client``) shadows
  them. The later one is renamed (``Item2``, ``Client2``) and every ``$ref`` to it follows. A model
  with a property of its own name (``Foo.foo``) shadows itself in ``from_dict``: ``FooModel``.
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
    # openapi-python-client's own rule for a string member without x-enum-varnames; it checks
    # these for duplicates, then turns them into identifiers (where more can collide, silently).
    if isinstance(value, str) and value and value[0].isalpha():
        return value.upper()
    return f"VALUE_{index}"


def _alnum(name: str) -> str:
    """What survives every identifier conversion: letters and digits (two equal ones may collide)."""
    return re.sub(r"[^0-9A-Z]", "", name.upper())


def _member_name(value: object, index: int) -> str:
    text = re.sub(r"[^0-9A-Za-z]+", "_", str(value)).strip("_").upper()
    if not text:
        return f"VALUE_{index}"
    return f"VALUE_{text}" if text[0].isdigit() else text


def _fix_enum(schema: dict[str, Any], where: str, notes: list[str]) -> None:
    given = schema.get("enum")
    if not isinstance(given, list) or not any(isinstance(v, str) for v in given):
        return
    # null in an enum makes a nullable union of the enum of the other values: name those.
    values = [v for v in given if v is not None]
    current = schema.get("x-enum-varnames")
    if isinstance(current, list) and len(current) == len(values):
        return  # the document's own names stand, right or wrong
    members = [_opc_member(v, i) for i, v in enumerate(values)]
    if len({_alnum(m) for m in members}) == len(members):
        return
    chosen: list[str] = []
    for i, value in enumerate(values):
        base = _member_name(value, i)
        name, n = base, 2
        while _alnum(name) in {_alnum(c) for c in chosen} or keyword.iskeyword(name):
            name, n = f"{base}_{n}", n + 1
        chosen.append(name)
    schema["x-enum-varnames"] = chosen
    notes.append(f"{where}: enum member names chosen for Python ({', '.join(chosen)})")


def _fix_parameter(node: dict[str, Any], where: str, notes: list[str]) -> None:
    required = node.get("required")
    if "in" in node and "name" in node and required is not None and not isinstance(required, bool):
        node["required"] = str(required).strip().lower() in ("true", "yes", "required", "1")
        notes.append(f"{where}/required: {required!r} read as {str(node['required']).lower()}")


def _fix_request_body(node: dict[str, Any], where: str, notes: list[str]) -> None:
    body = node.get("requestBody")
    if not isinstance(body, dict):
        return
    content = body.get("content")
    if not isinstance(content, dict) or len(content) < 2 or body.get("required") is not True:
        return
    # A required body in several media types makes openapi-python-client annotate it with an
    # Unset it does not import; as optional, the same code imports it.
    body["required"] = False
    notes.append(f"{where}/requestBody: optional in Python (required, in {len(content)} media types)")


def _walk(node: Any, parts: list[object], notes: list[str]) -> None:
    if isinstance(node, dict):
        if "enum" in node:
            _fix_enum(node, "#" + pointer_of(parts), notes)
        _fix_parameter(node, "#" + pointer_of(parts), notes)
        if isinstance(node.get("const"), bool):
            # openapi-python-client writes a boolean const's check as `flag != Trueand ...`.
            value = node.pop("const")
            node.setdefault("type", "boolean")
            notes.append(f"#{pointer_of(parts)}: const {str(value).lower()} is a plain boolean in Python")
        _fix_request_body(node, "#" + pointer_of(parts), notes)
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
    # The generated package's own classes and modules: a model of that name would shadow them.
    taken: set[str] = {"client", "authenticatedclient", "response", "file", "unset", "errors", "types"}
    renamed: dict[str, str] = {}  # old name -> new name
    for name in list(schemas):
        folded = _fold(name)
        properties = (schemas[name] or {}).get("properties") if isinstance(schemas[name], dict) else None
        if isinstance(properties, dict) and folded in {_fold(str(p)) for p in properties}:
            # from_dict names its instance after the model's module: a property of the same name
            # (model Foo, property foo) shadows it.
            new = f"{name}Model"
            while _fold(new) in taken or new in schemas:
                new += "_"
            renamed[name] = new
            taken.add(_fold(new))
            continue
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
        notes.append(f"#/components/schemas/{old}: named {new} in Python (its class name is taken)")


def _texts_where_strings_are_due(doc: dict[str, Any]) -> None:
    """Numbers YAML made of texts the specification types as strings (``version: 1``, a server
    variable's ``enum: [80, 443]``), which openapi-python-client's model refuses."""
    info = doc.get("info")
    if isinstance(info, dict) and isinstance(info.get("version"), int | float):
        info["version"] = str(info["version"])
    for server in doc.get("servers") or []:
        for variable in ((server or {}).get("variables") or {}).values():
            if not isinstance(variable, dict):
                continue
            if isinstance(variable.get("enum"), list):
                variable["enum"] = [str(v) for v in variable["enum"]]
            if "default" in variable and not isinstance(variable["default"], str):
                variable["default"] = str(variable["default"])


def prepare(document: dict[str, Any]) -> Prepared:
    """A copy of ``document`` that openapi-python-client generates whole, and what was changed."""
    doc = copy.deepcopy(document)
    notes: list[str] = []
    if not isinstance(doc.get("paths"), dict):
        doc["paths"] = {}  # optional since OpenAPI 3.1; openapi-python-client requires it
    _texts_where_strings_are_due(doc)
    _rename_colliding_schemas(doc, notes)
    _walk(doc, [], notes)
    return Prepared(doc, notes)
