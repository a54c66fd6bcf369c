"""The neutral API model: names, reserved words, nullability, unions, allOf, enums, inline naming."""

from __future__ import annotations

from typing import Any

import pytest

from tasks.core.codegen import naming
from tasks.core.codegen.build import build_api
from tasks.core.codegen.kotlin import prop_decl as kotlin_prop_decl
from tasks.core.codegen.model import Api, Model, TypeRef
from tasks.core.codegen.swift import prop_type as swift_prop_type
from tasks.core.codegen.typescript import prop_line as ts_prop_line


def api_of(schemas: dict[str, Any], paths: dict[str, Any] | None = None) -> Api:
    doc = {"openapi": "3.0.3", "info": {"title": "T", "version": "1"}, "paths": paths or {}}
    doc["components"] = {"schemas": schemas}
    return build_api(doc)


def model(api: Api, name: str) -> Model:
    return api.model(name)


# ------------------------------------------------------------------------------------------------ naming


@pytest.mark.parametrize(
    ("wire", "pascal", "camel"),
    [
        ("foo_bar", "FooBar", "fooBar"),
        ("fooBar", "FooBar", "fooBar"),
        ("FOO-BAR", "FooBar", "fooBar"),
        ("HTTPServer", "HttpServer", "httpServer"),
        ("model.reference.with.Periods", "ModelReferenceWithPeriods", "modelReferenceWithPeriods"),
        ("+1", "Plus1", "plus1"),
        ("-1", "Minus1", "minus1"),
        ("Spæcial", "Spæcial", "spæcial"),
    ],
)
def test_casing(wire: str, pascal: str, camel: str) -> None:
    assert naming.pascal(wire) == pascal
    assert naming.camel(wire) == camel


def test_type_names_avoid_digits_and_builtins() -> None:
    assert naming.type_name("200_response") == "Model200Response"
    assert naming.type_name("String") == "StringModel"
    assert naming.type_name("Data") == "DataModel"
    assert naming.type_name("") == "Model"


def test_member_names_never_start_with_a_digit() -> None:
    assert naming.member_name("123Number") == "_123Number"
    assert naming.member_name("$special[property.name]") == "specialPropertyName"


def test_reserved_words_are_escaped_per_language() -> None:
    assert naming.escape_member("default", "swift") == "`default`"
    assert naming.escape_member("in", "kotlin") == "`in`"
    assert naming.escape_member("class", "typescript") == "class_"
    assert naming.escape_member("type", "swift") == "type"  # not a Swift keyword
    assert naming.escape_member("value", "kotlin") == "`value`"


def test_colliding_names_get_stable_suffixes() -> None:
    api = api_of(
        {
            "foo_bar": {"type": "object", "properties": {"a": {"type": "string"}}},
            "fooBar": {"type": "object", "properties": {"b": {"type": "string"}}},
            "FooBar": {"type": "object", "properties": {"c": {"type": "string"}}},
        }
    )
    assert [m.name for m in api.models] == ["FooBar", "FooBar2", "FooBar3"]
    assert model(api, "FooBar").properties[0].wire == "a"
    assert model(api, "FooBar3").properties[0].wire == "c"


def test_case_insensitive_collisions_are_suffixed() -> None:
    # file names must not clash on macOS' case-insensitive file system
    api = api_of(
        {
            "Foo": {"type": "object", "properties": {"a": {"type": "string"}}},
            "FOO": {"type": "object", "properties": {"b": {"type": "string"}}},
        }
    )
    assert [m.name for m in api.models] == ["Foo", "Foo2"]


def test_property_wire_names_are_kept_and_identifiers_deduplicated() -> None:
    api = api_of(
        {
            "M": {
                "type": "object",
                "properties": {"foo_bar": {"type": "string"}, "fooBar": {"type": "integer"}},
            }
        }
    )
    props = model(api, "M").properties
    assert [(p.wire, p.name) for p in props] == [("foo_bar", "fooBar"), ("fooBar", "fooBar2")]


# -------------------------------------------------------------------------------------- nullable/optional


def test_nullable_is_distinct_from_absent() -> None:
    api = api_of(
        {
            "M": {
                "type": "object",
                "required": ["a", "b"],
                "properties": {
                    "a": {"type": "string"},
                    "b": {"type": "string", "nullable": True},
                    "c": {"type": "string"},
                    "d": {"type": "string", "nullable": True},
                },
            }
        }
    )
    a, b, c, d = model(api, "M").properties
    assert (a.required, a.nullable, b.required, b.nullable) == (True, False, True, True)
    assert (c.required, c.nullable, d.required, d.nullable) == (False, False, False, True)
    assert [swift_prop_type(p) for p in (a, b, c, d)] == ["String", "String?", "String?", "Nullable<String>?"]
    assert [kotlin_prop_decl(p) for p in (a, b, c, d)] == [
        "String",
        "String?",
        "String? = null",
        "NullableField<String> = NullableField.Absent",
    ]
    assert [ts_prop_line(p) for p in (a, b, c, d)] == [
        "a: string;",
        "b: string | null;",
        "c?: string;",
        "d?: string | null;",
    ]


def test_openapi_31_null_forms() -> None:
    api = api_of(
        {
            "M": {
                "type": "object",
                "properties": {
                    "a": {"type": ["string", "null"]},
                    "b": {"anyOf": [{"$ref": "#/components/schemas/E"}, {"type": "null"}]},
                    "c": {"allOf": [{"$ref": "#/components/schemas/E"}], "nullable": True},
                    "d": {"enum": ["x", None], "type": "string"},
                },
            },
            "E": {"type": "string", "enum": ["x", "y"]},
        }
    )
    a, b, c, d = model(api, "M").properties
    assert a.type == TypeRef.prim("string", nullable=True)
    assert b.type == TypeRef.model("E", nullable=True)
    assert c.type == TypeRef.model("E", nullable=True)
    assert d.nullable and d.type.kind == "model"


# ------------------------------------------------------------------------------------------ unions


def test_one_of_with_discriminator_mapping() -> None:
    api = api_of(
        {
            "Pet": {
                "oneOf": [{"$ref": "#/components/schemas/Cat"}, {"$ref": "#/components/schemas/Dog"}],
                "discriminator": {
                    "propertyName": "kind",
                    "mapping": {"meow": "#/components/schemas/Cat", "woof": "Dog"},
                },
            },
            "Cat": {"type": "object", "properties": {"kind": {"type": "string"}}},
            "Dog": {"type": "object", "properties": {"kind": {"type": "string"}}},
        }
    )
    pet = model(api, "Pet")
    assert pet.kind == "union" and pet.discriminator == "kind"
    assert [(v.name, v.type.name, v.tags) for v in pet.variants] == [
        ("cat", "Cat", ["meow"]),
        ("dog", "Dog", ["woof"]),
    ]


def test_discriminator_without_mapping_uses_schema_names_or_single_enum_values() -> None:
    api = api_of(
        {
            "Shape": {
                "oneOf": [{"$ref": "#/components/schemas/Circle"}, {"$ref": "#/components/schemas/Square"}],
                "discriminator": {"propertyName": "type"},
            },
            "Circle": {"type": "object", "properties": {"type": {"type": "string", "enum": ["circle"]}}},
            "Square": {"type": "object", "properties": {"type": {"type": "string"}}},
        }
    )
    assert [v.tags for v in model(api, "Shape").variants] == [["circle"], ["Square"]]


def test_one_of_without_discriminator_and_inline_members() -> None:
    api = api_of(
        {
            "Value": {
                "oneOf": [
                    {"type": "string"},
                    {"type": "integer", "format": "int64"},
                    {"type": "object", "properties": {"x": {"type": "number"}}},
                ]
            }
        }
    )
    value = model(api, "Value")
    assert value.discriminator is None
    assert [v.type for v in value.variants] == [
        TypeRef.prim("string"),
        TypeRef.prim("int64"),
        TypeRef.model("Value3"),
    ]
    assert model(api, "Value3").properties[0].wire == "x"


def test_single_member_any_of_is_not_a_union() -> None:
    api = api_of(
        {"M": {"type": "object", "properties": {"a": {"anyOf": [{"type": "string", "format": "date-time"}]}}}}
    )
    assert model(api, "M").properties[0].type == TypeRef.prim("date-time")


# -------------------------------------------------------------------------------------------- allOf


def test_all_of_is_merged_with_required_from_every_part() -> None:
    api = api_of(
        {
            "Base": {
                "type": "object",
                "required": ["id"],
                "properties": {"id": {"type": "string", "format": "uuid"}},
            },
            "Item": {
                "allOf": [
                    {"$ref": "#/components/schemas/Base"},
                    {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}},
                ]
            },
        }
    )
    item = model(api, "Item")
    assert item.kind == "object"
    assert [(p.wire, p.required, p.type.name) for p in item.properties] == [
        ("id", True, "uuid"),
        ("name", True, "string"),
    ]


def test_all_of_over_a_union_adds_the_alternatives_as_optional_properties() -> None:
    api = api_of(
        {
            "A": {"type": "object", "required": ["a"], "properties": {"a": {"type": "string"}}},
            "B": {"type": "object", "properties": {"b": {"type": "string"}}},
            "U": {"anyOf": [{"$ref": "#/components/schemas/A"}, {"$ref": "#/components/schemas/B"}]},
            "M": {
                "allOf": [
                    {"$ref": "#/components/schemas/U"},
                    {"type": "object", "properties": {"m": {"type": "string"}}},
                ]
            },
        }
    )
    assert [(p.wire, p.required) for p in model(api, "M").properties] == [
        ("a", False),
        ("b", False),
        ("m", False),
    ]


# -------------------------------------------------------------------------------------------- enums


def test_enums_keep_values_and_get_unique_case_names() -> None:
    api = api_of(
        {
            "E": {"type": "string", "enum": ["1-10", "myFoo", "MyFoo", "", "unknown"]},
            "N": {"type": "integer", "enum": [-1, 0, 2]},
        }
    )
    e, n = model(api, "E"), model(api, "N")
    assert [c.value for c in e.cases] == ["1-10", "myFoo", "MyFoo", "", "unknown"]
    names = [c.name for c in e.cases]
    assert len(set(names)) == len(names)
    assert n.enum_type == "integer"
    assert [c.name for c in n.cases] == ["minus1", "value0", "value2"]


def test_open_enums_in_every_language() -> None:
    from tasks.core.codegen.typescript import ts_enum_type

    api = api_of({"E": {"type": "string", "enum": ["a", "b"]}})
    assert ts_enum_type(model(api, "E")) == '"a" | "b" | (string & {})'


# ------------------------------------------------------------------------------------ inline naming


SPEC_PATHS = {
    "/things/{thingId}": {
        "post": {
            "operationId": "updateThing",
            "parameters": [{"name": "thingId", "in": "path", "required": True, "schema": {"type": "string"}}],
            "requestBody": {
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {"mode": {"type": "string", "enum": ["a", "b"]}},
                        }
                    }
                }
            },
            "responses": {
                "200": {
                    "description": "ok",
                    "content": {
                        "application/json": {
                            "schema": {"type": "object", "properties": {"ok": {"type": "boolean"}}}
                        }
                    },
                },
                "404": {
                    "description": "no",
                    "content": {
                        "application/json": {
                            "schema": {"type": "object", "properties": {"why": {"type": "string"}}}
                        }
                    },
                },
            },
        }
    }
}


def test_inline_schemas_are_named_from_where_they_sit() -> None:
    api = api_of({}, SPEC_PATHS)
    assert [m.name for m in api.models] == [
        "UpdateThingError404",
        "UpdateThingRequest",
        "UpdateThingRequestMode",
        "UpdateThingResponse",
    ]
    op = api.operations[0]
    assert op.body is not None and op.body.type.name == "UpdateThingRequest"
    assert op.success is not None and op.success.type == TypeRef.model("UpdateThingResponse")
    assert [(e.status, e.type) for e in op.errors] == [("404", TypeRef.model("UpdateThingError404"))]
    assert api.error_types == [TypeRef.model("UpdateThingError404")]


def test_inline_names_do_not_depend_on_other_parts_of_the_document() -> None:
    # a component added later in the document does not rename an existing inline model
    first = api_of({"Other": {"type": "object", "properties": {"x": {"type": "string"}}}}, SPEC_PATHS)
    second = api_of(
        {
            "Other": {"type": "object", "properties": {"x": {"type": "string"}}},
            "Zeta": {"type": "object", "properties": {"y": {"type": "string"}}},
        },
        SPEC_PATHS,
    )
    assert {m.name for m in first.models} <= {m.name for m in second.models}


def test_component_names_win_over_inline_names() -> None:
    schemas = {"UpdateThingRequest": {"type": "object", "properties": {"z": {"type": "string"}}}}
    api = api_of(schemas, SPEC_PATHS)
    assert api.model("UpdateThingRequest").properties[0].wire == "z"
    assert api.operations[0].body is not None and api.operations[0].body.type.name == "UpdateThingRequest2"


# ---------------------------------------------------------------------- operations, security, formats


def test_operations_are_grouped_by_tag_with_security_servers_and_deprecation() -> None:
    doc: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {"title": "T", "version": "1"},
        "servers": [{"url": "https://{host}/v1", "variables": {"host": {"default": "api.example.test"}}}],
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "key": {"type": "apiKey", "in": "query", "name": "api_key"},
            }
        },
        "paths": {
            "/a": {
                "get": {"tags": ["zeta"], "operationId": "getA", "responses": {"204": {"description": "x"}}}
            },
            "/b": {
                "get": {
                    "tags": ["alpha"],
                    "operationId": "getB",
                    "deprecated": True,
                    "security": [],
                    "responses": {
                        "200": {
                            "description": "x",
                            "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
                        }
                    },
                }
            },
            "/c": {
                "post": {
                    "tags": ["alpha"],
                    "operationId": "default",
                    "security": [{"key": []}],
                    "responses": {"200": {"description": "x"}},
                }
            },
        },
    }
    api = build_api(doc)
    assert [s.name for s in api.services] == ["AlphaApi", "ZetaApi"]
    b, c = api.services[0].operations
    assert (b.deprecated, b.security, b.success and b.success.kind) == (True, [], "binary")
    assert c.name == "default2"  # a Swift keyword as a method name is avoided
    assert c.security == ["key"]
    assert api.services[1].operations[0].security == ["bearer"]
    assert api.servers[0].url == "https://api.example.test/v1"
    assert [(s.name, s.kind, s.location, s.parameter) for s in api.security_schemes] == [
        ("bearer", "bearer", "header", "Authorization"),
        ("key", "apiKey", "query", "api_key"),
    ]


def test_formats_and_maps() -> None:
    api = api_of(
        {
            "M": {
                "type": "object",
                "properties": {
                    "when": {"type": "string", "format": "date-time"},
                    "id": {"type": "string", "format": "uuid"},
                    "n": {"type": "integer", "format": "int64"},
                    "blob": {"type": "string", "format": "binary"},
                    "tags": {"type": "object", "additionalProperties": {"type": "integer"}},
                    "free": {"type": "object"},
                },
            }
        }
    )
    types = {p.wire: p.type for p in model(api, "M").properties}
    assert types["when"] == TypeRef.prim("date-time")
    assert types["id"] == TypeRef.prim("uuid")
    assert types["n"] == TypeRef.prim("int64")
    assert types["blob"] == TypeRef.prim("binary")
    assert types["tags"] == TypeRef("map", item=TypeRef.prim("integer"))
    assert types["free"] == TypeRef("map", item=TypeRef.prim("any"))


def test_multipart_body_fields() -> None:
    api = api_of(
        {},
        {
            "/up": {
                "post": {
                    "operationId": "upload",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "multipart/form-data": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "file": {"type": "string", "format": "binary"},
                                        "note": {"type": "string"},
                                    },
                                }
                            }
                        },
                    },
                    "responses": {"204": {"description": "ok"}},
                }
            }
        },
    )
    body = api.operations[0].body
    assert body is not None and body.kind == "multipart" and body.required
    assert [(f.wire, f.type.name) for f in body.fields] == [("file", "binary"), ("note", "string")]


def test_self_containing_objects_become_swift_classes() -> None:
    from tasks.core.codegen.swift import boxed_models

    api = api_of(
        {
            "Node": {"type": "object", "properties": {"parent": {"$ref": "#/components/schemas/Node"}}},
            "A": {"type": "object", "properties": {"b": {"$ref": "#/components/schemas/B"}}},
            "B": {"type": "object", "properties": {"a": {"$ref": "#/components/schemas/A"}}},
            "Tree": {
                "type": "object",
                "properties": {"children": {"type": "array", "items": {"$ref": "#/components/schemas/Tree"}}},
            },
        }
    )
    assert boxed_models(api) == {
        "Node",
        "A",
        "B",
    }  # arrays store their elements indirectly: Tree stays a struct
