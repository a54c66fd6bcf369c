"""TypeScript: type definitions, a fetch + async/await client with typed errors, package.json, tsconfig."""

from __future__ import annotations

import json
from typing import Any

from tasks.core.codegen import naming
from tasks.core.codegen.model import Api, Model, Operation, Property, TypeRef
from tasks.core.codegen.render import ClientSettings, FilePlan, doc_lines

_PRIMITIVES = {
    "string": "string", "uri": "string", "byte": "string", "date-time": "string", "date": "string",
    "uuid": "string", "integer": "number", "int32": "number", "int64": "number", "number": "number",
    "float": "number", "double": "number", "boolean": "boolean", "binary": "Blob", "any": "unknown",
}  # fmt: skip


def ts_type(t: TypeRef | None) -> str:
    if t is None:
        return "void"
    if t.kind == "primitive":
        base = _PRIMITIVES[t.name]
    elif t.kind == "model":
        base = t.name
    elif t.kind == "array":
        base = f"Array<{ts_type(t.item)}>"
    else:
        base = f"Record<string, {ts_type(t.item)}>"
    return f"{base} | null" if t.nullable and base != "unknown" else base


def ts_key(wire: str) -> str:
    return wire if naming.is_ts_identifier(wire) else json.dumps(wire, ensure_ascii=False)


def ts_literal(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def ts_enum_type(model: Model) -> str:
    literals = [ts_literal(c.value) for c in model.cases]
    fallback = "(string & {})" if model.enum_type == "string" else "(number & {})"
    return " | ".join([*literals, fallback])


def ts_enum_key(name: str) -> str:
    return name[:1].upper() + name[1:]


def ts_union(api: Api, model: Model) -> str:
    parts = []
    for variant in model.variants:
        base = ts_type(variant.type)
        if model.discriminator and variant.tags:
            tags = " | ".join(ts_literal(t) for t in variant.tags)
            base = f"({base} & {{ {ts_key(model.discriminator)}: {tags} }})"
        parts.append(base)
    return " | ".join(parts) or "unknown"


def prop_line(p: Property) -> str:
    optional = "" if p.required else "?"
    readonly = "readonly " if p.read_only else ""
    return f"{readonly}{ts_key(p.wire)}{optional}: {ts_type(p.type)};"


def comment(text: str, *, deprecated: bool = False, indent: str = "", extra: list[str] | None = None) -> str:
    lines = doc_lines(text) + (extra or [])
    if deprecated:
        lines.append("@deprecated")
    if not lines:
        return ""
    if len(lines) == 1:
        return f"{indent}/** {lines[0]} */"
    body = "\n".join(f"{indent} * {line}".rstrip() for line in lines)
    return f"{indent}/**\n{body}\n{indent} */"


def args_type(op: Operation) -> str:
    fields = []
    for p in op.parameters:
        fields.append(f"{p.name}{'' if p.required else '?'}: {ts_type(p.type)}")
    if op.body is not None:
        fields.append(f"body{'' if op.body.required else '?'}: {ts_type(op.body.type)}")
    return "{ " + "; ".join(fields) + " }" if fields else ""


def args_optional(op: Operation) -> bool:
    return all(not p.required for p in op.parameters) and (op.body is None or not op.body.required)


def error_map(op: Operation) -> str:
    entries = [
        f"{ts_literal(r.status)}: {ts_literal(r.type.name)}"
        for r in op.errors
        if r.type is not None and r.type.kind == "model"
    ]
    return "{ " + ", ".join(entries) + " }" if entries else "{}"


def error_types(op: Operation) -> str:
    names = sorted({r.type.name for r in op.errors if r.type is not None and r.type.kind == "model"})
    return " | ".join(names) if names else "unknown"


def uses_model(op: Operation) -> set[str]:
    found: set[str] = set()

    def walk(t: TypeRef | None) -> None:
        if t is None:
            return
        if t.kind == "model":
            found.add(t.name)
        walk(t.item)

    for p in op.parameters:
        walk(p.type)
    if op.body is not None:
        walk(op.body.type)
    if op.success is not None:
        walk(op.success.type)
    return found


class TypeScriptTarget:
    language = "typescript"

    def helpers(self, api: Api, client: ClientSettings) -> dict[str, Any]:
        return {
            "ts_type": ts_type,
            "ts_key": ts_key,
            "ts_literal": ts_literal,
            "ts_enum_type": ts_enum_type,
            "ts_enum_key": ts_enum_key,
            "ts_union": lambda m: ts_union(api, m),
            "prop_line": prop_line,
            "comment": comment,
            "args_type": args_type,
            "args_optional": args_optional,
            "error_map": error_map,
            "error_types": error_types,
            "json": lambda v: json.dumps(v, ensure_ascii=False),
        }

    def plan(self, api: Api, client: ClientSettings) -> list[FilePlan]:
        files = [
            FilePlan("package.json.j2", "package.json"),
            FilePlan("tsconfig.json.j2", "tsconfig.json"),
            FilePlan("README.md.j2", "README.md"),
            FilePlan("models.ts.j2", "src/models.ts"),
            FilePlan("runtime.ts.j2", "src/runtime.ts"),
            FilePlan("index.ts.j2", "src/index.ts"),
        ]
        for service in api.services:
            used: set[str] = set()
            for op in service.operations:
                used |= uses_model(op)
            files.append(
                FilePlan(
                    "service.ts.j2",
                    f"src/services/{service.name}.ts",
                    {"service": service, "used": sorted(used)},
                )
            )
        return files
