"""Start-up time: `inv --list` and `clikd --help` wall time, and `inv --version` of plain Invoke for scale.

Run: .venv/bin/python -m bench.startup [--runs N]
Goal (issue 2): under 300 ms for both.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time

from bench.record import ROOT, user_environ, write_section

BIN = ROOT / ".venv" / "bin"
CASES = [
    ("inv --list", [str(BIN / "inv"), "--list"]),
    ("clikd --help", [str(BIN / "clikd"), "--help"]),
    ("clikd --list", [str(BIN / "clikd"), "--list"]),
    ("inv --help config.show", [str(BIN / "inv"), "--help", "config.show"]),
    ("inv --version (Invoke alone, no collection: the floor)", [str(BIN / "inv"), "--version"]),
    ("python -c pass (interpreter floor)", [str(BIN / "python"), "-c", "pass"]),
]


def measure(argv: list[str], runs: int) -> list[float]:
    environ = user_environ()
    subprocess.run(argv, cwd=ROOT, capture_output=True, check=True, env=environ)  # warm the page cache
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, cwd=ROOT, capture_output=True, check=True, env=environ)
        times.append((time.perf_counter() - start) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    rows = ["| command | median ms | min ms | max ms |", "|---|---:|---:|---:|"]
    for label, argv in CASES:
        times = measure(argv, args.runs)
        rows.append(f"| `{label}` | {statistics.median(times):.0f} | {min(times):.0f} | {max(times):.0f} |")
        print(rows[-1])
    body = (
        f"`python -m bench.startup --runs {args.runs}`: wall time of whole processes, {args.runs} runs each "
        "after one warm-up. Goal: `inv --list` and `clikd --help` under 300 ms. Invoke's own import "
        "(its vendored YAML, unittest.mock for MockContext) is the floor under every clikd command.\n\n"
        + "\n".join(rows)
    )
    write_section("startup", "Start-up (`--list`, `--help`)", body)


if __name__ == "__main__":
    main()
