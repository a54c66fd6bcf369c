"""Identifiers from wire names: word splitting, casing, collisions and per-language reserved words.

The neutral model takes type names through :func:`type_name` and member names through
:func:`member_name`; the renderers then apply :func:`escape_member` for their language. Wire names
are never changed: Swift maps them with CodingKeys, Kotlin with ``@SerialName``, TypeScript quotes
them where they are not identifiers.
"""

from __future__ import annotations

import re
import unicodedata

_WORD = re.compile(r"[^\W_]+", re.UNICODE)

SWIFT_KEYWORDS = frozenset(
    [
        "associatedtype",
        "class",
        "deinit",
        "enum",
        "extension",
        "fileprivate",
        "func",
        "import",
        "init",
        "inout",
        "internal",
        "let",
        "open",
        "operator",
        "private",
        "precedencegroup",
        "protocol",
        "public",
        "rethrows",
        "static",
        "struct",
        "subscript",
        "typealias",
        "var",
        "break",
        "case",
        "catch",
        "continue",
        "default",
        "defer",
        "do",
        "else",
        "fallthrough",
        "for",
        "guard",
        "if",
        "in",
        "repeat",
        "return",
        "throw",
        "switch",
        "where",
        "while",
        "Any",
        "as",
        "await",
        "false",
        "is",
        "nil",
        "self",
        "Self",
        "super",
        "throws",
        "true",
        "try",
        "async",
        "actor",
        "some",
        "any",
        "Type",
        "Protocol",
        "associativity",
        "convenience",
        "dynamic",
        "didSet",
        "final",
        "get",
        "indirect",
        "infix",
        "lazy",
        "left",
        "mutating",
        "none",
        "nonmutating",
        "optional",
        "override",
        "postfix",
        "precedence",
        "prefix",
        "required",
        "right",
        "set",
        "unowned",
        "weak",
        "willSet",
        "yield",
    ]
)
KOTLIN_KEYWORDS = frozenset(
    [
        "as",
        "break",
        "class",
        "continue",
        "do",
        "else",
        "false",
        "for",
        "fun",
        "if",
        "in",
        "interface",
        "is",
        "null",
        "object",
        "package",
        "return",
        "super",
        "this",
        "throw",
        "true",
        "try",
        "typealias",
        "typeof",
        "val",
        "var",
        "when",
        "while",
        "by",
        "catch",
        "constructor",
        "delegate",
        "dynamic",
        "field",
        "file",
        "finally",
        "get",
        "import",
        "init",
        "param",
        "property",
        "receiver",
        "set",
        "setparam",
        "value",
        "where",
        "actual",
        "abstract",
        "annotation",
        "companion",
        "const",
        "crossinline",
        "data",
        "enum",
        "expect",
        "external",
        "final",
        "infix",
        "inline",
        "inner",
        "internal",
        "lateinit",
        "noinline",
        "open",
        "operator",
        "out",
        "override",
        "private",
        "protected",
        "public",
        "reified",
        "sealed",
        "suspend",
        "tailrec",
        "vararg",
    ]
)
TYPESCRIPT_KEYWORDS = frozenset(
    [
        "break",
        "case",
        "catch",
        "class",
        "const",
        "continue",
        "debugger",
        "default",
        "delete",
        "do",
        "else",
        "enum",
        "export",
        "extends",
        "false",
        "finally",
        "for",
        "function",
        "if",
        "import",
        "in",
        "instanceof",
        "new",
        "null",
        "return",
        "super",
        "switch",
        "this",
        "throw",
        "true",
        "try",
        "typeof",
        "var",
        "void",
        "while",
        "with",
        "as",
        "implements",
        "interface",
        "let",
        "package",
        "private",
        "protected",
        "public",
        "static",
        "yield",
        "any",
        "boolean",
        "constructor",
        "declare",
        "get",
        "module",
        "require",
        "number",
        "set",
        "string",
        "symbol",
        "type",
        "from",
        "of",
        "async",
        "await",
        "never",
        "unknown",
        "object",
        "undefined",
        "bigint",
        "keyof",
        "readonly",
        "infer",
        "is",
        "asserts",
        "unique",
        "arguments",
        "eval",
    ]
)
KEYWORDS = {"swift": SWIFT_KEYWORDS, "kotlin": KOTLIN_KEYWORDS, "typescript": TYPESCRIPT_KEYWORDS}

# Type names that would shadow a builtin or a support type of some client: models never take them,
# in any language, so one model has one name on every platform.
RESERVED_TYPE_NAMES = frozenset(
    (  # noqa: SIM905  (a word list reads better than 109 quoted strings)
        # builtins of Swift, Kotlin and TypeScript
        "Any AnyObject Array Bool Boolean Byte ByteArray Char Codable Data Date Decimal Decodable Decoder "
        "Dictionary Double Encodable Encoder Error Float Int Int32 Int64 List Long Map Never Nothing Number "
        "Object Optional Promise Protocol Record Result Self Sequence Set Short String Type Unit "
        "URL UUID Uuid "
        "Blob File FormData Headers Response Request Function Symbol BigInt Exception Throwable Void "
        "Undefined Null Unknown Instant OffsetDateTime LocalDate HttpClient Json Serializable Sendable "
        "Hashable Equatable JsonElement JsonObject JsonPrimitive KSerializer URLSession "
        # support types of the generated clients (codegen/templates)
        "JSONValue JsonValue Nullable NullableField NullableFieldSerializer ApiClient ApiError ApiErrorBody "
        "ApiConfig ApiException APIClient APIError APIErrorBody APIConfiguration APIRequest AnyCodingKey "
        "DateCoding FormBody FormPart QueryParam RequestBody RawResponse Scheme SecurityScheme "
        "RequestOptions "
        "RequestSpec Supplier JsonDateTime JsonDate JsonUuid OffsetDateTimeSerializer LocalDateSerializer "
        "UuidSerializer Configuration Transport"
    ).split()
)


# Method names a service class cannot take in some client: its own members (``client``), what every
# object has (TypeScript's ``constructor`` and Object.prototype methods, Kotlin's Any members, Swift's
# ``init``/``deinit`` and NSObject-style names). Operations that would take one get a numeric suffix.
RESERVED_METHOD_NAMES = frozenset(
    (  # noqa: SIM905
        "client constructor toString toLocaleString valueOf hasOwnProperty isPrototypeOf "
        "propertyIsEnumerable hashCode equals copy finalize getClass wait notify notifyAll clone "
        "init deinit description debugDescription hash self Type Protocol"
    ).split()
)


def _ascii_fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def words(text: str) -> list[str]:
    """Split any wire name into words: ``foo_bar``, ``fooBar``, ``FOO-BAR``, ``x.y`` -> foo, bar."""
    text = _ascii_fold(text)
    out: list[str] = []
    for chunk in _WORD.findall(text):
        out.extend(_split_case(chunk))
    return [w for w in out if w]


def _split_case(chunk: str) -> list[str]:
    """fooBar -> foo Bar; HTTPServer -> HTTP Server; v2Beta -> v 2 Beta (any alphabet with case)."""
    parts: list[str] = []
    start = 0
    for i in range(1, len(chunk)):
        prev, cur = chunk[i - 1], chunk[i]
        nxt = chunk[i + 1] if i + 1 < len(chunk) else ""
        if (
            (prev.islower() and cur.isupper())
            or (prev.isdigit() != cur.isdigit())
            or (prev.isupper() and cur.isupper() and nxt.islower())
        ):
            parts.append(chunk[start:i])
            start = i
    parts.append(chunk[start:])
    return parts


def _prefix_for_sign(text: str) -> list[str]:
    stripped = text.strip()
    if stripped.startswith("+"):
        return ["plus"]
    if stripped.startswith("-"):
        return ["minus"]
    return []


def _cap(word: str) -> str:
    # acronyms read as words: HTTPServer -> HttpServer, FOO_BAR -> FooBar
    return word[:1].upper() + (word[1:].lower() if word.isupper() else word[1:])


def pascal(text: str) -> str:
    parts = _prefix_for_sign(text) + words(text)
    return "".join(_cap(w) for w in parts)


def camel(text: str) -> str:
    parts = _prefix_for_sign(text) + words(text)
    if not parts:
        return ""
    first = parts[0]
    first = first.lower() if first.isupper() or len(first) == 1 else first[:1].lower() + first[1:]
    return first + "".join(_cap(w) for w in parts[1:])


def upper_snake(text: str) -> str:
    parts = _prefix_for_sign(text) + words(text)
    return "_".join(w.upper() for w in parts)


def type_name(text: str, *, fallback: str = "Model") -> str:
    """A PascalCase type identifier; never empty, never starting with a digit, never a builtin."""
    name = pascal(text) or fallback
    if name[0].isdigit():
        name = fallback + name
    if name in RESERVED_TYPE_NAMES:
        name += fallback
    return name


def member_name(text: str, *, fallback: str = "value") -> str:
    """A camelCase member identifier; never empty and never starting with a digit."""
    name = camel(text) or fallback
    if name[0].isdigit():
        name = "_" + name
    return name


class Registry:
    """Hands out unique names in one scope: the first taker keeps a name, later ones get 2, 3, ..."""

    def __init__(self, taken: set[str] | None = None, *, casefold: bool = False) -> None:
        self._casefold = casefold
        self._taken: set[str] = {self._key(t) for t in taken or ()}

    def _key(self, name: str) -> str:
        return name.casefold() if self._casefold else name

    def take(self, name: str) -> str:
        candidate, n = name, 1
        while self._key(candidate) in self._taken:
            n += 1
            candidate = f"{name}{n}"
        self._taken.add(self._key(candidate))
        return candidate

    def __contains__(self, name: str) -> bool:
        return self._key(name) in self._taken


def escape_member(name: str, language: str) -> str:
    """A member identifier safe in the language: Swift and Kotlin backtick keywords, TS appends ``_``."""
    if name in KEYWORDS[language]:
        if language in ("swift", "kotlin"):
            return f"`{name}`"
        return name + "_"
    return name


def is_ts_identifier(name: str) -> bool:
    return re.fullmatch(r"[A-Za-z_$][A-Za-z0-9_$]*", name) is not None
