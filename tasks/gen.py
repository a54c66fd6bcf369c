"""gen: Swift, Kotlin, TypeScript and Python clients from the OpenAPI document.

The spec is ``[codegen] spec`` (codegen/spec/clikd.openapi.yaml) unless ``--spec`` names a file, a URL,
or ``live`` (the running API at ``[codegen] openapi_endpoint``). Outputs are ``[clients.<language>]
output``; ``--output DIR`` writes there instead (``DIR/<language>`` for gen.all).
"""

from __future__ import annotations

from typing import Any

from invoke.context import Context

from tasks.core import console
from tasks.core.session import Session
from tasks.core.tasking import clikd_task

HELP = {
    "spec": "PATH or URL of the OpenAPI document, or `live` for the running API (default: [codegen] spec)",
    "output": "write here instead of [clients.*] output (gen.all: one folder per language inside)",
    "check": "do not write; exit 7 listing the files that differ from what the spec generates (for CI)",
    "force": "regenerate even when spec, templates and generator are unchanged",
    "validate": "validate the document with openapi-spec-validator first (--no-validate skips it)",
}


def _run(
    languages: list[str], *, spec: str, output: str, check: bool, force: bool, validate: bool, json: bool
) -> None:
    from tasks.core.codegen import view  # noqa: F401  (registers the table)
    from tasks.core.codegen.run import CheckFailedWithReport, GenFailed, GenReport
    from tasks.core.codegen.run import generate as run_generate

    def generate(*args: Any, **kw: Any) -> GenReport:
        try:
            return run_generate(*args, **kw)
        except (GenFailed, CheckFailedWithReport) as error:
            if not json:
                console.emit(error.report)  # the table first: what was written, what failed and why
            raise

    session = Session()
    settings = session.config.settings
    if json or not console.err.is_terminal:
        result = generate(
            settings,
            session.root,
            languages,
            spec=spec,
            output=output,
            check=check,
            force=force,
            validate=validate,
        )
    else:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        columns: list[Any] = [
            TextColumn("{task.description:<11}"),
            BarColumn(),
            TextColumn("{task.fields[stage]}"),
        ]
        with Progress(*columns, TimeElapsedColumn(), console=console.err, transient=False) as bars:
            ids = {lang: bars.add_task(lang, total=1.0, stage="starting") for lang in languages}

            def progress(lang: str, stage: str, done: float) -> None:
                bars.update(ids[lang], completed=done, stage=stage)

            result = generate(
                settings,
                session.root,
                languages,
                spec=spec,
                output=output,
                check=check,
                force=force,
                validate=validate,
                progress=progress,
            )
    console.emit(result, as_json=json)


@clikd_task(help=HELP)
def swift(  # noqa: PLR0917  (each parameter is a CLI flag)
    c: Context,
    spec: str = "",
    output: str = "",
    check: bool = False,
    force: bool = False,
    validate: bool = True,
    json: bool = False,
) -> None:
    """Generate the Swift package (Codable models, async/await URLSession client).

    Examples:
      inv gen.swift
      inv gen.swift --spec live --output /tmp/ClikdAPI
    """
    _run(["swift"], spec=spec, output=output, check=check, force=force, validate=validate, json=json)


@clikd_task(help=HELP)
def kotlin(  # noqa: PLR0917  (each parameter is a CLI flag)
    c: Context,
    spec: str = "",
    output: str = "",
    check: bool = False,
    force: bool = False,
    validate: bool = True,
    json: bool = False,
) -> None:
    """Generate the Kotlin library (kotlinx.serialization models, Ktor client).

    Examples:
      inv gen.kotlin
      inv gen.kotlin --check
    """
    _run(["kotlin"], spec=spec, output=output, check=check, force=force, validate=validate, json=json)


@clikd_task(help=HELP)
def typescript(  # noqa: PLR0917  (each parameter is a CLI flag)
    c: Context,
    spec: str = "",
    output: str = "",
    check: bool = False,
    force: bool = False,
    validate: bool = True,
    json: bool = False,
) -> None:
    """Generate the TypeScript package (types, fetch client, package.json, tsconfig).

    Examples:
      inv gen.typescript
      inv gen.typescript --spec http://127.0.0.1:3002/api/openapi.json --output web/src/api
    """
    _run(["typescript"], spec=spec, output=output, check=check, force=force, validate=validate, json=json)


@clikd_task(help=HELP)
def python(  # noqa: PLR0917  (each parameter is a CLI flag)
    c: Context,
    spec: str = "",
    output: str = "",
    check: bool = False,
    force: bool = False,
    validate: bool = True,
    json: bool = False,
) -> None:
    """Generate the Python client with openapi-python-client.

    Examples:
      inv gen.python
      inv gen.python --output /tmp/clikd-api --json
    """
    _run(["python"], spec=spec, output=output, check=check, force=force, validate=validate, json=json)


@clikd_task(help={**HELP, "only": "comma-separated subset of swift,kotlin,typescript,python"})
def all(  # noqa: PLR0917  (each parameter is a CLI flag)
    c: Context,
    spec: str = "",
    output: str = "",
    check: bool = False,
    force: bool = False,
    validate: bool = True,
    only: str = "",
    json: bool = False,
) -> None:
    """Generate every client in parallel, with a progress bar each and a summary table.

    Examples:
      inv gen.all
      inv gen.all --check
      inv gen.all --spec live --output /tmp/clients --json
      inv db.reset --yes gen.all
    """
    from tasks.core.codegen.run import parse_languages

    _run(
        parse_languages(only),
        spec=spec,
        output=output,
        check=check,
        force=force,
        validate=validate,
        json=json,
    )
