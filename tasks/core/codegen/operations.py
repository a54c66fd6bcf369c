"""OpenAPI paths to services: operations, their parameters, request bodies, responses and servers."""

from __future__ import annotations

from typing import Any, cast

from tasks.core.codegen import naming
from tasks.core.codegen.model import (
    Body,
    BodyKind,
    Operation,
    Parameter,
    Property,
    Response,
    SecurityScheme,
    Server,
    Service,
    TypeRef,
)
from tasks.core.codegen.schemas import METHODS, Json, SchemaBuilder


class OperationBuilder(SchemaBuilder):
    """The schema builder, plus the operations of the document's paths (grouped by tag)."""

    def operations(self) -> list[Service]:
        services: dict[str, Service] = {}
        tags = {str(t.get("name")): t for t in self.doc.get("tags") or [] if isinstance(t, dict)}
        op_names: dict[str, naming.Registry] = {}
        for path, raw_item in (self.doc.get("paths") or {}).items():
            at = "/paths/" + path.replace("~", "~0").replace("/", "~1")
            item, item_at = self.deref(raw_item, at)
            if not isinstance(item, dict):
                continue
            shared = item.get("parameters") or []
            for method in METHODS:
                raw = item.get(method)
                if not isinstance(raw, dict):
                    continue
                op_at = f"{item_at}/{method}"
                tag = str((raw.get("tags") or ["default"])[0])
                service_name = naming.type_name(tag, fallback="Tag") + "Api"
                service = services.setdefault(
                    service_name,
                    Service(service_name, tag, str(tags.get(tag, {}).get("description", "") or "")),
                )
                op_id = str(raw.get("operationId") or f"{method} {path}")
                registry = op_names.setdefault(
                    service_name,
                    naming.Registry(set(naming.KEYWORDS["swift"]) | naming.RESERVED_METHOD_NAMES),
                )
                name = registry.take(naming.member_name(op_id, fallback=method))
                service.operations.append(self.operation(name, op_id, method, path, raw, shared, op_at))
        return [services[k] for k in sorted(services)]

    def operation(  # noqa: PLR0917  (the parts of an operation, as the caller found them)
        self, name: str, op_id: str, method: str, path: str, raw: Json, shared: list[Any], at: str
    ) -> Operation:
        hint = naming.type_name(op_id, fallback="Op")
        params: dict[tuple[str, str], tuple[Any, str]] = {}
        for index, param in enumerate(shared):
            node, where = self.deref(param, f"{at.rsplit('/', 1)[0]}/parameters/{index}")
            params[(str(node.get("name")), str(node.get("in")))] = (node, where)
        for index, param in enumerate(raw.get("parameters") or []):
            node, where = self.deref(param, f"{at}/parameters/{index}")
            params[(str(node.get("name")), str(node.get("in")))] = (node, where)
        names = naming.Registry({"body", "options", "config", "client", "request", "response"})
        parameters: list[Parameter] = []
        for (wire, location), (node, where) in params.items():
            if location not in ("path", "query", "header", "cookie"):
                raise self.fail(
                    f"parameter location {location!r} is not one of path/query/header/cookie", where
                )
            schema = node.get("schema")
            if schema is None and isinstance(node.get("content"), dict) and node["content"]:
                first = next(iter(node["content"].values())) or {}
                schema = first.get("schema", {})
            ptype = self.type_of(schema or {}, where + "/schema", hint + naming.pascal(wire))
            parameters.append(
                Parameter(
                    wire=wire,
                    name=names.take(naming.member_name(wire)),
                    location=cast(Any, location),
                    type=ptype,
                    required=bool(node.get("required")) or location == "path",
                    description=str(node.get("description", "") or ""),
                    deprecated=bool(node.get("deprecated")),
                    explode=bool(node.get("explode", node.get("style", "form") == "form")),
                )
            )
        parameters.sort(
            key=lambda p: (not p.required, ("path", "query", "header", "cookie").index(p.location))
        )
        body = self.request_body(raw.get("requestBody"), at + "/requestBody", hint + "Request")
        success, errors = self.responses(raw.get("responses") or {}, at + "/responses", hint)
        security_req = raw.get("security", self.doc.get("security")) or []
        security = sorted({str(k) for req in security_req if isinstance(req, dict) for k in req})
        return Operation(
            operation_id=op_id,
            name=name,
            method=method.upper(),
            path=path,
            service="",
            pointer=at,
            summary=str(raw.get("summary", "") or ""),
            description=str(raw.get("description", "") or ""),
            deprecated=bool(raw.get("deprecated")),
            parameters=parameters,
            body=body,
            success=success,
            errors=errors,
            security=security,
        )

    @staticmethod
    def classify(content_type: str, schema: Any) -> BodyKind:
        ct = content_type.split(";", maxsplit=1)[0].strip().lower()
        if ct == "application/json" or ct.endswith("+json") or ct == "text/json":
            return "json"
        if ct == "multipart/form-data" or ct.startswith("multipart/"):
            return "multipart"
        if ct == "application/x-www-form-urlencoded":
            return "form"
        if ct.startswith("text/") and not (isinstance(schema, dict) and schema.get("format") == "binary"):
            return "text"
        if ct in ("*/*", "application/*") and isinstance(schema, dict) and schema and "format" not in schema:
            return "json"
        return "binary"

    def pick(self, content: Json) -> tuple[str, Any, BodyKind] | None:
        order = {"json": 0, "multipart": 1, "form": 2, "binary": 3, "text": 4}
        best: tuple[int, str, Any, BodyKind] | None = None
        for index, (ct, media) in enumerate(content.items()):
            schema = (media or {}).get("schema") if isinstance(media, dict) else None
            kind = self.classify(ct, schema)
            rank = order[kind] * 1000 + index
            if best is None or rank < best[0]:
                best = (rank, ct, schema, kind)
        return None if best is None else (best[1], best[2], best[3])

    def request_body(self, raw: Any, at: str, hint: str) -> Body | None:
        if raw is None:
            return None
        node, where = self.deref(raw, at)
        chosen = self.pick(node.get("content") or {})
        if chosen is None:
            return None
        ct, schema, kind = chosen
        required = bool(node.get("required"))
        schema_at = f"{where}/content/{ct.replace('~', '~0').replace('/', '~1')}/schema"
        if kind == "binary":
            return Body(kind, ct, TypeRef.prim("binary"), required)
        if kind == "text":
            return Body(kind, ct, TypeRef.prim("string"), required)
        btype = self.type_of(schema or {}, schema_at, hint)
        fields: list[Property] = []
        if kind in ("multipart", "form"):
            if btype.kind == "model" and self.models[btype.name].kind == "object":
                fields = self.models[btype.name].properties
            elif btype.kind != "model":
                kind = "binary" if btype.kind == "primitive" and btype.name == "binary" else kind
                if kind != "binary":
                    raise self.fail(f"a {ct} body must be an object schema", schema_at)
                return Body("binary", ct, TypeRef.prim("binary"), required)
        return Body(kind, ct, btype, required, fields)

    def responses(self, raw: Json, at: str, hint: str) -> tuple[Response | None, list[Response]]:
        success: Response | None = None
        errors: list[Response] = []
        codes = sorted(raw, key=lambda c: (c == "default", c))
        for code in codes:
            node, where = self.deref(raw[code], f"{at}/{code}")
            if not isinstance(node, dict):
                continue
            chosen = self.pick(node.get("content") or {})
            ok = code.startswith("2")
            name_hint = hint + ("Response" if ok else f"Error{code if code != 'default' else 'Default'}")
            if chosen is None:
                response = Response(code, "empty", "", None, str(node.get("description", "") or ""))
            else:
                ct, schema, kind = chosen
                schema_at = f"{where}/content/{ct.replace('~', '~0').replace('/', '~1')}/schema"
                if kind == "binary":
                    rtype = TypeRef.prim("binary")
                elif kind == "text":
                    rtype = TypeRef.prim("string")
                elif kind in ("multipart", "form"):
                    rtype, kind = TypeRef.prim("binary"), "binary"
                else:
                    rtype = self.type_of(schema or {}, schema_at, name_hint)
                response = Response(code, kind, ct, rtype, str(node.get("description", "") or ""))
            if ok:
                if success is None or (success.kind == "empty" and response.kind != "empty"):
                    success = response if success is None or code.startswith("2") else success
            else:
                errors.append(response)
        return success, errors

    # ------------------------------------------------------------------ servers, security
    def servers(self) -> list[Server]:
        out: list[Server] = []
        for server in self.doc.get("servers") or []:
            if not isinstance(server, dict):
                continue
            url = str(server.get("url", ""))
            for var, spec in (server.get("variables") or {}).items():
                url = url.replace("{" + var + "}", str((spec or {}).get("default", "")))
            out.append(Server(url, str(server.get("description", "") or "")))
        return out

    def security_schemes(self) -> list[SecurityScheme]:
        out: list[SecurityScheme] = []
        raw = (self.doc.get("components") or {}).get("securitySchemes") or {}
        for key in sorted(raw):
            node, _ = self.deref(raw[key], "/components/securitySchemes/" + key)
            kind = str(node.get("type", ""))
            if kind == "http":
                scheme = str(node.get("scheme", "")).lower()
                resolved = "bearer" if scheme == "bearer" else "basic" if scheme == "basic" else "other"
                out.append(SecurityScheme(key, cast(Any, resolved)))
            elif kind == "apiKey":
                location = str(node.get("in", "header"))
                out.append(SecurityScheme(key, "apiKey", cast(Any, location), str(node.get("name", key))))
            elif kind in ("oauth2", "openIdConnect"):
                out.append(SecurityScheme(key, cast(Any, kind)))
            else:
                out.append(SecurityScheme(key, "other"))
        return out
