"""Turn a validated OpenAPI 3.0/3.1 document into the neutral :class:`~tasks.core.codegen.model.Api`.

Deterministic by construction: component schemas are named first in document order, inline schemas
get names from where they sit (``Parent`` + ``Property``, ``Operation`` + ``Request``/``Response``),
collisions take numeric suffixes in a fixed order, and models come out sorted by name.
"""

from __future__ import annotations

from tasks.core.codegen import naming
from tasks.core.codegen.errors import pointer_of
from tasks.core.codegen.model import Api, TypeRef
from tasks.core.codegen.operations import OperationBuilder
from tasks.core.codegen.schemas import SCHEMAS, Json


class Builder(OperationBuilder):
    """A document's whole API: component schemas named first, in document order, then the paths."""

    def build(self) -> Api:
        schemas = self.doc.get("components", {}).get("schemas", {}) or {}
        for key in schemas:
            name = self.types.take(naming.type_name(key))
            self.component_names[key] = name
            self.by_pointer[SCHEMAS + key.replace("~", "~0").replace("/", "~1")] = name
        for key, schema in schemas.items():
            pointer = SCHEMAS + key.replace("~", "~0").replace("/", "~1")
            self.define(self.component_names[key], schema, pointer)
        services, schemes = self.operations(), self.security_schemes()
        error_types: dict[str, TypeRef] = {}
        for service in services:
            for op in service.operations:
                for response in op.errors:
                    if response.type is not None and response.type.kind == "model":
                        error_types.setdefault(response.type.name, response.type.with_nullable(False))
        info = self.doc.get("info", {}) or {}
        return Api(
            title=str(info.get("title", "API")),
            version=str(info.get("version", "")),
            description=str(info.get("description", "") or ""),
            servers=self.servers(),
            models=[self.models[k] for k in sorted(self.models)],
            services=services,
            security_schemes=schemes,
            error_types=[error_types[k] for k in sorted(error_types)],
        )


def build_api(doc: Json, *, source: str = "") -> Api:
    api = Builder(doc, source=source).build()
    for service in api.services:
        for op in service.operations:
            op.service = service.name
    return api


__all__ = ["build_api", "pointer_of"]
