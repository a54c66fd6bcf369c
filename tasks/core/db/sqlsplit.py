"""Split a SQL or CQL file into statements, keeping the line each one starts on.

Knows enough of both languages to find the real semicolons: quoted strings ('' escapes, E'' strings),
quoted identifiers, dollar-quoted bodies ($$ and $tag$), ``--`` and ``/* */`` comments, and ``//``
comments for CQL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_DOLLAR = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")


@dataclass(frozen=True)
class Statement:
    text: str
    line: int  # 1-based line of the statement's first character in its file

    def excerpt(self, limit: int = 200) -> str:
        one = " ".join(self.text.split())
        return one if len(one) <= limit else one[: limit - 1] + "…"


def _only_comments(text: str, cql: bool) -> bool:
    stripped = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    pattern = r"(--|//)[^\n]*" if cql else r"--[^\n]*"
    return not re.sub(pattern, "", stripped).strip()


def _leading_comments(chunk: str, cql: bool) -> int:
    """How many characters of whitespace and comments open ``chunk``."""
    pattern = r"(\s+|--[^\n]*|/\*.*?\*/" + (r"|//[^\n]*" if cql else "") + ")*"
    m = re.match(pattern, chunk, flags=re.S)
    return m.end() if m else 0


def split(text: str, *, cql: bool = False) -> list[Statement]:  # noqa: PLR0912, PLR0915 (one scanner loop)
    """Statements of ``text`` without their terminating semicolons; comment-only chunks are dropped."""
    out: list[Statement] = []
    i, n = 0, len(text)
    start = 0
    depth = 0  # nesting of /* */ comments

    def flush(end: int) -> None:
        chunk = text[start:end]
        if chunk.strip() and not _only_comments(chunk, cql):
            lead = _leading_comments(chunk, cql)
            line = text.count("\n", 0, start + lead) + 1
            out.append(Statement(chunk[lead:].strip(), line))

    while i < n:
        ch = text[i]
        nxt = text[i + 1] if i + 1 < n else ""
        if depth:
            if ch == "*" and nxt == "/":
                depth -= 1
                i += 2
            elif ch == "/" and nxt == "*":
                depth += 1
                i += 2
            else:
                i += 1
            continue
        if ch == "/" and nxt == "*":
            depth = 1
            i += 2
        elif (ch == "-" and nxt == "-") or (cql and ch == "/" and nxt == "/"):
            end = text.find("\n", i)
            i = n if end < 0 else end + 1
        elif ch == "'":
            backslash = i > 0 and text[i - 1] in "eE" and (i < 2 or not text[i - 2].isalnum())
            i += 1
            while i < n:
                if backslash and text[i] == "\\":
                    i += 2
                    continue
                if text[i] == "'":
                    if i + 1 < n and text[i + 1] == "'":
                        i += 2
                        continue
                    break
                i += 1
            i += 1
        elif ch == '"':
            end = text.find('"', i + 1)
            while end >= 0 and end + 1 < n and text[end + 1] == '"':
                end = text.find('"', end + 2)
            i = n if end < 0 else end + 1
        elif ch == "$" and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = _DOLLAR.match(text, i)
            if m:
                tag = m.group(0)
                end = text.find(tag, m.end())
                i = n if end < 0 else end + len(tag)
            else:
                i += 1
        elif ch == ";":
            flush(i)
            i += 1
            start = i
        else:
            i += 1
    flush(n)
    return out
