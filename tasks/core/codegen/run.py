"""Generating clients: resolve the spec, validate once, render each language, write or check.

The core of ``gen.*``: returns :class:`GenReport` and never prints. Progress goes through a callback the
task layer turns into Rich bars.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

from tasks.core.codegen import spec as spec_mod
from tasks.core.codegen.errors import SpecError
from tasks.core.codegen.model import Api
from tasks.core.codegen.render import ClientSettings, Target, render
from tasks.core.codegen.writer import Stamp, differences, is_current, read_stamp, sha256, write_tree
from tasks.core.config.schema import Settings
from tasks.core.errors import CheckFailed, ClikdError, ExitCode, UsageError

LANGUAGES = ("swift", "kotlin", "typescript", "python")
Language = Literal["swift", "kotlin", "typescript", "python"]
Progress = Callable[[str, str, float], None]  # language, stage, fraction done (0..1)

GENERATOR_DIR = Path(__file__).resolve().parent


@dataclass
class LanguageResult:
    language: str
    output: str
    status: str  # generated | unchanged | current | differs
    models: int = 0
    endpoints: int = 0
    services: int = 0
    files: int = 0
    size: int = 0  # bytes
    seconds: float = 0.0
    differences: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was adapted or left out, one line each
    error: str = ""  # status "failed": why, and what to do
    hint: str = ""
    details: list[str] = field(default_factory=list)
    exit_code: int = 0  # status "failed": the exit code its error carries


@dataclass
class GenReport:
    spec: str
    spec_digest: str
    check: bool
    results: list[LanguageResult]
    seconds: float

    @property
    def ok(self) -> bool:
        return all(r.status not in ("differs", "failed") for r in self.results)

    @property
    def failed(self) -> list[LanguageResult]:
        return [r for r in self.results if r.status == "failed"]


@cache
def generator_fingerprint() -> str:
    """Hash of the generator's own code: a changed generator regenerates even with the same spec."""
    digest = hashlib.sha256()
    for path in sorted(GENERATOR_DIR.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def templates_digest(templates: Path, language: str) -> str:
    digest = hashlib.sha256()
    root = templates / language
    if root.is_dir():
        for path in sorted(root.rglob("*")):
            if path.is_file():
                digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def inputs_digest(language: str, spec_digest: str, templates: Path, client: ClientSettings) -> str:
    parts = [language, spec_digest, generator_fingerprint(), client.package, client.version]
    if language == "python":
        from tasks.core.codegen.python import opc_version

        parts.append(opc_version())
    else:
        parts.append(templates_digest(templates, language))
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def target_for(language: str) -> Target:
    if language == "swift":
        from tasks.core.codegen.swift import SwiftTarget

        return SwiftTarget()
    if language == "kotlin":
        from tasks.core.codegen.kotlin import KotlinTarget

        return KotlinTarget()
    from tasks.core.codegen.typescript import TypeScriptTarget

    return TypeScriptTarget()


def client_settings(settings: Settings, language: str) -> ClientSettings:
    section = getattr(settings.clients, language)
    return ClientSettings(section.package, section.version)


def output_dir(settings: Settings, root: Path, language: str, output: str, *, several: bool) -> Path:
    if output:
        base = Path(output)
        base = base if base.is_absolute() else Path.cwd() / base
        return (base / language) if several else base
    configured = Path(getattr(settings.clients, language).output)
    return configured if configured.is_absolute() else root / configured


def parse_languages(text: str) -> list[str]:
    chosen = [x.strip() for x in text.split(",") if x.strip()] if text else list(LANGUAGES)
    unknown = [x for x in chosen if x not in LANGUAGES]
    if unknown:
        raise UsageError(f"unknown language {', '.join(unknown)}", f"choose from {', '.join(LANGUAGES)}")
    return chosen


def load_spec(settings: Settings, root: Path, spec: str) -> spec_mod.LoadedSpec:
    codegen = settings.codegen
    source = spec_mod.resolve_source(
        spec, root=root, default_file=codegen.spec, endpoint=codegen.openapi_endpoint
    )
    return spec_mod.load(source, timeout=codegen.timeout)


def build_model(loaded: spec_mod.LoadedSpec) -> Api:
    from tasks.core.codegen.build import build_api

    return build_api(loaded.document, source=str(loaded.source))


def _as_clikd_error(language: str, error: Exception) -> ClikdError:
    if isinstance(error, ClikdError):
        return error
    # A generator bug must not cost the other languages, nor show a traceback.
    return ClikdError(
        f"the {language} generator failed: {type(error).__name__}: {error}",
        "this is a clikd bug: report it with the document (CLIKD_NO_FORK is not involved)",
    )


def generate(  # noqa: PLR0912, PLR0915  (one linear pipeline, per language: nothing half-written)
    settings: Settings,
    root: Path,
    languages: list[str],
    *,
    spec: str = "",
    output: str = "",
    check: bool = False,
    force: bool = False,
    validate: bool = True,
    progress: Progress | None = None,
) -> GenReport:
    """Generate (or with ``check`` compare) the clients of ``languages``.

    Each language succeeds or fails on its own: a failing one is marked ``failed`` with its reason
    and nothing of it is written, the others are written. An invalid document fails them all.
    """
    started = time.perf_counter()
    report = progress or (lambda _lang, _stage, _done: None)
    templates = root / settings.codegen.templates
    loaded = load_spec(settings, root, spec)
    several = len(languages) > 1
    plans: dict[str, tuple[Path, ClientSettings, str]] = {}
    for lang in languages:
        client = client_settings(settings, lang)
        target = output_dir(settings, root, lang, output, several=several)
        plans[lang] = (target, client, inputs_digest(lang, loaded.digest, templates, client))
        report(lang, "spec loaded", 0.1)

    pending = [lang for lang in languages if force or check or not is_current(plans[lang][0], plans[lang][2])]
    results: dict[str, LanguageResult] = {
        lang: LanguageResult(lang, str(plans[lang][0]), "unchanged")
        for lang in languages
        if lang not in pending
    }
    for lang, skipped in results.items():
        stamp = read_stamp(plans[lang][0])
        skipped.files = len(stamp.files) if stamp else 0
        report(lang, "unchanged", 1.0)
    failures: dict[str, ClikdError] = {}
    if pending:
        already_valid = any(
            (s := read_stamp(plans[lang][0])) is not None and s.validated and s.spec_digest == loaded.digest
            for lang in languages
        )
        validation: Callable[[], None] | None = None
        if validate and not already_valid:
            for lang in pending:
                report(lang, "validating", 0.2)
            validation = spec_mod.start_validation(loaded.document, loaded.digest, source=str(loaded.source))
        # One worker per language: Python is a subprocess (a core of its own), validation a forked process,
        # and the Jinja renderers share this interpreter.
        rendered: dict[str, tuple[dict[str, bytes], float, list[str]]] = {}
        api: Api | None = None
        with ThreadPoolExecutor(max_workers=len(pending)) as pool:
            jobs: dict[str, Future[tuple[dict[str, bytes], float, list[str]]]] = {}
            if "python" in pending:
                from tasks.core.codegen.python import generate_python

                _, py_client, _ = plans["python"]
                report("python", "openapi-python-client", 0.2)

                def python_job() -> tuple[dict[str, bytes], float, list[str]]:
                    t0 = time.perf_counter()
                    client = generate_python(loaded.document, py_client.package, py_client.version)
                    return client.files, time.perf_counter() - t0, client.notes

                jobs["python"] = pool.submit(python_job)
            templated = [lang for lang in pending if lang != "python"]
            if templated:
                try:
                    api = build_model(loaded)
                except Exception as error:  # each language fails on its own
                    for lang in templated:
                        failures[lang] = _as_clikd_error(lang, error)

            def render_job(lang: str, api: Api) -> tuple[dict[str, bytes], float, list[str]]:
                t0 = time.perf_counter()
                report(lang, "rendering", 0.5)
                files = render(target_for(lang), api, plans[lang][1], templates)
                report(lang, "rendered", 0.8)
                return files, time.perf_counter() - t0, []

            if api is not None:
                for lang in templated:
                    jobs[lang] = pool.submit(render_job, lang, api)
            try:
                for lang, job in jobs.items():
                    try:
                        rendered[lang] = job.result()
                    except Exception as error:  # each language fails on its own
                        failures[lang] = _as_clikd_error(lang, error)
            finally:
                if validation is not None:
                    validation()  # a bad document's SpecError wins over any later failure; nothing written
        # Only now touch the disk, and only for the languages that rendered.
        for lang in pending:
            target, _, inputs = plans[lang]
            if lang in failures:
                failure = failures[lang]
                results[lang] = LanguageResult(
                    lang, str(target), "failed", error=failure.message, hint=failure.hint or "",
                    details=list(failure.details), exit_code=int(failure.exit_code),
                )  # fmt: skip
                report(lang, "failed", 1.0)
                continue
            files, seconds, notes = rendered[lang]
            result = LanguageResult(
                lang, str(target), "generated", files=len(files), size=sum(map(len, files.values()))
            )
            result.seconds = round(seconds, 3)
            result.notes = notes
            if api is not None and lang != "python":
                result.models, result.endpoints, result.services = (
                    len(api.models), len(api.operations), len(api.services),
                )  # fmt: skip
            elif lang == "python":
                result.models = sum(1 for p in files if "/models/" in p and not p.endswith("__init__.py"))
                result.endpoints = sum(1 for p in files if "/api/" in p and not p.endswith("__init__.py"))
                result.services = len(
                    {p.split("/api/")[1].split("/")[0] for p in files if "/api/" in p and p.count("/") > 2}
                )
            if check:
                result.differences = differences(target, files)
                result.status = "differs" if result.differences else "current"
            else:
                stamp = Stamp(
                    inputs, loaded.digest, validate or already_valid, {k: sha256(v) for k, v in files.items()}
                )
                write_tree(target, files, stamp)
            report(lang, result.status, 1.0)
            results[lang] = result
    gen = GenReport(
        spec=str(loaded.source),
        spec_digest=loaded.digest,
        check=check,
        results=[results[lang] for lang in languages],
        seconds=round(time.perf_counter() - started, 3),
    )
    errors = {id(e): e for e in failures.values()} if pending else {}
    if len(errors) == 1 and set(failures) == set(languages):
        # Every language failed for one reason (the shared model refused the document): that error
        # alone is the whole story, with its own code and JSON pointer.
        raise next(iter(errors.values()))
    if gen.failed:
        raise GenFailed(gen)
    if check and not gen.ok:
        details = [f"{r.language}: {d}" for r in gen.results for d in r.differences]
        raise CheckFailedWithReport(gen, details)
    return gen


class GenFailed(ClikdError):
    """One or more languages failed; the others were generated (or checked) all the same."""

    title = "client generation failed"

    def __init__(self, report: GenReport) -> None:
        failed = report.failed
        ok = [r.language for r in report.results if r.status != "failed"]
        names = ", ".join(r.language for r in failed)
        done = "checked" if report.check else "written"
        super().__init__(
            f"{names} failed" + (f"; {', '.join(ok)} {done}" if ok else ""),
            next((r.hint for r in failed if r.hint), "each failed language's reason is above"),
            details=[f"{r.language}: {r.error}" for r in failed]
            + [f"  {line}" for r in failed for line in r.details],
        )
        # Scripts see the failure's own code (3 for a document construct, 1 for a generator that
        # failed) when the failed languages agree, 1 when they do not.
        codes = {r.exit_code for r in failed}
        self.exit_code = ExitCode(codes.pop()) if len(codes) == 1 else ExitCode.FAILURE
        self.report = report

    def to_dict(self) -> dict[str, object]:
        from tasks.core.console import to_jsonable

        return {**super().to_dict(), "report": to_jsonable(self.report)}


class CheckFailedWithReport(CheckFailed):
    def __init__(self, report: GenReport, details: list[str]) -> None:
        shown = details[:50] + ([f"... and {len(details) - 50} more"] if len(details) > 50 else [])
        langs = ", ".join(r.language for r in report.results if r.status == "differs")
        super().__init__(
            f"generated clients differ from what the spec generates ({langs}): {len(details)} file(s)",
            "run `inv gen.all` (or the language's gen task) and commit the result",
            details=shown,
        )
        self.report = report


def clients_current(settings: Settings, root: Path, *, spec: str = "") -> dict[str, bool | None]:
    """Per language: True when the client on disk was generated from this spec and these templates and is
    unedited, False when it is stale, None when there is no generated client (or no readable spec).

    Cheap (no validation, no rendering): for ``env.status``. ``spec="live"`` compares with the running API.
    """
    out: dict[str, bool | None] = {}
    try:
        loaded = load_spec(settings, root, spec)
    except (SpecError, Exception):
        return dict.fromkeys(LANGUAGES)
    templates = root / settings.codegen.templates
    for lang in LANGUAGES:
        client = client_settings(settings, lang)
        target = output_dir(settings, root, lang, "", several=True)
        if read_stamp(target) is None:
            out[lang] = None
        else:
            out[lang] = is_current(target, inputs_digest(lang, loaded.digest, templates, client))
    return out


def describe(report: GenReport) -> dict[str, Any]:
    return {"spec": report.spec, "ok": report.ok, "seconds": report.seconds}
