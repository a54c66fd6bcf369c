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
- a property whose Python name is one the model module uses itself (``to_dict``, ``from_dict``,
  ``additional_properties``, a local of ``from_dict`` such as ``d``), or that collides with an
  earlier property of the same schema after case conversion (``item`` and ``Item``; opc then keeps
  ``Item``, which shadows the class ``Item``), breaks the module. Such a property gets another name
  in the document (``from_dict_field``, ``item_2``), and ``wire`` maps it back: the generated models
  are rewritten to read and write the property's real name (:func:`restore_wire_names`).
The pass works on a copy and says what it changed, so the result can tell the user.
"""

from __future__ import annotations

import builtins
import copy
import json
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
    wire: dict[str, str] = field(default_factory=dict)  # name given to opc -> the property's real name


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


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}


def _fix_default(node: dict[str, Any], where: str, notes: list[str]) -> None:
    """A ``default`` its own schema does not accept (``default: []`` on a string enum) makes
    openapi-python-client leave the schema out, and every schema that refers to it."""
    if "default" not in node or node["default"] is None:
        return
    value = node["default"]
    kind = node.get("type")
    fits = True
    if isinstance(kind, str) and kind in _JSON_TYPES:
        fits = isinstance(value, _JSON_TYPES[kind]) and not (kind != "boolean" and isinstance(value, bool))
    if fits and isinstance(node.get("enum"), list):
        fits = value in node["enum"]
    if not fits:
        del node["default"]
        notes.append(
            f"{where}/default: {json.dumps(value)} left out in Python (the schema does not accept it)"
        )


def _fix_union_titles(node: dict[str, Any], where: str, notes: list[str]) -> None:
    """Members of one union named alike (three ``title: array`` of different items) get one
    variable in the generated code, typed for the first; without the titles each gets its own."""
    for key in ("oneOf", "anyOf"):
        members = node.get(key)
        if not isinstance(members, list):
            continue
        folds = [_fold(t) for m in members if (t := _title(m)) is not None]
        twice = {f for f in folds if folds.count(f) > 1}
        for i, member in enumerate(members):
            title = _title(member)
            if title is not None and _fold(title) in twice:
                del member["title"]
                notes.append(
                    f"{where}/{key}/{i}: title {title!r} left out in Python (other members have it too)"
                )


def _plain(schema: Any) -> bool:
    """A schema the client passes through as it is: a primitive, or an array of them."""
    if not isinstance(schema, dict) or any(k in schema for k in ("$ref", "oneOf", "anyOf", "allOf")):
        return False
    if schema.get("type") == "array":
        return _plain(schema.get("items"))
    return schema.get("type") in ("string", "integer", "number", "boolean")


def _merge_union_arrays(node: dict[str, Any], where: str, notes: list[str]) -> None:
    """A union with several array members, one of them of objects, is written as one ``isinstance
    (x, list)`` branch typed for the first: the arrays become one array of the union of their items."""
    for key in ("oneOf", "anyOf"):
        members = node.get(key)
        if not isinstance(members, list):
            continue
        arrays = [m for m in members if isinstance(m, dict) and m.get("type") == "array" and "$ref" not in m]
        if len(arrays) < 2 or all(_plain(a.get("items")) for a in arrays):
            continue
        items: list[Any] = []
        for array in arrays:
            item = array.get("items")
            inner = (
                item.get("oneOf")
                if isinstance(item, dict) and set(item) <= {"oneOf", "description"}
                else None
            )
            for one in inner if isinstance(inner, list) else [item if item is not None else {}]:
                if one not in items:
                    items.append(one)
        merged = {"type": "array", "items": {"oneOf": items}}
        first = members.index(arrays[0])
        node[key] = [m for m in members if m not in arrays]
        node[key].insert(first, merged)
        notes.append(f"{where}/{key}: its {len(arrays)} arrays are one array of their items in Python")


def _walk(node: Any, parts: list[object], notes: list[str]) -> None:
    if isinstance(node, dict):
        _fix_union_titles(node, "#" + pointer_of(parts), notes)
        _merge_union_arrays(node, "#" + pointer_of(parts), notes)
        if "type" in node:
            _fix_default(node, "#" + pointer_of(parts), notes)
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


def _title(schema: Any) -> str | None:
    title = schema.get("title") if isinstance(schema, dict) else None
    return title if isinstance(title, str) and _fold(title) else None


def _drop_colliding_titles(schemas: dict[str, Any], notes: list[str]) -> None:
    """A component's class is named after its ``title`` when it has one; two classes of one name
    make openapi-python-client leave out the later schema and everything that refers to it. Such a
    title is dropped, so the class is named after the schema's key (unique in the document)."""
    keys = {_fold(str(k)) for k in schemas}
    seen: set[str] = set()
    for name, schema in schemas.items():
        title = _title(schema)
        if title is None or _fold(title) == _fold(str(name)):
            seen.add(_fold(str(name)))
            continue
        if _fold(title) in keys or _fold(title) in seen:
            del schema["title"]
            notes.append(
                f"#/components/schemas/{name}: class named after the key in Python (title {title!r} is taken)"
            )
            seen.add(_fold(str(name)))
        else:
            seen.add(_fold(title))


_NOT_SCHEMAS = frozenset({"example", "examples", "default", "enum", "const", "info", "externalDocs"})


def _drop_repeated_inline_titles(doc: dict[str, Any], notes: list[str]) -> None:
    """An inline schema's title can name its class too (a union member at the top of a component:
    ``title: Retention ratio truncation`` in two components gives two ``RetentionRatioTruncation``
    classes and the later is left out). A title an earlier class already has is dropped."""
    schemas = (doc.get("components") or {}).get("schemas")
    seen = {_fold(_title(v) or str(k)) for k, v in schemas.items()} if isinstance(schemas, dict) else set()

    def walk(node: Any, parts: list[object], top: bool) -> None:
        if isinstance(node, dict):
            title = _title(node)
            if title is not None and not top:
                if _fold(title) in seen:
                    del node["title"]
                    notes.append(f"#{pointer_of(parts)}: title {title!r} left out in Python (a class has it)")
                else:
                    seen.add(_fold(title))
            for key, value in node.items():
                if key not in _NOT_SCHEMAS and not str(key).startswith("x-"):
                    walk(value, [*parts, key], False)
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, [*parts, i], False)

    for key, value in doc.items():
        if key == "components" and isinstance(value, dict):
            for section, content in value.items():
                if section == "schemas" and isinstance(content, dict):
                    for name, schema in content.items():
                        walk(schema, ["components", "schemas", name], True)
                else:
                    walk(content, ["components", section], False)
        elif key not in _NOT_SCHEMAS:
            walk(value, [key], False)


def _rename_colliding_schemas(doc: dict[str, Any], notes: list[str]) -> None:
    schemas = (doc.get("components") or {}).get("schemas")
    if not isinstance(schemas, dict):
        return
    _drop_colliding_titles(schemas, notes)
    # The generated package's own classes and modules: a model of that name would shadow them.
    taken: set[str] = {"client", "authenticatedclient", "response", "file", "unset", "errors", "types"}
    renamed: dict[str, str] = {}  # old name -> new name
    for name in list(schemas):
        schema = schemas[name]
        folded = _fold(_title(schema) or name)
        properties = schema.get("properties") if isinstance(schema, dict) else None
        if isinstance(properties, dict) and folded in {_fold(str(p)) for p in properties}:
            # from_dict names its instance after the model's module: a property of the same name
            # (model Foo, property foo) shadows it. The class takes the (renamed) key's name.
            schema.pop("title", None)
            new = f"{name}Model"
            while _fold(new) in taken or new in schemas:
                new += "_"
            renamed[name] = new
            taken.add(_fold(new))
            continue
        if folded not in taken:
            taken.add(folded)
            continue
        if _title(schema) is not None:
            schema.pop("title")
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


# Names a generated model module uses itself: its methods, the field holding extra properties, and
# the locals of to_dict, to_multipart and from_dict. A property with one of these Python names
# replaces the method or the local.
_MODEL_OWN = frozenset(
    {
        "to_dict",
        "from_dict",
        "to_multipart",
        "additional_properties",
        "additional_keys",
        "d",
        "src_dict",
        "field_dict",
        "files",
        "prop",
        "prop_name",
        "prop_dict",
        "cls",
    }
)
_FIELD_PREFIX = "field_"  # openapi-python-client's default field_prefix


# Words openapi-python-client suffixes with "_" in attribute names (besides keywords).
_RESERVED = (set(dir(builtins)) | {"self", "true", "false", "datetime"}) - {"id"}
_DELIMITERS = " ._-"


def _python_name(name: str) -> str:
    """The attribute name openapi-python-client gives a property (its PythonIdentifier rule).

    Written here because importing openapi-python-client costs a third of a second, more than the
    whole pass; tests/unit/test_pyprep.py holds it against the library's own function.
    """
    kept = "".join(c for c in name if c.isidentifier() or c.isdecimal() or c in _DELIMITERS)
    spaced = " ".join(re.split("([A-Z]?[a-z]+)", kept)) if any(c.isupper() for c in kept) else kept
    words = re.findall(rf"[^{re.escape(_DELIMITERS)}]+", spaced)
    value = "_".join(words).lower()
    if value in _RESERVED or keyword.iskeyword(value):
        value += "_"
    if not value.isidentifier() or kept.startswith("_"):
        value = _FIELD_PREFIX + value
    return value


class _Renamer:
    """Gives properties that break their model module a name of their own; remembers the real one."""

    def __init__(self, doc: dict[str, Any], notes: list[str]) -> None:
        self.text = json.dumps(doc, default=str)
        self.notes = notes
        self.wire: dict[str, str] = {}

    def _free(self, stem: str, used: set[str], real: str) -> str:
        n = 1
        while True:
            new = _python_name(stem if n == 1 else f"{stem}_{n}")
            n += 1
            # Its own Python name, unused in the schema, and a string that appears nowhere else in
            # the document: the generated code is rewritten by that string.
            if (
                _python_name(new) == new
                and new not in used
                and f'"{new}"' not in self.text
                and self.wire.get(new, real) == real
            ):
                return new

    def schema(self, node: dict[str, Any], properties: dict[str, Any], where: str) -> None:
        seen: set[str] = set()
        renames: dict[str, str] = {}
        used = {_python_name(str(p)) for p in properties}
        for name in properties:
            python = _python_name(str(name))
            if python in _MODEL_OWN:
                renames[name] = self._free(python.rstrip("_") + "_field", used, name)
            elif python in seen:
                renames[name] = self._free(python.rstrip("_"), used, name)
            else:
                seen.add(python)
                continue
            used.add(renames[name])
            seen.add(renames[name])
        if not renames:
            return
        node["properties"] = {renames.get(k, k): v for k, v in properties.items()}
        if isinstance(node.get("required"), list):
            node["required"] = [renames.get(r, r) if isinstance(r, str) else r for r in node["required"]]
        for old, new in renames.items():
            self.wire[new] = old
            why = (
                "used by the model itself" if _python_name(old) in _MODEL_OWN else "taken by another property"
            )
            self.notes.append(f"{where}/properties/{old}: attribute {new} in Python (its name is {why})")

    def walk(self, node: Any, parts: list[object]) -> None:
        if isinstance(node, dict):
            properties = node.get("properties")
            if isinstance(properties, dict) and all(isinstance(v, dict) for v in properties.values()):
                self.schema(node, properties, "#" + pointer_of(parts))
            for key, value in node.items():
                self.walk(value, [*parts, key])
        elif isinstance(node, list):
            for i, value in enumerate(node):
                self.walk(value, [*parts, i])


def restore_wire_names(files: dict[str, bytes], wire: dict[str, str]) -> dict[str, bytes]:
    """The generated models with each renamed property read and written under its real name.

    Each new name was chosen to appear nowhere else in the document, so its quoted form in a model
    module is exactly the dictionary key (``field_dict["from_dict_field"]``, ``d.pop(...)``).
    """
    if not wire:
        return files
    out = dict(files)
    for path, data in files.items():
        if "/models/" not in f"/{path}" or not path.endswith(".py"):
            continue
        text = data.decode()
        changed = text
        for new, old in wire.items():
            changed = changed.replace(f'"{new}"', json.dumps(old))
        if changed != text:
            out[path] = changed.encode()
    return out


def prepare(document: dict[str, Any]) -> Prepared:
    """A copy of ``document`` that openapi-python-client generates whole, and what was changed."""
    doc = copy.deepcopy(document)
    notes: list[str] = []
    if not isinstance(doc.get("paths"), dict):
        doc["paths"] = {}  # optional since OpenAPI 3.1; openapi-python-client requires it
    _texts_where_strings_are_due(doc)
    _rename_colliding_schemas(doc, notes)
    _drop_repeated_inline_titles(doc, notes)
    _walk(doc, [], notes)
    renamer = _Renamer(doc, notes)
    renamer.walk(doc, [])
    return Prepared(doc, notes, renamer.wire)
