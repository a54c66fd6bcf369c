"""OpenAPI schemas to models: references, nullability, enums, objects, allOf merges and unions.

Component schemas keep their names; an inline schema is named from where it sits (``Parent`` +
``Property``), collisions taking numeric suffixes in a fixed order.
"""

from __future__ import annotations

from typing import Any, cast

from tasks.core.codegen import naming
from tasks.core.codegen.errors import SpecError
from tasks.core.codegen.model import (
    EnumCase,
    Model,
    Primitive,
    Property,
    TypeRef,
    Variant,
)

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
SCHEMAS = "/components/schemas/"
_ANNOTATIONS = frozenset(
    {
        "nullable",
        "description",
        "title",
        "deprecated",
        "default",
        "example",
        "examples",
        "readOnly",
        "writeOnly",
    }
)

Json = dict[str, Any]


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


class SchemaBuilder:
    """The document, its names taken so far, and the models made from its schemas."""

    def __init__(self, doc: Json, *, source: str = "") -> None:
        self.doc = doc
        self.source = source
        self.types = naming.Registry(casefold=True)
        self.models: dict[str, Model] = {}
        self.by_pointer: dict[str, str] = {}  # schema pointer -> model name
        self.component_names: dict[str, str] = {}  # schema key -> model name
        self.in_progress: set[str] = set()

    # ------------------------------------------------------------------ references
    def fail(self, message: str, pointer: str) -> SpecError:
        return SpecError(message, pointer, source=self.source)

    def lookup(self, ref: str, at: str) -> Any:
        if not ref.startswith("#"):
            raise self.fail(f"external $ref {ref!r} is not supported; bundle the document into one file", at)
        node: Any = self.doc
        for token in ref[1:].split("/")[1:] if ref != "#" else []:
            key = _unescape(token)
            if isinstance(node, dict) and key in node:
                node = node[key]
            elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
                node = node[int(key)]
            else:
                raise self.fail(f"$ref {ref!r} does not resolve", at + "/$ref")
        return node

    def deref(self, node: Any, at: str) -> tuple[Any, str]:
        """Follow ``$ref`` chains (of parameters, responses, bodies); return the node and its pointer."""
        seen: set[str] = set()
        while isinstance(node, dict) and isinstance(node.get("$ref"), str):
            ref = node["$ref"]
            if ref in seen:
                raise self.fail(f"$ref cycle through {ref!r}", at)
            seen.add(ref)
            node, at = self.lookup(ref, at), ref[1:]
        return node, at

    # ------------------------------------------------------------------ schemas
    def define(self, name: str, schema: Any, pointer: str) -> None:
        """Make the model ``name`` from a schema that deserves a name (component or inline)."""
        if name in self.models or name in self.in_progress:
            return
        self.in_progress.add(name)
        try:
            model = self.make_model(name, schema, pointer)
        finally:
            self.in_progress.discard(name)
        if model.kind == "alias" and model.target is not None and _mentions(model.target, name):
            # type aliases cannot refer to themselves: the languages render these as wrapper types
            if model.target.kind not in ("map", "array"):
                raise self.fail(
                    "this schema is only itself (a reference cycle with no object in it)", pointer
                )
            model.recursive = True
        self.models[name] = model

    def make_model(self, name: str, schema: Any, pointer: str) -> Model:
        if not isinstance(schema, dict):
            if schema is True or schema == {}:
                return Model(name, "alias", pointer, target=TypeRef.prim("any"))
            raise self.fail("a schema must be an object", pointer)
        desc = str(schema.get("description", "") or "")
        deprecated = bool(schema.get("deprecated", False))
        schema = self.strip_null(schema)
        if "$ref" in schema:
            return Model(name, "alias", pointer, desc, deprecated, target=self.type_of(schema, pointer, name))
        if "allOf" in schema:
            return self.merged(name, schema, pointer, desc, deprecated)
        union = schema.get("oneOf") or schema.get("anyOf")
        if union:
            key = "oneOf" if "oneOf" in schema else "anyOf"
            members = [(m, f"{pointer}/{key}/{i}") for i, m in enumerate(union) if not self.is_null(m)]
            if len(members) == 1 and not schema.get("properties"):
                target = self.type_of(members[0][0], members[0][1], name)
                return Model(name, "alias", pointer, desc, deprecated, target=target)
            if members:
                return self.make_union(name, schema, members, pointer, desc, deprecated)
        if "enum" in schema and self.enum_values(schema):
            return self.make_enum(name, schema, pointer, desc, deprecated)
        if self.is_object(schema) and (schema.get("properties") or self.additional(schema) is None):
            return self.make_object(name, schema, pointer, desc, deprecated)
        return Model(name, "alias", pointer, desc, deprecated, target=self.type_of(schema, pointer, name))

    @staticmethod
    def all_of(schema: Json) -> list[tuple[int, Any]]:
        """allOf members that describe structure; annotation-only ones (``- nullable: true``) drop out."""
        return [
            (i, m)
            for i, m in enumerate(schema.get("allOf") or [])
            if not (isinstance(m, dict) and m and set(m) <= _ANNOTATIONS)
        ]

    @staticmethod
    def is_null(schema: Any) -> bool:
        return isinstance(schema, dict) and (schema.get("type") == "null" or schema.get("enum") == [None])

    def strip_null(self, schema: Json) -> Json:
        """Remove the 3.1 ways of saying "or null" so the rest describes the value itself."""
        kind = schema.get("type")
        if isinstance(kind, list) and "null" in kind:
            rest = [k for k in kind if k != "null"]
            schema = {**schema, "type": rest[0] if len(rest) == 1 else rest}
        if isinstance(schema.get("enum"), list) and None in schema["enum"]:
            schema = {**schema, "enum": [v for v in schema["enum"] if v is not None]}
        return schema

    def nullable(self, schema: Any) -> bool:
        if not isinstance(schema, dict):
            return False
        if schema.get("nullable") is True:
            return True
        kind = schema.get("type")
        if isinstance(kind, list) and "null" in kind:
            return True
        if isinstance(schema.get("enum"), list) and None in schema["enum"]:
            return True
        for key in ("oneOf", "anyOf"):
            if any(self.is_null(m) for m in schema.get(key) or []):
                return True
        return any(isinstance(m, dict) and m.get("nullable") is True for m in schema.get("allOf") or [])

    @staticmethod
    def enum_values(schema: Json) -> list[Any]:
        return [v for v in schema.get("enum") or [] if v is not None and not isinstance(v, list | dict)]

    @staticmethod
    def is_object(schema: Json) -> bool:
        return schema.get("type") == "object" or (
            "type" not in schema and ("properties" in schema or "additionalProperties" in schema)
        )

    def additional(self, schema: Json) -> Any:
        return schema.get("additionalProperties")

    def type_of(self, schema: Any, pointer: str, hint: str) -> TypeRef:  # noqa: PLR0912  (one case per schema shape)
        """The type of a schema in a position (property, item, parameter...); names inline models."""
        if schema is True or schema is None or schema == {}:
            return TypeRef.prim("any")
        if not isinstance(schema, dict):
            raise self.fail("a schema must be an object", pointer)
        nullable = self.nullable(schema)
        if isinstance(schema.get("$ref"), str):
            ref = schema["$ref"]
            target = self.lookup(ref, pointer)
            name = self.by_pointer.get(ref[1:])
            if name is None:
                # a ref into the middle of another schema: name it once, by its pointer
                if self.needs_model(target):
                    name = self.types.take(naming.type_name(ref.rsplit("/", 1)[-1]))
                    self.by_pointer[ref[1:]] = name
                    self.define(name, target, ref[1:])
                else:
                    return self.type_of(target, ref[1:], hint).with_nullable(
                        nullable or self.nullable(target)
                    )
            model = self.models.get(name)
            if model is not None and model.kind == "alias" and model.target is not None:
                return model.target.with_nullable(nullable or model.target.nullable)
            return TypeRef.model(name, nullable)
        clean = self.strip_null(schema)
        structural = self.all_of(clean)
        if "allOf" in clean and len(structural) == 1 and not clean.get("properties"):
            i, member = structural[0]
            inner = self.type_of(member, f"{pointer}/allOf/{i}", hint)
            return inner.with_nullable(nullable or inner.nullable)
        for key in ("oneOf", "anyOf"):
            members = [(i, m) for i, m in enumerate(clean.get(key) or []) if not self.is_null(m)]
            if len(members) == 1 and not clean.get("properties") and "allOf" not in clean:
                i, member = members[0]
                inner = self.type_of(member, f"{pointer}/{key}/{i}", hint)
                return inner.with_nullable(nullable or inner.nullable)
        if self.needs_model(clean):
            name = self.by_pointer.get(pointer)
            if name is None:
                name = self.types.take(naming.type_name(str(clean.get("title") or hint)))
                self.by_pointer[pointer] = name
                self.define(name, clean, pointer)
            return TypeRef.model(name, nullable)
        kind = clean.get("type")
        if isinstance(kind, list):
            kind = kind[0] if len(kind) == 1 else None
        if kind == "array" or (kind is None and "items" in clean):
            items = clean.get("items", {})
            return TypeRef(
                "array", item=self.type_of(items, pointer + "/items", hint + "Item"), nullable=nullable
            )
        if self.is_object(clean) or kind == "object":
            extra = self.additional(clean)
            if extra is False:
                return TypeRef("map", item=TypeRef.prim("any"), nullable=nullable)
            value = self.type_of(extra, pointer + "/additionalProperties", hint + "Value")
            return TypeRef("map", item=value, nullable=nullable)
        if "const" in clean and kind is None:
            kind = {str: "string", bool: "boolean", int: "integer", float: "number"}.get(type(clean["const"]))
        return TypeRef.prim(self.primitive(kind, clean.get("format"), clean), nullable)

    def needs_model(self, schema: Any) -> bool:
        if not isinstance(schema, dict):
            return False
        schema = self.strip_null(schema)
        if "$ref" in schema:
            return False
        if "allOf" in schema:
            return len(self.all_of(schema)) != 1 or bool(schema.get("properties"))
        for key in ("oneOf", "anyOf"):
            if len([m for m in schema.get(key) or [] if not self.is_null(m)]) > 1:
                return True
        if self.enum_values(schema) and schema.get("type") != "boolean":
            return True
        return bool(self.is_object(schema) and schema.get("properties"))

    @staticmethod
    def primitive(kind: Any, fmt: Any, schema: Json) -> Primitive:
        if kind == "string":
            if fmt in ("date-time", "date", "uuid", "binary", "byte"):
                return cast(Primitive, fmt)
            if schema.get("contentMediaType") and not schema.get("contentEncoding"):
                return "binary"
            return "string"
        if kind == "integer":
            return "int64" if fmt == "int64" else "int32" if fmt == "int32" else "integer"
        if kind == "number":
            return "float" if fmt == "float" else "double" if fmt == "double" else "number"
        if kind == "boolean":
            return "boolean"
        if kind is None and schema.get("contentMediaType"):
            return "binary"
        if kind is None and schema.get("format") == "binary":
            return "binary"
        return "any"

    def make_enum(self, name: str, schema: Json, pointer: str, desc: str, deprecated: bool) -> Model:
        values = self.enum_values(schema)
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), None)
        if kind not in ("string", "integer", "number"):
            kind = "string" if all(isinstance(v, str) for v in values) else None
        if kind is None or any(isinstance(v, bool) for v in values):
            return Model(name, "alias", pointer, desc, deprecated, target=TypeRef.prim("any"))
        if kind == "string":
            values = [str(v) for v in values]
        elif kind == "integer" and not all(isinstance(v, int) for v in values):
            kind = "number"
        names = naming.Registry()
        cases = []
        for value in values:
            base = naming.member_name(str(value), fallback="empty")
            if isinstance(value, int | float) and not isinstance(value, bool):
                text = str(value).replace(".", "_")
                base = ("minus" + text[1:]) if text.startswith("-") else "value" + text
                base = naming.member_name(base)
            cases.append(EnumCase(value, names.take(base)))
        return Model(name, "enum", pointer, desc, deprecated, enum_type=cast(Any, kind), cases=cases)

    def make_object(self, name: str, schema: Json, pointer: str, desc: str, deprecated: bool) -> Model:
        props, extra = self.collect(schema, pointer, name)
        return Model(name, "object", pointer, desc, deprecated, properties=props, additional=extra)

    def collect(self, schema: Json, pointer: str, owner: str) -> tuple[list[Property], TypeRef | None]:
        required = set(schema.get("required") or [])
        names = naming.Registry()
        props: list[Property] = []
        for wire, sub in (schema.get("properties") or {}).items():
            at = f"{pointer}/properties/{wire.replace('~', '~0').replace('/', '~1')}"
            sub_desc = sub.get("description", "") if isinstance(sub, dict) else ""
            if isinstance(sub, dict) and "$ref" in sub and not sub_desc:
                target, _ = self.deref(sub, at)
                sub_desc = target.get("description", "") if isinstance(target, dict) else ""
            props.append(
                Property(
                    wire=wire,
                    name=names.take(naming.member_name(wire)),
                    type=self.type_of(sub, at, owner + naming.pascal(wire)),
                    required=wire in required,
                    description=str(sub_desc or ""),
                    deprecated=bool(isinstance(sub, dict) and sub.get("deprecated")),
                    read_only=bool(isinstance(sub, dict) and sub.get("readOnly")),
                    write_only=bool(isinstance(sub, dict) and sub.get("writeOnly")),
                )
            )
        extra = self.additional(schema)
        extra_type = None
        if extra is True or isinstance(extra, dict):
            extra_type = self.type_of(extra, pointer + "/additionalProperties", owner + "Value")
        return props, extra_type

    def flatten(self, schema: Any, pointer: str, seen: frozenset[str]) -> list[tuple[Json, str]]:
        """The object schemas an allOf stands for, refs followed, nested allOfs expanded."""
        schema, pointer = self.deref(schema, pointer) if isinstance(schema, dict) else (schema, pointer)
        if not isinstance(schema, dict):
            return []
        if pointer in seen:
            raise self.fail("allOf includes itself", pointer)
        seen = seen | {pointer}
        parts: list[tuple[Json, str]] = []
        for i, member in self.all_of(schema):
            parts.extend(self.flatten(member, f"{pointer}/allOf/{i}", seen))
        own = {k: v for k, v in schema.items() if k != "allOf"}
        for key in ("oneOf", "anyOf"):
            # allOf over a union: each alternative's properties join as optional ones
            for i, member in enumerate(own.pop(key, None) or []):
                for part, at in self.flatten(member, f"{pointer}/{key}/{i}", seen):
                    parts.append(({k: v for k, v in part.items() if k != "required"}, at))
        if own.get("properties") or own.get("required") or "additionalProperties" in own:
            parts.append((own, pointer))
        return parts

    def merged(self, name: str, schema: Json, pointer: str, desc: str, deprecated: bool) -> Model:
        members = self.all_of(schema)
        if len(members) == 1 and not schema.get("properties"):
            i, member = members[0]
            target = self.type_of(member, f"{pointer}/allOf/{i}", name)
            return Model(name, "alias", pointer, desc, deprecated, target=target.with_nullable(False))
        parts = self.flatten(schema, pointer, frozenset())
        merged: dict[str, Property] = {}
        required: set[str] = set()
        extra: TypeRef | None = None
        for part, at in parts:
            required.update(part.get("required") or [])
            props, part_extra = self.collect(part, at, name)
            for prop in props:
                merged[prop.wire] = prop
            extra = part_extra or extra
        names = naming.Registry()
        final: list[Property] = []
        for prop in merged.values():
            prop.required = prop.wire in required
            prop.name = names.take(naming.member_name(prop.wire))
            final.append(prop)
        if not final and extra is None:
            kinds = {p.get("type") for p, _ in parts}
            if not parts or kinds == {None}:
                return Model(name, "object", pointer, desc, deprecated)
        return Model(name, "object", pointer, desc, deprecated, properties=final, additional=extra)

    def make_union(  # noqa: PLR0917  (the parts of a schema being turned into a model)
        self,
        name: str,
        schema: Json,
        members: list[tuple[Any, str]],
        pointer: str,
        desc: str,
        deprecated: bool,
    ) -> Model:
        disc = schema.get("discriminator") if isinstance(schema.get("discriminator"), dict) else None
        prop = str(disc["propertyName"]) if disc and disc.get("propertyName") else None
        mapping: dict[str, str] = {}
        for tag, target in ((disc or {}).get("mapping") or {}).items():
            ref = target if str(target).startswith("#") else SCHEMAS + str(target)
            mapping[str(tag)] = ref.lstrip("#")
        names = naming.Registry()
        variants: list[Variant] = []
        for index, (member, at) in enumerate(members):
            vtype = self.type_of(member, at, f"{name}{index + 1}").with_nullable(False)
            vname = names.take(naming.member_name(self._variant_label(vtype)))
            tags: list[str] = []
            if prop is not None:
                ref = member.get("$ref", "")[1:] if isinstance(member, dict) else ""
                tags = [t for t, r in mapping.items() if r == ref] if ref else []
                if not tags:
                    tags = self._tag_values(member, at, prop)
                if not tags and ref.startswith(SCHEMAS) and not mapping:
                    tags = [_unescape(ref[len(SCHEMAS) :])]
            variants.append(Variant(vname, vtype, tags))
        if prop is not None and not all(v.tags for v in variants):
            prop = None  # cannot dispatch on the tag for every member: decode by trying instead
        return Model(name, "union", pointer, desc, deprecated, variants=variants, discriminator=prop)

    def _tag_values(self, member: Any, at: str, prop: str) -> list[str]:
        target, where = self.deref(member, at) if isinstance(member, dict) else (member, at)
        for part, _ in self.flatten(target, where, frozenset()) if isinstance(target, dict) else []:
            sub = (part.get("properties") or {}).get(prop)
            sub, _ = self.deref(sub, where) if isinstance(sub, dict) else (sub, where)
            if isinstance(sub, dict):
                if "const" in sub:
                    return [str(sub["const"])]
                values = self.enum_values(sub)
                if values:
                    return [str(v) for v in values]
        return []

    @staticmethod
    def _variant_label(vtype: TypeRef) -> str:
        if vtype.kind == "model":
            return vtype.name
        if vtype.kind == "array":
            return SchemaBuilder._variant_label(vtype.item or TypeRef.prim("any")) + "List"
        if vtype.kind == "map":
            return SchemaBuilder._variant_label(vtype.item or TypeRef.prim("any")) + "Map"
        return vtype.name

    # ------------------------------------------------------------------ operations


def _mentions(t: TypeRef | None, name: str) -> bool:
    return t is not None and ((t.kind == "model" and t.name == name) or _mentions(t.item, name))
