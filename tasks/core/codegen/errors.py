"""Errors of client generation: a bad OpenAPI document names the JSON pointer of the problem."""

from __future__ import annotations

from collections.abc import Iterable

from tasks.core.errors import ConfigError


class SpecError(ConfigError):
    """The OpenAPI document is invalid, has a dangling ``$ref`` or uses a construct clikd cannot generate."""

    title = "invalid OpenAPI document"

    def __init__(self, message: str, pointer: str, *, source: str = "", hint: str | None = None) -> None:
        where = f"{source}#{pointer}" if source else f"#{pointer}"
        super().__init__(
            f"{message} (at {where})",
            hint or "fix the document at that JSON pointer; nothing was written",
        )
        self.detail = message
        self.pointer = pointer
        self.source = source


def pointer_of(parts: Iterable[object]) -> str:
    """Join path parts into an RFC 6901 JSON pointer ("" is the whole document)."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)
