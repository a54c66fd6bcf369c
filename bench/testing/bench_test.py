"""clikd test.contract on the stand-in stack beside schemathesis run by hand, and the unchanged rerun.

    .venv/bin/python -m bench.testing.bench_test [--runs 3] [--reruns 5] [--no-write]

Needs tests/infra/up. Starts one branch's stack (api, auth and what they need) once, then, per run
and interleaved:

- ``cold``: ``clikd test.contract`` with the branch's records removed, so both contract tests (auth
  and api, the Clikd spec's operations the stand-in fakes) run, side by side as clikd runs them;
- ``by hand``: the same two ``st run`` commands (same spec, operations, checks, phases, budget,
  seed, ``--generation-database none``, a schemathesis.toml with ``auto-signup = false``, a JUnit
  report each) started side by side from a shell-like loop, timed until both end;
- the same pair for api alone (``--only api`` against one ``st run``).

Then ``reruns`` unchanged reruns of ``clikd test.contract`` (every test unchanged: nothing runs).
Writes the ``testing`` section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

from bench.record import user_environ, write_section

ROOT = Path(__file__).resolve().parents[2]
CLIKD = ROOT / ".venv" / "bin" / "clikd"
ST = ROOT / ".venv" / "bin" / "st"
INFRA = ROOT / "tests" / "infra"
CONFIG = INFRA / "clikd.test.toml"
BRANCH = "bench/testing"
WORK = Path(tempfile.gettempdir()) / "clikd-bench-testing"


def env() -> dict[str, str]:
    facts = json.loads((INFRA / "testbed.json").read_text())
    out = {k: v for k, v in user_environ().items() if not k.startswith("CLIKD_")}
    out.update(
        CLIKD_CONFIG=str(CONFIG),
        CLIKD_TESTBED_REGISTRY_PASSWORD=str(facts["registry"]["password"]),
        CLIKD_NO_PROMPT="1",
        COLUMNS="200",
    )
    return out


def _cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


CPU: dict[str, list[float]] = {}


def clikd(*args: str, key: str = "") -> float:
    began, cpu = time.perf_counter(), _cpu()
    done = subprocess.run([str(CLIKD), *args], env=env(), capture_output=True, text=True, check=False)
    took = time.perf_counter() - began
    if done.returncode != 0:
        sys.exit(f"clikd {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    if key:
        CPU.setdefault(key, []).append(_cpu() - cpu)
    return took


def hand_commands(services: list[str]) -> list[list[str]]:
    """The `st run` command line a person would type for each service, from the test bed config."""
    tree = tomllib.loads(CONFIG.read_text())
    settings_ports = _ports()  # where the branch publishes them, from clikd's own functions
    WORK.mkdir(parents=True, exist_ok=True)
    toml = WORK / "schemathesis.toml"
    toml.write_text("[auth]\nauto-signup = false\n")
    commands = []
    for name in services:
        test = tree["services"][name]["test"]
        argv = [
            str(ST),
            "--config-file",
            str(toml),
            "--no-color",
            "run",
            str(ROOT / tree["codegen"]["spec"]),
            "--url",
            f"http://127.0.0.1:{settings_ports[f'{name}.http']}",
            "--checks",
            "not_a_server_error,response_schema_conformance,status_code_conformance",
            "--phases",
            "examples,coverage,fuzzing,stateful",
            "--max-examples",
            str(test.get("examples", 20)),
            "--seed",
            str(test.get("seed", 1)),
            "--generation-database",
            "none",
            "--report",
            "junit",
            "--report-junit-path",
            str(WORK / f"{name}.xml"),
        ]
        for op in test.get("operations", []):
            argv += ["--include-operation-id", op]
        commands.append(argv)
    return commands


def _ports() -> dict[str, int]:
    from tasks.core.branch import identity
    from tasks.core.config.loader import load
    from tasks.core.ports import host_ports

    settings = load(ROOT, env={"CLIKD_CONFIG": str(CONFIG)}).settings
    return host_ports(settings, identity(BRANCH, project=settings.project.name))


def by_hand(commands: list[list[str]], key: str) -> float:
    began, cpu = time.perf_counter(), _cpu()
    procs = [
        subprocess.Popen(c, cwd=WORK, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for c in commands
    ]
    codes = [p.wait() for p in procs]
    took = time.perf_counter() - began
    CPU.setdefault(key, []).append(_cpu() - cpu)
    if any(codes):
        sys.exit(f"st run exited {codes}")
    return took


def forget_records() -> None:
    from tasks.core.branch import identity
    from tasks.core.testing.results import records_path

    records_path(identity(BRANCH, project="clikd")).unlink(missing_ok=True)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--reruns", type=int, default=5)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    clikd("env.start", "--branch", BRANCH, "--only", "api,auth")
    both, api_only = hand_commands(["auth", "api"]), hand_commands(["api"])
    figures: dict[str, list[float]] = {k: [] for k in ("cold", "hand", "cold_api", "hand_api", "rerun")}
    for run in range(args.runs):
        # Interleaved, and in turn first: the stand-in keeps the accounts earlier runs registered.
        pairs = [
            ("cold", lambda: clikd("test.contract", "--branch", BRANCH, key="cold")),
            ("hand", lambda: by_hand(both, "hand")),
            ("cold_api", lambda: clikd("test.contract", "--branch", BRANCH, "--only", "api", key="cold_api")),
            ("hand_api", lambda: by_hand(api_only, "hand_api")),
        ]
        order = pairs if run % 2 == 0 else [pairs[1], pairs[0], pairs[3], pairs[2]]
        for key, measure in order:
            forget_records()
            figures[key].append(measure())
        print(
            f"run {run + 1}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in figures.items() if v), flush=True
        )
    clikd("test.contract", "--branch", BRANCH)  # the records the reruns find
    for _ in range(args.reruns):
        figures["rerun"].append(clikd("test.contract", "--branch", BRANCH))
    med = {k: statistics.median(v) for k, v in figures.items()}
    cpu = {k: statistics.median(v) for k, v in CPU.items()}
    load = os.getloadavg()[0]
    over = (med["cold"] / med["hand"] - 1) * 100
    over_api = (med["cold_api"] / med["hand_api"] - 1) * 100

    def row(what: str, key: str) -> str:
        runs = ", ".join(f"{v:.2f}" for v in figures[key])
        return f"| {what} | {med[key]:.2f} s | {runs} |"

    table = "\n".join(
        [
            "| what | median | runs (s) |",
            "|---|---:|---|",
            row("`clikd test.contract` cold (auth + api side by side, no records)", "cold"),
            row("the same two `st run` by hand, side by side", "hand"),
            f"| clikd's overhead (goal ≤ 10 %) | {over:+.1f} % | |",
            f"| CPU (user + sys, all processes): clikd / by hand | {cpu['cold']:.2f} s / {cpu['hand']:.2f} s"
            f" ({(cpu['cold'] / cpu['hand'] - 1) * 100:+.1f} %) | |",
            row("`clikd test.contract --only api` cold", "cold_api"),
            row("one `st run` by hand (api)", "hand_api"),
            f"| clikd's overhead, api alone | {over_api:+.1f} % | |",
            f"| CPU, api alone: clikd / by hand | {cpu['cold_api']:.2f} s / {cpu['hand_api']:.2f} s"
            f" ({(cpu['cold_api'] / cpu['hand_api'] - 1) * 100:+.1f} %) | |",
            row("`clikd test.contract` unchanged rerun (goal ≤ 1 s)", "rerun"),
        ]
    )
    command = f"python -m bench.testing.bench_test --runs {args.runs} --reruns {args.reruns}"
    body = f"""Written by `{command}` on the test bed's stand-in stack (branch `{BRANCH}`,
the reference service as auth and api). The spec is
`codegen/spec/clikd.openapi.yaml`; the operations are the five the stand-in fakes (auth: register,
login), checks `not_a_server_error`, `response_schema_conformance`, `status_code_conformance`, all
four phases, 20 examples per operation, seed 1, no example database. "By hand" is the `st run`
command line with the same options (see `hand_commands` in the script), the two services started
side by side as clikd runs them. clikd's cold run includes its own start-up, the container list,
the content keys, reading the JUnit reports back and writing the records; the unchanged rerun
runs nothing (no schemathesis import, no test) and reads the branch's containers once.
Each pair runs interleaved, in turn first; the one-minute load average at the end was {load:.1f}
(the machine is shared; wall times swing with it, CPU seconds much less).

{table}
"""
    print(body)
    if not args.no_write:
        write_section("testing", "clikd test: contract tests beside schemathesis by hand", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
