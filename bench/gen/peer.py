"""The peer generator: openapi-generator-cli, run the way a team would run it, to measure clikd against.

    python -m bench.gen.peer SPEC OUT [--lang swift,kotlin,typescript] [--gate]

runs ``java -jar openapi-generator-cli.jar generate`` once per language (one JVM each, as a user runs it)
into ``OUT/<language>`` and prints the wall time of each. The jar comes from ``tests/infra/toolchains/up``.

Generators and options:

- swift: ``swift6`` (URLSession, async/await, Codable); sources under ``OUT/swift/Sources``.
- kotlin: ``kotlin`` with ``library=jvm-ktor, serializationLibrary=kotlinx_serialization``; sources under
  ``OUT/kotlin/src/main/kotlin``. Its build.gradle (7.25.0) asks for kotlin 2.4.0, kotlinx-serialization-json
  1.11.0, ktor-client-core and ktor-client-content-negotiation 3.5.1: all on the Kotlin gate's classpath (at
  kotlin 2.4.21, serialization 1.12.0, ktor 3.5.2), so the gate needs no extra dependency for it. On 25
  corpus specs, 16 outputs compiled; the 9 others failed on the generator's own bugs (BigDecimal defaults
  written as Double literals, ``HashMap<..>()()`` supertypes, numeric enums given strings, form parts),
  none on a missing library. Each spec gets its own ``packageName`` (``org.openapitools.client.<slug>``)
  so that many peers' outputs compile in one gate run.
- typescript: ``typescript-fetch``; ``.ts`` files at the root of ``OUT/typescript`` (apis/, models/,
  runtime.ts). It crashed on 3 of the 25 specs (NullPointerException in fromRequestBody); 15 of the 22
  outputs passed ``tsc --strict``. swift6: all 25 generated and parsed.

Docs and test stubs are not generated (``--global-property apiDocs=false,...``): only the client code is
timed, as clikd generates only that. ``--skip-validate-spec`` lets it take specs that its validator rejects.

Checking the peer's output through clikd's gates (``--gate``, or :func:`gate`)::

    from tests.gen import gates
    gates.swift_parse([OUT / "swift" / "Sources"])
    gates.kotlin_compile([OUT / "kotlin" / "src" / "main" / "kotlin"])
    gates.typescript_check([OUT / "typescript"])
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tests.gen import gates

LANGUAGES = ("swift", "kotlin", "typescript")

#: language -> (openapi-generator name, additional properties, the sources' folder under the output)
GENERATORS: dict[str, tuple[str, dict[str, str], str]] = {
    "swift": ("swift6", {"projectName": "PeerClient"}, "Sources"),
    "kotlin": (
        "kotlin",
        {"library": "jvm-ktor", "serializationLibrary": "kotlinx_serialization"},
        "src/main/kotlin",
    ),
    "typescript": ("typescript-fetch", {"supportsES6": "true"}, "."),
}

_NO_EXTRAS = "apiTests=false,modelTests=false,apiDocs=false,modelDocs=false"


@dataclass
class PeerRun:
    language: str
    generator: str
    out: Path  # the generator's output folder
    sources: Path  # the folder to give the language's gate
    seconds: float  # wall time of the whole `java -jar ... generate`
    ok: bool
    log: str


def slug(spec: Path) -> str:
    """A Kotlin/Java package segment from a spec's file name (``oai-petstore.yaml`` -> ``oai_petstore``)."""
    name = re.sub(r"[^a-z0-9]+", "_", spec.stem.lower()).strip("_") or "spec"
    return name if name[0].isalpha() else f"s_{name}"


def run_peer(
    spec: Path, out: Path, languages: Iterable[str] = LANGUAGES, *, timeout: float = 900
) -> dict[str, PeerRun]:
    """Generate the peer's clients for ``spec`` into ``out/<language>``; the wall time of each run."""
    jar = gates.openapi_generator_jar()
    runs: dict[str, PeerRun] = {}
    for language in languages:
        generator, properties, sources = GENERATORS[language]
        props = dict(properties)
        if language == "kotlin":
            props["packageName"] = f"org.openapitools.client.{slug(spec)}"
        target = out / language
        cmd = [
            "java",
            "-jar",
            str(jar),
            "generate",
            "--skip-validate-spec",
            "-i",
            str(spec),
            "-g",
            generator,
            "-o",
            str(target),
            "--global-property",
            _NO_EXTRAS,
            "-p",
            ",".join(f"{k}={v}" for k, v in props.items()),
        ]
        started = time.monotonic()
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        seconds = time.monotonic() - started
        runs[language] = PeerRun(
            language=language,
            generator=generator,
            out=target,
            sources=(target / sources).resolve(),
            seconds=seconds,
            ok=proc.returncode == 0,
            log=proc.stdout + proc.stderr,
        )
    return runs


def gate(runs: Iterable[PeerRun]) -> dict[str, gates.GateResult]:
    """Every language's peer outputs through its clikd gate, one gate call per language."""
    by_language: dict[str, list[Path]] = {}
    for run in runs:
        if run.ok:
            by_language.setdefault(run.language, []).append(run.sources)
    checks = {
        "swift": gates.swift_parse,
        "kotlin": gates.kotlin_compile,
        "typescript": gates.typescript_check,
    }
    return {language: checks[language](dirs) for language, dirs in by_language.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gen.peer", description=__doc__.split("\n")[0])
    parser.add_argument("spec", type=Path, nargs="+", help="OpenAPI spec file(s)")
    parser.add_argument("out", type=Path, help="output folder (OUT/<spec slug>/<language> with many specs)")
    parser.add_argument("--lang", default=",".join(LANGUAGES), help="comma-separated languages")
    parser.add_argument("--gate", action="store_true", help="also check the outputs through the gates")
    args = parser.parse_args(argv)
    languages = [x.strip() for x in args.lang.split(",") if x.strip()]
    unknown = set(languages) - set(LANGUAGES)
    if unknown:
        parser.error(f"unknown language(s): {', '.join(sorted(unknown))}")
    all_runs: list[PeerRun] = []
    status = 0
    for spec in args.spec:
        out = args.out / slug(spec) if len(args.spec) > 1 else args.out
        runs = run_peer(spec, out, languages)
        for run in runs.values():
            print(f"{spec.name:40} {run.language:10} {run.generator:16} {run.seconds:7.2f}s  ok={run.ok}")
            if not run.ok:
                status = 1
                print(run.log[-2000:], file=sys.stderr)
        all_runs.extend(runs.values())
    if args.gate:
        for language, result in gate(all_runs).items():
            generated = sum(r.language == language and r.ok for r in all_runs)
            print(
                f"gate {language:10} {result.seconds:7.2f}s  ok={result.ok}  "
                f"failed folders: {len(result.failures)}/{generated}"
            )
            for folder, text in result.failures.items():
                first = text.splitlines()[:3]
                print(f"  {folder}:\n    " + "\n    ".join(first))
    return status


if __name__ == "__main__":
    sys.exit(main())
