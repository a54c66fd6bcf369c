"""The language-neutral model of an API that every client generator renders.

Names here are *neutral identifiers*: type names in PascalCase (unique across the document and clear of
the builtin type names of every target language) and member names in camelCase (unique within their
owner). Wire names (what goes over HTTP) are kept separately, always. Each language then only escapes
its own keywords (see :mod:`tasks.core.codegen.naming`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Primitive = Literal[
    "string", "integer", "int32", "int64", "number", "float", "double", "boolean",
    "date-time", "date", "uuid", "uri", "binary", "byte", "any",
]  # fmt: skip


@dataclass(frozen=True)
class TypeRef:
    """A type expression: a primitive, a named model, an array or a string-keyed map."""

    kind: Literal["primitive", "model", "array", "map"]
    name: str = ""  # primitive name or model name
    item: TypeRef | None = None  # array item / map value
    nullable: bool = False

    @staticmethod
    def prim(name: Primitive, nullable: bool = False) -> TypeRef:
        return TypeRef("primitive", name, nullable=nullable)

    @staticmethod
    def model(name: str, nullable: bool = False) -> TypeRef:
        return TypeRef("model", name, nullable=nullable)

    def with_nullable(self, nullable: bool) -> TypeRef:
        return TypeRef(self.kind, self.name, self.item, nullable)

    @property
    def is_any(self) -> bool:
        return self.kind == "primitive" and self.name == "any"


@dataclass
class Property:
    wire: str
    name: str
    type: TypeRef
    required: bool
    description: str = ""
    deprecated: bool = False
    read_only: bool = False
    write_only: bool = False

    @property
    def nullable(self) -> bool:
        return self.type.nullable


@dataclass
class EnumCase:
    value: str | int | float | bool
    name: str


@dataclass
class Model:
    """A named type: ``object`` (properties, maybe a map of extras), ``enum``, ``union`` or ``alias``."""

    name: str
    kind: Literal["object", "enum", "union", "alias"]
    pointer: str  # where it was defined in the document
    description: str = ""
    deprecated: bool = False
    properties: list[Property] = field(default_factory=list)
    additional: TypeRef | None = None  # object: type of extra keys (None: not modelled)
    enum_type: Literal["string", "integer", "number"] = "string"
    cases: list[EnumCase] = field(default_factory=list)
    variants: list[Variant] = field(default_factory=list)
    discriminator: str | None = None  # wire name of the tag property
    target: TypeRef | None = None  # alias
    recursive: bool = False  # alias whose target mentions itself: rendered as a wrapper type


@dataclass
class Variant:
    name: str  # member name of the union case, e.g. "dropFeedItem"
    type: TypeRef
    tags: list[str] = field(default_factory=list)  # discriminator values that select it


@dataclass
class Parameter:
    wire: str
    name: str
    location: Literal["path", "query", "header", "cookie"]
    type: TypeRef
    required: bool
    description: str = ""
    deprecated: bool = False
    explode: bool = True


BodyKind = Literal["json", "multipart", "form", "binary", "text"]


@dataclass
class Body:
    kind: BodyKind
    content_type: str
    type: TypeRef
    required: bool
    fields: list[Property] = field(default_factory=list)  # multipart/form: the object's properties


@dataclass
class Response:
    status: str  # "200", "4XX", "default"
    kind: BodyKind | Literal["empty"]
    content_type: str
    type: TypeRef | None
    description: str = ""


@dataclass
class Operation:
    operation_id: str
    name: str  # camelCase method name, unique in its service
    method: str  # upper-case HTTP method
    path: str
    service: str
    pointer: str
    summary: str = ""
    description: str = ""
    deprecated: bool = False
    parameters: list[Parameter] = field(default_factory=list)
    body: Body | None = None
    success: Response | None = None
    errors: list[Response] = field(default_factory=list)
    security: list[str] = field(default_factory=list)  # scheme names; empty: no auth

    @property
    def path_params(self) -> list[Parameter]:
        return [p for p in self.parameters if p.location == "path"]

    @property
    def query_params(self) -> list[Parameter]:
        return [p for p in self.parameters if p.location == "query"]

    @property
    def header_params(self) -> list[Parameter]:
        return [p for p in self.parameters if p.location == "header"]

    @property
    def cookie_params(self) -> list[Parameter]:
        return [p for p in self.parameters if p.location == "cookie"]


@dataclass
class Service:
    name: str  # PascalCase, e.g. "Users"
    tag: str
    description: str = ""
    operations: list[Operation] = field(default_factory=list)


@dataclass
class SecurityScheme:
    name: str  # the key in components.securitySchemes
    kind: Literal["bearer", "basic", "apiKey", "oauth2", "openIdConnect", "other"]
    location: Literal["header", "query", "cookie"] = "header"
    parameter: str = "Authorization"


@dataclass
class Server:
    url: str
    description: str = ""


@dataclass
class Api:
    title: str
    version: str
    description: str
    servers: list[Server]
    models: list[Model]
    services: list[Service]
    security_schemes: list[SecurityScheme]
    error_types: list[TypeRef]  # distinct documented error bodies, for the typed error of each client

    def model(self, name: str) -> Model:
        return self._index()[name]

    def _index(self) -> dict[str, Model]:
        cached: dict[str, Model] | None = getattr(self, "_by_name", None)
        if cached is None:
            cached = {m.name: m for m in self.models}
            object.__setattr__(self, "_by_name", cached)
        return cached

    @property
    def operations(self) -> list[Operation]:
        return [op for s in self.services for op in s.operations]
