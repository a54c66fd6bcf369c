"""CI wall time by phase: `.ci/run` on a fresh clone, on a fresh machine and on a warm one.

    .venv/bin/python -m bench.ci.run [--mode fresh|warm|both] [--runs N] [--no-write]
    .venv/bin/python -m bench.ci.run --from-logs ../clikd-ci-fresh-*.log ../clikd-ci-warm-*.log

fresh: the test bed is stopped (tests/infra/down --all), then every cache a fresh machine lacks is
moved aside (the test bed's state and images, Docker's data, the Go, Maven and npm caches), so the
run builds everything again from the package registries. The moved-aside copies are deleted when
the run passes (the rebuilt caches replace them) and put back when it fails.
warm: the same `.ci/run` on a new clone with every cache in place (what a second run on a machine sees).

Each run is `CI=true bash .ci/run` in a new `git clone` of HEAD (commit first: uncommitted work is not
in the clone). The phases are read from its own output: `.ci/run`'s `==>` steps, the test bed's part
summary (parts run in parallel, so their times overlap) and pytest's last line. Writes the ``ci``
section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.record import ROOT, user_environ, write_section

HOME = Path.home()
# What a fresh machine does not have. ~/.npmrc and the toolchains on PATH come with the machine.
CACHES = [
    HOME / ".cache" / "clikd-testbed",
    HOME / ".cache" / "go-build",
    HOME / "go",
    HOME / ".m2",
    HOME / ".npm",
    HOME / ".cache" / "pip",
    HOME / ".cache" / "uv",
    HOME / ".docker",
    Path("/var/lib/docker"),
]
ASIDE = HOME / ".clikd-bench-ci-aside"
STEP = re.compile(r"^==> (?P<name>.+?) \((?P<at>\d+)s\)$")
PART = re.compile(r"^  (?P<name>\S+)\s+(?P<note>.*?)\s+(?P<secs>\d+\.\d)s$")
PYTEST = re.compile(r"^=+ (?P<summary>.*\d+ passed.*) in (?P<secs>[\d.]+)s")


@dataclass
class Result:
    mode: str
    code: int
    wall: float
    steps: list[tuple[str, float]] = field(default_factory=list)
    parts: list[tuple[str, float]] = field(default_factory=list)
    pytest: str = ""
    commit: str = "?"


def run(args: list[str], cwd: Path | None = None) -> None:
    subprocess.run(args, cwd=cwd, check=True)


def is_mount_point(path: Path) -> bool:
    """os.path.ismount misses a bind mount of a folder of the same filesystem (/var/lib/docker here)."""
    targets = {line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()}
    return str(path) in targets


def move_caches_aside() -> list[tuple[Path, Path]]:
    """Move every cache aside (a mount point, like /var/lib/docker here, empties into a folder of
    its own: a rename cannot leave a mount); returns (where it was, where it is now)."""
    run([str(ROOT / "tests" / "infra" / "down"), "--all"], cwd=ROOT)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    moved = []
    for path in CACHES:
        if not path.exists():
            continue
        if is_mount_point(path):
            aside = path / f"{ASIDE.name}-{stamp}"
            aside.mkdir()
            for child in path.iterdir():
                if not child.name.startswith(ASIDE.name):
                    child.rename(aside / child.name)
                    moved.append((child, aside / child.name))
            continue
        target = ASIDE / stamp / str(path).strip("/").replace("/", "__")
        target.parent.mkdir(parents=True, exist_ok=True)
        path.rename(target)
        moved.append((path, target))
    return moved


def settle_caches(moved: list[tuple[Path, Path]], passed: bool) -> None:
    """A passing fresh run rebuilt every cache: drop the old copies; a failing one gets them back."""
    if not passed:
        subprocess.run([str(ROOT / "tests" / "infra" / "down"), "--all"], cwd=ROOT, check=False)
    for path, aside in moved:
        if passed:
            shutil.rmtree(aside, ignore_errors=True)
        else:
            shutil.rmtree(path, ignore_errors=True)
            aside.rename(path)
    for folder in {aside.parent for _path, aside in moved}:
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


def one_run(mode: str) -> Result:
    moved = move_caches_aside() if mode == "fresh" else []
    # Beside this checkout, as the CI's own clone is: the tests find the corpus at ../shared.
    work = Path(tempfile.mkdtemp(prefix=f"clikd-ci-{mode}-", dir=ROOT.parent))
    clone = work
    run(["git", "clone", "--quiet", str(ROOT), str(clone)])
    commit = subprocess.run(
        ["git", "-C", str(clone), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    log = ROOT.parent / f"{work.name}.log"
    print(f"[bench.ci] {mode}: CI=true bash .ci/run in {clone} (log {log})", flush=True)
    began = time.monotonic()
    with log.open("w") as out:
        out.write(f"[bench.ci] commit {commit}\n")  # HEAD moves on while runs go: each names its own
        out.flush()
        code = subprocess.run(
            ["bash", ".ci/run"],
            cwd=clone,
            # a fresh machine's CI has no clikd settings of whoever starts the benchmark
            env={**{k: v for k, v in user_environ().items() if not k.startswith("CLIKD_")}, "CI": "true"},
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        ).returncode
    wall = time.monotonic() - began
    result = parse(mode, code, wall, log.read_text(errors="replace"))
    settle_caches(moved, passed=code == 0)
    if code == 0:
        shutil.rmtree(work, ignore_errors=True)
    print(f"[bench.ci] {mode}: exit {code} after {wall:.0f} s", flush=True)
    return result


def parse(mode: str, code: int, wall: float, text: str) -> Result:
    result = Result(mode, code, wall)
    marks: list[tuple[str, int]] = []
    in_summary = False
    for line in text.splitlines():
        if step := STEP.match(line):
            marks.append((step["name"], int(step["at"])))
        elif line.startswith("[testbed] summary:"):
            in_summary = True
        elif in_summary and (part := PART.match(line)):
            result.parts.append((part["name"], float(part["secs"])))
        elif in_summary:
            in_summary = False
        if line.startswith("[bench.ci] commit "):
            result.commit = line.split()[-1]
        if tests := PYTEST.match(line):
            result.pytest = f"{tests['summary']} in {float(tests['secs']):.0f} s"
    ends = [at for _name, at in marks[1:]] + [round(wall)]
    result.steps = [(name, float(end - at)) for (name, at), end in zip(marks, ends, strict=True)]
    return result


def table(results: list[Result]) -> str:
    rows = ["| run | commit | exit | wall | phases (s) | test bed parts (s, overlapping) |"]
    rows.append("|---|---|---:|---:|---|---|")
    for r in results:
        steps = ", ".join(f"{name} {secs:.0f}" for name, secs in r.steps if not name.startswith("done"))
        parts = ", ".join(f"{name} {secs:.1f}" for name, secs in r.parts)
        rows.append(f"| {r.mode} | {r.commit} | {r.code} | {r.wall / 60:.1f} min | {steps} | {parts} |")
    tests = "\n".join(f"- {r.mode}: {r.pytest or 'no pytest summary (see its log)'}" for r in results)
    return "\n".join(rows) + "\n\npytest, by run:\n\n" + tests


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["fresh", "warm", "both"], default="both")
    parser.add_argument("--runs", type=int, default=1, help="warm runs (fresh is always one)")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument(
        "--from-logs", nargs="+", type=Path, metavar="LOG", help="table earlier runs' logs instead of running"
    )
    opts = parser.parse_args()
    if opts.from_logs:
        return report([from_log(log) for log in opts.from_logs], write=not opts.no_write)
    if opts.mode in ("fresh", "both") and os.geteuid() != 0:
        print("bench.ci: a fresh run moves /var/lib/docker aside: run it as root", file=sys.stderr)
        return 2
    results = []
    if opts.mode in ("fresh", "both"):
        results.append(one_run("fresh"))
    if opts.mode in ("warm", "both"):
        results += [one_run("warm") for _ in range(opts.runs)]
    return report(results, write=not opts.no_write)


DONE = re.compile(r"^==> done: pytest exit (?P<code>\d+) \((?P<at>\d+)s\)$")


def from_log(log: Path) -> Result:
    """A finished run's Result from its log (mode from the name bench.ci gave it)."""
    text = log.read_text(errors="replace")
    mode = "fresh" if "-fresh-" in log.name else "warm"
    done = [m for line in text.splitlines() if (m := DONE.match(line))]
    if not done:
        raise SystemExit(f"bench.ci: {log} did not finish (no '==> done' line)")
    return parse(mode, int(done[-1]["code"]), float(done[-1]["at"]), text)


def report(results: list[Result], *, write: bool) -> int:
    body = (
        "`python -m bench.ci.run`: `CI=true bash .ci/run` on a new clone of HEAD. fresh = test bed "
        "stopped and every cache moved aside (test bed state and images, /var/lib/docker, Go, Maven, "
        "npm, pip and uv caches); warm = the same with the caches in place. Goals: fresh ≤ 30 min, "
        "warm ≤ 12 min.\n\n" + table(results)
    )
    print(body)
    if write:
        write_section("ci", "CI: `.ci/run` fresh and warm", body)
    return 0 if all(r.code == 0 for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
