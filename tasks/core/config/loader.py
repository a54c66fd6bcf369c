"""Layer and check the configuration.

Precedence, lowest first: built-in defaults (the models' defaults) < ``clikd.toml`` <
``clikd.local.toml`` (beside it, per developer, gitignored) < ``CLIKD_SECTION__KEY`` environment
variables < task flags. ``--config PATH`` (the ``clikd`` program) or ``CLIKD_CONFIG`` picks another
file in place of ``clikd.toml``; its local layer is ``<stem>.local.toml`` beside it.

Every mistake becomes a :class:`ConfigError` that names the file (or variable), the key path, the
line where known, what was expected and what was found.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tasks.core.config.schema import Settings
from tasks.core.errors import ConfigError

CONFIG_NAME = "clikd.toml"
ENV_PREFIX = "CLIKD_"
NESTING = "__"

Tree = dict[str, Any]


@dataclass(frozen=True)
class Layer:
    """One source of settings: a file, the environment, or flags."""

    source: str  # a path, "environment" or "flags"
    data: Tree
    path: Path | None = None
    env_names: dict[tuple[str, ...], str] = field(default_factory=dict)


@dataclass(frozen=True)
class LoadedConfig:
    settings: Settings
    root: Path  # the project root: paths in the settings are relative to it
    path: Path | None  # the main config file, None when only defaults apply
    layers: tuple[Layer, ...]

    def resolve(self, relative: str) -> Path:
        return (self.root / relative).resolve()


def find_config(start: Path, env: Mapping[str, str] | None = None) -> Path | None:
    """The config file in use: CLIKD_CONFIG, else the nearest clikd.toml from ``start`` upwards."""
    env = os.environ if env is None else env
    chosen = env.get("CLIKD_CONFIG")
    if chosen:
        path = Path(chosen).expanduser()
        return path if path.is_absolute() else (start / path)
    for folder in (start, *start.parents):
        candidate = folder / CONFIG_NAME
        if candidate.is_file():
            return candidate
    return None


def project_root(start: Path, config_path: Path | None) -> Path:
    """The folder holding the project's clikd.toml (or the git top level, or ``start``)."""
    for folder in (start, *start.parents):
        if (folder / CONFIG_NAME).is_file() or (folder / ".git").exists():
            return folder
    if config_path is not None and config_path.name == CONFIG_NAME:
        return config_path.parent
    return start


def _read_toml(path: Path) -> Tree:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"the config file {path} does not exist",
            hint="check --config / CLIKD_CONFIG, or create clikd.toml at the project root",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"{path} is not valid TOML: {exc}",
            hint="fix the syntax at the line and column named above",
        ) from None


def _parse_env_value(raw: str) -> Any:
    """Read an environment value as a TOML value when it is one (true, 5, ["a"]), else as text."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def env_layer(env: Mapping[str, str]) -> Layer:
    data: Tree = {}
    names: dict[tuple[str, ...], str] = {}
    for name, raw in sorted(env.items()):
        if not name.startswith(ENV_PREFIX) or NESTING not in name:
            continue
        raw_parts = name[len(ENV_PREFIX) :].split(NESTING)
        # Setting keys are lowercase; names below an `environment` table are the container's
        # own variables and keep their case (CLIKD_SERVICES__API__ENVIRONMENT__LOG_LEVEL).
        cut = next((i + 1 for i, p in enumerate(raw_parts) if p.lower() == "environment"), len(raw_parts))
        parts = [p.lower() for p in raw_parts[:cut]] + raw_parts[cut:]
        if any(not p for p in parts):
            raise ConfigError(
                f"the environment variable {name} has an empty key part",
                hint="use CLIKD_SECTION__KEY, e.g. CLIKD_DEVELOPMENT__AUTO_SEED=false",
            )
        node = data
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"{name} sets a key below {part!r}, which another variable sets to a value")
            node = child
        # A container's variables are text, whatever they look like.
        node[parts[-1]] = raw if cut < len(raw_parts) else _parse_env_value(raw)
        names[tuple(parts)] = name
    return Layer("environment", data, env_names=names)


def _merge(base: Tree, top: Mapping[str, Any]) -> Tree:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _has(tree: Tree, path: tuple[str | int, ...]) -> bool:
    node: Any = tree
    for part in path:
        if isinstance(node, dict) and part in node:  # noqa: SIM114  (mypy narrows each branch)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            return False
    return True


_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-\"'. ]+?)\s*=")


def _split_key(text: str) -> list[str]:
    return [p.strip().strip("\"'") for p in text.split(".")]


def locate(path: Path, loc: tuple[str | int, ...]) -> int | None:
    """The line (1-based) of the key at ``loc`` in a TOML file, found by reading its headers and keys."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    want = [str(p) for p in loc if not isinstance(p, int)]
    table: list[str] = []
    best: tuple[int, int] | None = None  # (matched depth, line)
    for number, line in enumerate(lines, start=1):
        header = _HEADER.match(line)
        if header:
            table = _split_key(header.group(1))
            keyed = table
        else:
            key = _KEY.match(line)
            if not key:
                continue
            keyed = table + _split_key(key.group(1))
        depth = len(keyed)
        if keyed == want[:depth] and (best is None or depth > best[0]):
            best = (depth, number)
            if depth == len(want):
                break
    return best[1] if best else None


def _fields_at(loc: tuple[str | int, ...]) -> list[str]:
    """The valid keys of the model at ``loc`` (for suggestions on an unknown key)."""
    from pydantic import BaseModel

    model: Any = Settings
    for part in loc:
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return []
        info = model.model_fields.get(str(part))
        if info is None:
            # a dict of models (services.<name>): step into the value type
            return []
        annotation = info.annotation
        args = getattr(annotation, "__args__", ())
        model = args[-1] if args and getattr(annotation, "__origin__", None) is dict else annotation
        if not isinstance(model, type):
            model = next((a for a in args if isinstance(a, type) and issubclass(a, BaseModel)), model)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    return []


def _model_loc(loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
    """Drop dict keys chosen by the user (service names) so the path walks model fields only."""
    out: list[str | int] = []
    skip_next = False
    for part in loc:
        if skip_next:
            skip_next = False
            continue
        out.append(part)
        if part in ("services", "databases"):
            skip_next = True
    return tuple(out)


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _error_from_validation(exc: Any, layers: tuple[Layer, ...]) -> ConfigError:
    problems: list[str] = []
    first_hint: str | None = None
    for issue in exc.errors(include_url=False):
        loc: tuple[str | int, ...] = tuple(issue["loc"])
        key = ".".join(str(p) for p in loc) or "(top level)"
        origin = "built-in defaults"
        for layer in reversed(layers):
            if _has(layer.data, loc) or (not loc and layer.data):
                if layer.path is not None:
                    line = locate(layer.path, loc)
                    origin = f"{layer.path}" + (f", line {line}" if line else "")
                elif layer.env_names:
                    var = next((v for k, v in layer.env_names.items() if tuple(loc[: len(k)]) == k), None)
                    origin = f"environment variable {var}" if var else "the environment"
                else:
                    origin = layer.source
                break
        kind = issue["type"]
        if kind == "extra_forbidden":
            valid = _fields_at(_model_loc(loc[:-1]))
            close = difflib.get_close_matches(str(loc[-1]), valid, n=1)
            message = f"{key}: unknown key ({origin})"
            hint = f"did you mean {close[0]!r}?" if close else None
            if hint is None and valid:
                hint = "valid keys here: " + ", ".join(valid)
            if first_hint is None:
                first_hint = hint
            problems.append(message + (f" - {hint}" if hint else ""))
            continue
        found = f"; found {_describe(issue['input'])}" if "input" in issue and kind != "missing" else ""
        msg = issue["msg"].removeprefix("Value error, ")
        problems.append(f"{key}: {msg}{found} ({origin})")
    head = problems[0]
    rest = problems[1:]
    return ConfigError(
        head,
        hint=first_hint or "see the configuration reference in the README",
        details=rest,
    )


def load(
    start: Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Tree | None = None,
) -> LoadedConfig:
    """Read, layer and check the configuration; raises ConfigError for anything invalid."""
    from pydantic import ValidationError

    start = (start or Path.cwd()).resolve()
    env = os.environ if env is None else env
    path = find_config(start, env)
    layers: list[Layer] = []
    if path is not None:
        path = path.resolve()
        layers.append(Layer(str(path), _read_toml(path), path))
        local = path.with_name(f"{path.stem}.local.toml")
        if local.is_file():
            layers.append(Layer(str(local), _read_toml(local), local))
    layers.append(env_layer(env))
    if overrides:
        layers.append(Layer("flags", overrides))
    merged: Tree = {}
    for layer in layers:
        merged = _merge(merged, layer.data)
    try:
        settings = Settings.model_validate(merged)
    except ValidationError as exc:
        raise _error_from_validation(exc, tuple(layers)) from None
    return LoadedConfig(settings, project_root(start, path), path, tuple(layers))


_CACHE: dict[tuple[Any, ...], LoadedConfig] = {}


def load_cached(start: Path | None = None, *, overrides: Tree | None = None) -> LoadedConfig:
    """:func:`load` once per run: tasks chained in one invocation share the parsed settings."""
    start = (start or Path.cwd()).resolve()
    relevant = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith(ENV_PREFIX)))
    key = (start, relevant, repr(sorted((overrides or {}).items())))
    if key not in _CACHE:
        _CACHE[key] = load(start, overrides=overrides)
    return _CACHE[key]
