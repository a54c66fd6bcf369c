"""gen.python before and after a change, interleaved in one run: what the change costs in wall time.

    git worktree add /tmp/before <commit>
    python -m bench.gen.python_ab --before /tmp/before [--runs 5] [--no-record]

Each round runs ``inv gen.python --force`` once in the ``--before`` checkout and once in this one (same
virtualenv, a fresh output folder and validation cache each time), so both see the same machine load.
Medians per document go to the ``gen-python`` section of BENCHMARKS.md.
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

from bench.record import user_environ, write_section

ROOT = Path(__file__).resolve().parents[2]
INV = ROOT / ".venv" / "bin" / "inv"
CORPUS = ROOT.parent / "shared" / "corpus" / "openapi"
SPECS = [ROOT / "codegen" / "spec" / "clikd.openapi.yaml", CORPUS / "spotify-web-api.yaml"]


def one(tree: Path, spec: Path) -> float:
    with tempfile.TemporaryDirectory() as out, tempfile.TemporaryDirectory() as cache:
        env = {**user_environ(), "XDG_CACHE_HOME": cache, "CLIKD_NO_PROMPT": "1"}
        env.pop("CLIKD_CONFIG", None)
        args = [str(INV), "gen.python", "--force", "--spec", str(spec), "--output", out, "--json"]
        began = time.monotonic()
        proc = subprocess.run(args, cwd=tree, capture_output=True, text=True, env=env, check=False)
        took = time.monotonic() - began
    if proc.returncode:
        raise SystemExit(
            f"gen.python failed in {tree} on {spec.name}:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
        )
    return took


def commit_of(tree: Path) -> str:
    args = ["git", "rev-parse", "--short", "HEAD"]
    out = subprocess.run(args, cwd=tree, capture_output=True, text=True, check=False)
    return out.stdout.strip() or "?"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", type=Path, required=True, help="a checkout of the commit to compare with")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    rows = []
    for spec in SPECS:
        before: list[float] = []
        after: list[float] = []
        for _ in range(args.runs):
            before.append(one(args.before, spec))
            after.append(one(ROOT, spec))
        b, a = statistics.median(before), statistics.median(after)
        rows.append(f"| {spec.name} | {b:.2f} | {a:.2f} | {100 * (a - b) / b:+.0f} % |")
    load_after = " ".join(f"{x:.2f}" for x in os.getloadavg())
    text = "\n".join(
        [
            f"`python -m bench.gen.python_ab --before <checkout of {commit_of(args.before)}> "
            f"--runs {args.runs}`:",
            "medians of whole `inv gen.python --force` runs (openapi-python-client included), before and",
            f"after, interleaved round by round. Load average before: {load_before}, after: {load_after}.",
            "",
            f"| spec | before ({commit_of(args.before)}) s | after s | change |",
            "|---|---:|---:|---:|",
            *rows,
        ]
    )
    print(text)
    if not args.no_record:
        write_section("gen-python", "gen.python: cost of the normalising pass", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
