"""Swift: a Swift package with Codable models (CodingKeys), an async/await URLSession client per service,
typed errors, open enums (``case unknown(String)``) and ``Nullable<T>`` for "null, not absent"."""

from __future__ import annotations

import json
from typing import Any

from tasks.core.codegen import naming
from tasks.core.codegen.model import Api, Model, Operation, Property, Response, TypeRef
from tasks.core.codegen.render import ClientSettings, FilePlan, doc_lines

_PRIMITIVES = {
    "string": "String", "uri": "String", "byte": "String", "date-time": "Date", "date": "Date",
    "uuid": "UUID", "integer": "Int", "int32": "Int32", "int64": "Int64", "number": "Double",
    "float": "Float", "double": "Double", "boolean": "Bool", "binary": "Data", "any": "JSONValue",
}  # fmt: skip


def sw_type(t: TypeRef | None, *, optional: bool = True) -> str:
    if t is None:
        return "Void"
    if t.kind == "primitive":
        base = _PRIMITIVES[t.name]
    elif t.kind == "model":
        base = t.name
    elif t.kind == "array":
        base = f"[{sw_type(t.item)}]"
    else:
        base = f"[String: {sw_type(t.item)}]"
    return f"{base}?" if t.nullable and optional else base


def ident(name: str) -> str:
    return naming.escape_member(name, "swift")


def bare(name: str) -> str:
    return name.strip("`")


def sw_string(value: object) -> str:
    text = json.dumps(str(value), ensure_ascii=False)
    return text.replace("\\/", "/")


def prop_type(p: Property) -> str:
    """required: T / T? (nullable); optional: T? ; optional and nullable: Nullable<T>?"""
    base = sw_type(p.type, optional=False)
    if p.required:
        return f"{base}?" if p.nullable else base
    if p.nullable:
        return f"Nullable<{base}>?"
    return f"{base}?"


def decode_line(p: Property) -> str:
    base = sw_type(p.type, optional=False)
    key = "." + ident(p.name)
    target = "self." + bare(p.name) if False else ident(p.name)
    if p.required and not p.nullable:
        return f"{target} = try container.decode({base}.self, forKey: {key})"
    if p.required or not p.nullable:
        return f"{target} = try container.decodeIfPresent({base}.self, forKey: {key})"
    return f"{target} = try container.decodeNullable({base}.self, forKey: {key})"


def encode_line(p: Property) -> str:
    key = "." + ident(p.name)
    if p.required:
        return f"try container.encode({ident(p.name)}, forKey: {key})"
    return f"try container.encodeIfPresent({ident(p.name)}, forKey: {key})"


def comment(text: str, *, deprecated: bool = False, indent: str = "") -> str:
    lines = doc_lines(text)
    out = [f"{indent}/// {line}".rstrip() for line in lines]
    return "\n".join(out)


def enum_raw_type(m: Model) -> str:
    return {"string": "String", "integer": "Int", "number": "Double"}[m.enum_type]


def enum_literal(m: Model, value: object) -> str:
    if m.enum_type == "string":
        return sw_string(value)
    if m.enum_type == "number":
        return repr(float(value))  # type: ignore[arg-type]
    return str(value)


def op_params(op: Operation) -> list[str]:
    out = []
    for p in op.parameters:
        t = sw_type(p.type, optional=False)
        out.append(f"{ident(p.name)}: {t}" if p.required else f"{ident(p.name)}: {t}? = nil")
    if op.body is not None:
        t = sw_type(op.body.type, optional=False)
        out.append(f"body: {t}" if op.body.required else f"body: {t}? = nil")
    return out


def return_type(op: Operation) -> str:
    if op.success is None or op.success.kind == "empty" or op.success.type is None:
        return ""
    return " -> " + sw_type(op.success.type)


def status_pattern(r: Response) -> str:
    if r.status == "default":
        return "default"
    if r.status.upper().endswith("XX"):
        first = int(r.status[0])
        return f"case {first * 100}..<{first * 100 + 100}"
    return f"case {r.status}"


def typed_errors(op: Operation) -> list[tuple[str, str]]:
    """(pattern, error case) for documented error bodies; ranges and default after exact codes."""
    out = []
    ordered = sorted(op.errors, key=lambda r: (r.status == "default", "X" in r.status.upper(), r.status))
    for r in ordered:
        if r.type is not None and r.type.kind == "model":
            out.append((status_pattern(r), r.type.name))
    return out


def error_case(name: str) -> str:
    return ident(naming.member_name(name))


def path_expr(op: Operation) -> str:
    path = sw_string(op.path)[1:-1]
    for p in op.path_params:
        path = path.replace("{" + p.wire + "}", f"\\(APIClient.pathComponent({ident(p.name)}))")
    return '"' + path + '"'


def boxed_models(api: Api) -> set[str]:
    """Object models that contain themselves through plain (non-collection) properties.

    A Swift struct cannot (it would have infinite size), so these become final classes. Arrays and
    dictionaries store their elements indirectly, and unions are ``indirect enum``s: neither counts.
    """
    edges: dict[str, set[str]] = {}
    for m in api.models:
        if m.kind == "object":
            found = {p.type.name for p in m.properties if p.type.kind == "model"}
            if m.additional is not None and m.additional.kind == "model":
                found.add(m.additional.name)
            edges[m.name] = found
        elif m.kind == "alias" and m.target is not None and m.target.kind == "model":
            edges[m.name] = {m.target.name}
    boxed: set[str] = set()
    for start, first in edges.items():
        seen: set[str] = set()
        todo = list(first)
        while todo:
            node = todo.pop()
            if node == start:
                boxed.add(start)
                break
            if node not in seen:
                seen.add(node)
                todo.extend(edges.get(node, ()))
    return {name for name in boxed if api.model(name).kind == "object"}


def module_name(package: str) -> str:
    """The configured package name when it is a Swift identifier (ClikdAPI), else a PascalCase one."""
    if package.isidentifier() and package not in naming.SWIFT_KEYWORDS:
        return package
    return naming.type_name(package, fallback="Client")


class SwiftTarget:
    language = "swift"

    def helpers(self, api: Api, client: ClientSettings) -> dict[str, Any]:
        return {
            "sw_type": sw_type,
            "ident": ident,
            "bare": bare,
            "sw_string": sw_string,
            "prop_type": prop_type,
            "decode_line": decode_line,
            "encode_line": encode_line,
            "comment": comment,
            "enum_raw_type": enum_raw_type,
            "enum_literal": enum_literal,
            "op_params": op_params,
            "return_type": return_type,
            "typed_errors": typed_errors,
            "error_case": error_case,
            "path_expr": path_expr,
            "module": module_name(client.package),
            "boxed": boxed_models(api),
        }

    def plan(self, api: Api, client: ClientSettings) -> list[FilePlan]:
        module = module_name(client.package)
        src = f"Sources/{module}"
        files = [
            FilePlan("Package.swift.j2", "Package.swift"),
            FilePlan("README.md.j2", "README.md"),
            FilePlan("Client.swift.j2", f"{src}/Client.swift"),
            FilePlan("Support.swift.j2", f"{src}/Support.swift"),
            FilePlan("Errors.swift.j2", f"{src}/Errors.swift"),
        ]
        for model in api.models:
            files.append(FilePlan("Model.swift.j2", f"{src}/Models/{model.name}.swift", {"m": model}))
        for service in api.services:
            files.append(
                FilePlan("Service.swift.j2", f"{src}/Services/{service.name}.swift", {"service": service})
            )
        return files
