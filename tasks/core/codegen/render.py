"""Rendering a client: one Jinja2 environment over ``codegen/templates/<language>/``, files in memory.

A language module (:mod:`.swift`, :mod:`.kotlin`, :mod:`.typescript`) says which templates make which
files and gives the templates its type-mapping helpers. Output is a ``{relative path: bytes}`` map,
sorted, so writing, hashing and ``--check`` all look at the same thing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tasks.core.codegen.model import Api
from tasks.core.errors import ConfigError


@dataclass(frozen=True)
class ClientSettings:
    """What the ``[clients.<language>]`` section says, plus the title used in READMEs."""

    package: str
    version: str


@dataclass
class FilePlan:
    template: str
    path: str
    context: dict[str, Any] = field(default_factory=dict)


class Target(Protocol):
    language: str

    def helpers(self, api: Api, client: ClientSettings) -> dict[str, Any]: ...

    def plan(self, api: Api, client: ClientSettings) -> list[FilePlan]: ...


def environment(templates: Path, helpers: dict[str, Any]) -> Any:
    import jinja2

    if not templates.is_dir():
        raise ConfigError(
            f"template folder {templates} does not exist",
            "set [codegen] templates to the folder holding swift/, kotlin/ and typescript/",
        )
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates)),
        bytecode_cache=_bytecode_cache(),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # noqa: S701  (source code, not HTML: escaping would corrupt it)
    )
    for name, value in helpers.items():
        if callable(value):
            env.filters[name] = value
        env.globals[name] = value
    return env


def _bytecode_cache() -> Any:
    """Compiled templates in the user's cache (keyed by the template's source): compiling is most of the
    time of rendering a small spec."""
    import os

    import jinja2

    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "clikd" / "codegen" / "jinja"
    try:
        base.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return jinja2.FileSystemBytecodeCache(str(base))


def render(target: Target, api: Api, client: ClientSettings, templates: Path) -> dict[str, bytes]:
    import jinja2

    helpers = target.helpers(api, client)
    env = environment(templates / target.language, helpers)
    files: dict[str, bytes] = {}
    cache: dict[str, Any] = {}
    for item in target.plan(api, client):
        try:
            template = cache.get(item.template)
            if template is None:
                template = cache[item.template] = env.get_template(item.template)
            text = template.render(api=api, client=client, **item.context)
        except jinja2.TemplateError as error:
            where = getattr(error, "filename", None) or item.template
            line = getattr(error, "lineno", None)
            raise ConfigError(
                f"template {where}{f':{line}' if line else ''} failed: {error}",
                f"fix the template under {templates / target.language}, or restore it from git",
            ) from None
        files[item.path] = _tidy(text).encode()
    return dict(sorted(files.items()))


def _tidy(text: str) -> str:
    """One newline at the end, no trailing spaces, at most one blank line in a row."""
    lines = [line.rstrip() for line in text.splitlines()]
    out: list[str] = []
    for line in lines:
        if not line and out and not out[-1]:
            continue
        out.append(line)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out) + "\n"


def doc_lines(text: str) -> list[str]:
    """A description as comment lines, safe inside ``/** */`` and ``///``."""
    return [line.replace("*/", "*\u2215") for line in text.strip().splitlines()]


Helper = Callable[..., Any]
