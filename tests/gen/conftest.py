"""Shared fixtures of the gen tests: the repository, the corpus, settings and small spec builders."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tasks.core.config.schema import Settings

REPO = Path(__file__).resolve().parents[2]
CLIKD_SPEC = REPO / "codegen" / "spec" / "clikd.openapi.yaml"


def corpus_dir() -> Path:
    """The shared OpenAPI corpus: $CLIKD_CORPUS, else ../shared/corpus/openapi beside the repository."""
    configured = os.environ.get("CLIKD_CORPUS")
    path = Path(configured) if configured else REPO.parent / "shared" / "corpus" / "openapi"
    if not path.is_dir():
        raise RuntimeError(f"OpenAPI corpus not found at {path}; set CLIKD_CORPUS")
    return path


def corpus_documents() -> list[Path]:
    return sorted(p for p in corpus_dir().iterdir() if p.suffix in (".yaml", ".yml", ".json"))


@pytest.fixture
def settings() -> Settings:
    return Settings()


@pytest.fixture
def write_spec(tmp_path: Path) -> Callable[..., Path]:
    """Write a small OpenAPI 3.0 document (components and paths merged into a skeleton)."""

    def write(
        schemas: dict[str, Any] | None = None, paths: dict[str, Any] | None = None, **extra: Any
    ) -> Path:
        doc: dict[str, Any] = {
            "openapi": "3.0.3",
            "info": {"title": "T", "version": "1"},
            "paths": paths or {},
            "components": {"schemas": schemas or {}},
            **extra,
        }
        path = tmp_path / "spec.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        return path

    return write
