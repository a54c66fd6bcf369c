"""gen.all against openapi-generator-cli: wall time for the Clikd spec and a large corpus document.

    python -m bench.gen.bench [--runs 3] [--gate] [--spec PATH]... [--no-record]

clikd runs as users run it: ``inv gen.all --force --output <fresh folder>`` in a subprocess (Python start,
task loading, spec validation, all four languages; a fresh folder so the validation cache of an earlier
stamp does not help), and again with ``--only swift,kotlin,typescript`` to match the peer's languages. The
peer is openapi-generator-cli (bench/gen/peer.py): one ``java -jar`` per language, as a team runs it.
Medians over ``--runs``. With ``--gate`` both sides' outputs go through the same compile gates. Results
go to the gen section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.gen.peer import run_peer
from bench.record import user_environ, write_section
from tests.gen import gates

ROOT = Path(__file__).resolve().parents[2]
INV = ROOT / ".venv" / "bin" / "inv"
CORPUS = ROOT.parent / "shared" / "corpus" / "openapi"
DEFAULT_SPECS = [ROOT / "codegen" / "spec" / "clikd.openapi.yaml", CORPUS / "spotify-web-api.yaml"]
# The gates' time is measured here: every compiler runs, no pass kept by an earlier run is reused.
os.environ["CLIKD_GATE_VERDICTS"] = "off"


def clikd_run(spec: Path, out: Path, cache: Path, only: str = "") -> float:
    """One whole ``inv gen.all``; ``cache`` is its validation cache (a fresh folder: a cold run)."""
    args = [str(INV), "gen.all", "--force", "--spec", str(spec), "--output", str(out), "--json"]
    if only:
        args += ["--only", only]
    env = {**user_environ(), "XDG_CACHE_HOME": str(cache)}
    started = time.monotonic()
    proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=False, env=env)
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(f"clikd failed on {spec.name}:\n{proc.stdout}\n{proc.stderr}")
    return seconds


def gate_all(dirs: dict[str, list[Path]]) -> dict[str, bool]:
    return {
        "swift": gates.swift_parse(dirs["swift"]).ok,
        "typescript": gates.typescript_check(dirs["typescript"]).ok,
        "kotlin": gates.kotlin_compile(dirs["kotlin"]).ok,
    }


def gates_only(specs: list[Path], record: bool) -> int:
    """Both sides' outputs through the same gates, one gate run per language and side."""
    results: dict[str, dict[str, dict[str, str]]] = {}  # spec -> gate -> side -> verdict
    with tempfile.TemporaryDirectory(prefix="clikd-bench-gates-") as tmp_name:
        tmp = Path(tmp_name)
        ours: dict[str, dict[str, Path]] = {"swift": {}, "kotlin": {}, "typescript": {}}
        theirs: dict[str, dict[str, Path]] = {"swift": {}, "kotlin": {}, "typescript": {}}
        for spec in specs:
            clikd_run(spec, tmp / f"clikd-{spec.stem}", tmp / "cache", "swift,kotlin,typescript")
            for lang, run in run_peer(spec, tmp / f"peer-{spec.stem}").items():
                theirs[lang][spec.name] = run.sources
                ours[lang][spec.name] = tmp / f"clikd-{spec.stem}" / lang
        checks = {
            "swift": gates.swift_parse,
            "typescript": gates.typescript_check,
            "kotlin": gates.kotlin_compile,
        }
        for lang, check in checks.items():
            for side, dirs in (("clikd", ours[lang]), ("peer", theirs[lang])):
                result = check(list(dirs.values()))
                for name, folder in dirs.items():
                    failure = result.failures.get(str(folder), "")
                    first = next((line for line in failure.splitlines() if "error" in line.lower()), "")
                    where = (
                        Path(first.split(":", 1)[0].split("(", 1)[0]).name if first.startswith("/") else ""
                    )
                    first = first[first.lower().index("error") :] if "error" in first.lower() else first
                    verdict = (
                        "pass" if not failure else f"FAIL: {where} {first.strip()[:100]}".replace("|", "/")
                    )
                    results.setdefault(name, {}).setdefault(lang, {})[side] = verdict
    rows = [
        f"| {name} | {gate} | {sides['clikd']} | {sides['peer']} |"
        for name, by_gate in results.items()
        for gate, sides in by_gate.items()
    ]
    text = "\n".join(
        [
            "`python -m bench.gen.bench --gates-only`: the outputs of both sides through the same",
            "compile gates",
            "(tests/gen/gates.py): tree-sitter-swift parse (no ERROR/MISSING node), kotlinc 2.4 +",
            "kotlinx.serialization + Ktor 3 client, tsc --noEmit --strict (es2022 + dom).",
            "",
            "| spec | gate | clikd | openapi-generator-cli |",
            "|---|---|---|---|",
            *rows,
        ]
    )
    print(text)
    if record:
        write_section("gen-gates", "Client generation: compile gates, clikd and openapi-generator-cli", text)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gen.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--spec", type=Path, action="append", help="spec(s) to time (default: Clikd + Spotify)"
    )
    parser.add_argument("--gate", action="store_true", help="also run both sides' outputs through the gates")
    parser.add_argument("--no-record", action="store_true", help="print only; leave BENCHMARKS.md alone")
    parser.add_argument("--gates-only", action="store_true", help="only the compile gates of both sides")
    args = parser.parse_args(argv)
    specs: list[Path] = args.spec or DEFAULT_SPECS
    if args.gates_only:
        return gates_only(specs, not args.no_record)
    rows: list[str] = []
    gate_rows: list[str] = []
    with tempfile.TemporaryDirectory(prefix="clikd-bench-gen-") as tmp_name:
        tmp = Path(tmp_name)
        for spec in specs:
            all4, all4warm, three, warm, peer = [], [], [], [], []
            langs = "swift,kotlin,typescript"
            for i in range(args.runs):
                all4.append(clikd_run(spec, tmp / f"all-{spec.stem}-{i}", tmp / f"cache-a{i}"))
                all4warm.append(clikd_run(spec, tmp / f"allwarm-{spec.stem}-{i}", tmp / f"cache-a{i}"))
                three.append(clikd_run(spec, tmp / f"three-{spec.stem}-{i}", tmp / f"cache-t{i}", langs))
                warm.append(clikd_run(spec, tmp / f"warm-{spec.stem}-{i}", tmp / f"cache-t{i}", langs))
                runs = run_peer(spec, tmp / f"peer-{spec.stem}-{i}")
                failed = [r.language for r in runs.values() if not r.ok]
                if failed:
                    raise SystemExit(f"openapi-generator failed on {spec.name} for {failed}")
                peer.append(sum(r.seconds for r in runs.values()))
                times = f"{all4[-1]:.2f}s / {all4warm[-1]:.2f}s / {three[-1]:.2f}s / {warm[-1]:.2f}s"
                print(f"{spec.name}: run {i + 1}: clikd {times}, peer {peer[-1]:.2f}s")
            a, aw, t, w, p = (statistics.median(x) for x in (all4, all4warm, three, warm, peer))
            size = spec.stat().st_size / 1024
            cells = f"{a:.2f} | {aw:.2f} | {t:.2f} | {w:.2f} | {p:.2f} | {p / t:.1f}x | {p / w:.1f}x"
            rows.append(f"| {spec.name} ({size:.0f} KB) | {cells} |")
            if args.gate:
                ours = {
                    lang: [tmp / f"three-{spec.stem}-0" / lang] for lang in ("swift", "kotlin", "typescript")
                }
                theirs = {
                    lang: [r.sources] for lang, r in run_peer(spec, tmp / f"peer-gate-{spec.stem}").items()
                }
                mine, peers = gate_all(ours), gate_all(theirs)
                gate_rows.append(
                    f"| {spec.name} | "
                    + " | ".join(
                        f"{'pass' if mine[g] else 'FAIL'} / {'pass' if peers[g] else 'FAIL'}" for g in mine
                    )
                    + " |"
                )
    command = "python -m bench.gen.bench --runs N" + (" --gate" if args.gate else "")
    body = [
        f"`{command}` (N = {args.runs}): medians of whole-process wall times, a fresh output folder",
        "each run. clikd: `inv gen.all --force`, all four languages (Python via openapi-python-client) and",
        "`--only swift,kotlin,typescript`. *Cold*: empty user cache, so openapi-spec-validator runs and the",
        "templates are compiled; *warm*: the same run again with the document's validation verdict and the",
        "compiled templates cached (the usual case: the spec changed, not the validator).",
        "Peer: openapi-generator-cli (swift6, kotlin jvm-ktor + kotlinx_serialization, typescript-fetch),",
        "one `java -jar` per language, summed (bench/gen/peer.py). Speed-ups compare the three languages.",
        "Goal: Clikd spec under 2 s, 10x faster than the peer.",
        "",
        "| spec | clikd 4 cold s | 4 warm s | clikd 3 cold s | 3 warm s | peer 3 s | speed-up cold | warm |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        *rows,
    ]
    if gate_rows:
        body += [
            "",
            "Compile gates (clikd / peer): tree-sitter-swift parse, kotlinc + kotlinx.serialization",
            "+ Ktor 3, tsc --strict.",
            "",
            "| spec | swift | typescript | kotlin |",
            "|---|---|---|---|",
            *gate_rows,
        ]
    text = "\n".join(body)
    print(text)
    if not args.no_record:
        write_section("gen", "Client generation (`gen.all`) against openapi-generator-cli", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
