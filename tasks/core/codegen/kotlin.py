"""Kotlin: kotlinx.serialization data classes with ``@SerialName``, a Ktor 3 client with coroutines,
typed errors, open enums (value classes: any string decodes) and ``NullableField`` for "null, not absent"."""

from __future__ import annotations

import json
from typing import Any

from tasks.core.codegen import naming
from tasks.core.codegen.model import Api, Model, Operation, Property, Response, TypeRef
from tasks.core.codegen.render import ClientSettings, FilePlan, doc_lines

_PRIMITIVES = {
    "string": "String", "uri": "String", "byte": "String", "date-time": "JsonDateTime", "date": "JsonDate",
    "uuid": "JsonUuid", "integer": "Int", "int32": "Int", "int64": "Long", "number": "Double",
    "float": "Float", "double": "Double", "boolean": "Boolean", "binary": "ByteArray", "any": "JsonElement",
}  # fmt: skip


def kt_type(t: TypeRef | None, *, optional: bool = True) -> str:
    if t is None:
        return "Unit"
    if t.kind == "primitive":
        base = _PRIMITIVES[t.name]
    elif t.kind == "model":
        base = t.name
    elif t.kind == "array":
        base = f"List<{kt_type(t.item)}>"
    else:
        base = f"Map<String, {kt_type(t.item)}>"
    return f"{base}?" if t.nullable and optional else base


def ident(name: str) -> str:
    return naming.escape_member(name, "kotlin")


def kt_string(value: object) -> str:
    text = json.dumps(str(value), ensure_ascii=False)
    return text.replace("$", "\\$")


def prop_decl(p: Property) -> str:
    base = kt_type(p.type, optional=False)
    if p.required:
        return f"{base}?" if p.nullable else base
    if p.nullable:
        return f"NullableField<{base}> = NullableField.Absent"
    return f"{base}? = null"


def comment(text: str, *, indent: str = "", extra: list[str] | None = None) -> str:
    lines = [line.replace("/*", "/\u2217") for line in doc_lines(text)] + (extra or [])
    if not lines:
        return ""
    if len(lines) == 1:
        return f"{indent}/** {lines[0]} */"
    body = "\n".join(f"{indent} * {line}".rstrip() for line in lines)
    return f"{indent}/**\n{body}\n{indent} */"


def enum_base(m: Model) -> str:
    return {"string": "String", "integer": "Long", "number": "Double"}[m.enum_type]


def enum_literal(m: Model, value: object) -> str:
    if m.enum_type == "string":
        return kt_string(value)
    if m.enum_type == "number":
        return repr(float(value))  # type: ignore[arg-type]
    return f"{value}L"


def enum_consts(m: Model) -> list[tuple[str, str]]:
    names = naming.Registry({"VALUE", "UNKNOWN"})
    out = []
    for case in m.cases:
        const = naming.upper_snake(case.name) or "EMPTY"
        if const[0].isdigit():
            const = "_" + const
        out.append((names.take(const), enum_literal(m, case.value)))
    return out


def variant_class(name: str) -> str:
    return naming.pascal(name) + "Case"


def op_params(op: Operation) -> list[str]:
    out = []
    for p in op.parameters:
        t = kt_type(p.type, optional=False)
        out.append(f"{ident(p.name)}: {t}" if p.required else f"{ident(p.name)}: {t}? = null")
    if op.body is not None:
        t = kt_type(op.body.type, optional=False)
        out.append(f"body: {t}" if op.body.required else f"body: {t}? = null")
    return out


def return_type(op: Operation) -> str:
    if op.success is None or op.success.kind == "empty" or op.success.type is None:
        return "Unit"
    return kt_type(op.success.type)


def status_pattern(r: Response) -> str:
    if r.status == "default":
        return "else"
    if r.status.upper().endswith("XX"):
        first = int(r.status[0])
        return f"in {first * 100}..{first * 100 + 99}"
    return r.status


def typed_errors(op: Operation) -> list[tuple[str, str]]:
    ordered = sorted(op.errors, key=lambda r: (r.status == "default", "X" in r.status.upper(), r.status))
    return [
        (status_pattern(r), r.type.name) for r in ordered if r.type is not None and r.type.kind == "model"
    ]


def path_expr(op: Operation) -> str:
    path = kt_string(op.path)[1:-1]
    for p in op.path_params:
        path = path.replace("{" + p.wire + "}", "${ApiClient.pathSegment(" + ident(p.name) + ")}")
    return '"' + path + '"'


def package_path(package: str) -> str:
    return package.replace(".", "/").replace("`", "")


def package_decl(package: str) -> str:
    parts = [p.strip("`") for p in package.split(".")]
    return ".".join(f"`{p}`" if p in naming.KOTLIN_KEYWORDS else p for p in parts)


_SERIALIZERS = {
    "String": "String.serializer()", "Int": "Int.serializer()", "Long": "Long.serializer()",
    "Double": "Double.serializer()", "Float": "Float.serializer()", "Boolean": "Boolean.serializer()",
    "ByteArray": "ByteArraySerializer()", "JsonElement": "JsonElement.serializer()",
    "JsonDateTime": "OffsetDateTimeSerializer", "JsonDate": "LocalDateSerializer",
    "JsonUuid": "UuidSerializer",
}  # fmt: skip


def kt_serializer(api: Api, t: TypeRef) -> str:
    """An explicit serializer expression (no reflection, no reified lookups) for a type."""
    if t.kind == "primitive":
        base = _SERIALIZERS[_PRIMITIVES[t.name]]
    elif t.kind == "model":
        model = api.model(t.name)
        if model.kind == "alias" and not model.recursive and model.target is not None:
            base = kt_serializer(api, model.target.with_nullable(False))
        else:
            base = f"{t.name}.Serializer" if model.kind == "union" else f"{t.name}.serializer()"
    elif t.kind == "array":
        base = f"ListSerializer({kt_serializer(api, t.item or TypeRef.prim('any'))})"
    else:
        base = f"MapSerializer(String.serializer(), {kt_serializer(api, t.item or TypeRef.prim('any'))})"
    return f"{base}.nullable" if t.nullable else base


class KotlinTarget:
    language = "kotlin"

    def helpers(self, api: Api, client: ClientSettings) -> dict[str, Any]:
        return {
            "kt_type": kt_type,
            "ident": ident,
            "kt_string": kt_string,
            "kt_serializer": lambda t: kt_serializer(api, t),
            "model_ref": TypeRef.model,
            "prop_decl": prop_decl,
            "comment": comment,
            "enum_base": enum_base,
            "enum_consts": enum_consts,
            "variant_class": variant_class,
            "op_params": op_params,
            "return_type": return_type,
            "typed_errors": typed_errors,
            "path_expr": path_expr,
            "package": package_decl(client.package),
            "error_case": lambda name: naming.pascal(name) + "Body",
        }

    def plan(self, api: Api, client: ClientSettings) -> list[FilePlan]:
        src = "src/main/kotlin/" + package_path(client.package)
        files = [
            FilePlan("build.gradle.kts.j2", "build.gradle.kts"),
            FilePlan("settings.gradle.kts.j2", "settings.gradle.kts"),
            FilePlan("README.md.j2", "README.md"),
            FilePlan("ApiClient.kt.j2", f"{src}/infrastructure/ApiClient.kt"),
            FilePlan("Serializers.kt.j2", f"{src}/infrastructure/Serializers.kt"),
            FilePlan("ApiError.kt.j2", f"{src}/infrastructure/ApiError.kt"),
        ]
        for model in api.models:
            files.append(FilePlan("Model.kt.j2", f"{src}/models/{model.name}.kt", {"m": model}))
        for service in api.services:
            files.append(FilePlan("Service.kt.j2", f"{src}/apis/{service.name}.kt", {"service": service}))
        return files
