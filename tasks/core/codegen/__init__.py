"""Client generation: the OpenAPI document in, Swift, Kotlin, TypeScript and Python clients out.

Pipeline (each step a module):

- :mod:`.spec`: read the document (``[codegen] spec``, ``--spec PATH|URL`` or ``--spec live`` for the
  running API at ``[codegen] openapi_endpoint``), check every ``$ref``, validate with
  openapi-spec-validator (verdicts cached per document digest); errors name the JSON pointer.
- :mod:`.build` -> :mod:`.model`: the language-neutral model (wire names kept apart from identifiers,
  inline schemas named by position, allOf merged, unions with and without discriminator, open enums,
  nullable apart from required, maps, formats, bodies, security, servers, services by tag).
- :mod:`.naming`: casing, collisions, per-language reserved words.
- :mod:`.swift`, :mod:`.kotlin`, :mod:`.typescript` + :mod:`.render`: type mapping and the Jinja2
  templates in ``codegen/templates/<language>/``; :mod:`.python`: openapi-python-client's CLI.
- :mod:`.writer`: atomic swap-in, the ``.clikd-gen.json`` stamp (skip when unchanged), ``--check``.
- :mod:`.run`: the orchestration behind ``gen.*``; :mod:`.view`: the summary table.

Nothing here is imported by ``inv --list``: ``tasks/gen.py`` imports these inside its tasks.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tasks.core.config.schema import Settings


def clients_current(settings: Settings, root: Path, *, spec: str = "") -> dict[str, bool | None]:
    """Per language: is the generated client current with the spec? (None: not generated). For env.status;
    ``spec="live"`` compares with the running API's document. See :func:`.run.clients_current`."""
    from tasks.core.codegen.run import clients_current as current

    return current(settings, root, spec=spec)


__all__ = ["clients_current"]
