"""db.inspect on a seeded branch, beside the same questions asked by hand; writes "db-inspect".

    .venv/bin/python -m bench.db.inspect [--runs 10] [--no-write]

Needs the servers of tests/infra/databases/up and tests/infra/cassandra/up (and the S3 server of
tests/infra/seaweedfs/up, whose bucket is then inspected too; no S3 shell is installed here, so the
by-hand side has no bucket either). The branch is seeded
with ``db.reset --yes`` (the shipped seeds), then, in turn so that the machine's load falls on both
alike: ``clikd db.inspect`` (the dashboard), ``clikd db.inspect --json``, and the by-hand peer an
engineer types today without it: ``psql -c '\\dt+'`` on each of the two databases and
``redis-cli --scan`` over the branch's prefix (no CQL shell is installed here, so the by-hand side
has no keyspace at all). ``seconds`` of the report is the stores' reading alone, in the process.
Goal (issue N): db.inspect ≤ 500 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench.db.run import ROOT, config, load
from bench.record import user_environ, write_section

CLIKD = ROOT / ".venv" / "bin" / "clikd"


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False, env=env)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{done.stderr}")
    return wall, done.stdout


def _held(doc: dict[str, Any]) -> str:
    counted = {"keydb": "keys", "s3": "objects"}
    return ", ".join(
        f"{s['store']} {s['keys']} {counted[s['kind']]}"
        if s["kind"] in counted
        else f"{s['store']} {len(s['tables'])} tables"
        for s in doc["stores"]
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="clikd-bench-inspect-"))
    cfg = tmp / "clikd.toml"
    config(cfg)
    os.environ["CLIKD_CONFIG"] = str(cfg)
    os.environ["CLIKD_NO_PROMPT"] = "1"
    from tasks.core.db import destroy
    from tasks.core.db import target as targets
    from tasks.core.session import Session

    branch = f"bench/inspect-{uuid.uuid4().hex[:6]}"
    t = targets.for_session(Session(branch=branch, cwd=ROOT))
    env = user_environ() | {"CLIKD_CONFIG": str(cfg), "CLIKD_NO_PROMPT": "1", "CLIKD_BRANCH": branch}
    pg_env = env | ({"PGPASSWORD": t.postgres.password} if t.postgres.password else {})
    kv_env = env | ({"REDISCLI_AUTH": t.keydb.password} if t.keydb.password else {})
    have = {tool: shutil.which(tool) is not None for tool in ("psql", "redis-cli")}
    figures: dict[str, list[float]] = {"human": [], "json": [], "reading": [], "peer": []}
    load_before = load()
    try:
        timed([str(CLIKD), "db.reset", "--yes"], env)
        timed([str(CLIKD), "db.inspect"], env)  # the first run writes the bytecode caches
        for _ in range(args.runs):
            figures["human"].append(timed([str(CLIKD), "db.inspect"], env)[0])
            wall, out = timed([str(CLIKD), "db.inspect", "--json"], env)
            figures["json"].append(wall)
            figures["reading"].append(json.loads(out)["seconds"])
            if all(have.values()):
                started = time.perf_counter()
                for role in ("auth", "main"):
                    ep = t.postgres
                    timed(
                        [
                            "psql",
                            "-h",
                            ep.host,
                            "-p",
                            str(ep.port),
                            "-U",
                            ep.user,
                            "-d",
                            t.database(role),
                            "-c",
                            r"\dt+",
                        ],
                        pg_env,
                    )
                kp = t.keydb
                timed(
                    ["redis-cli", "-h", kp.host, "-p", str(kp.port), "--scan", "--pattern", t.pattern], kv_env
                )
                figures["peer"].append(time.perf_counter() - started)
        _, sample = timed([str(CLIKD), "db.inspect", "--json"], env)
    finally:
        destroy.destroy(t)
        shutil.rmtree(tmp, ignore_errors=True)

    doc = json.loads(sample)
    held = _held(doc)

    def row(name: str, values: list[float], note: str = "") -> str:
        if not values:
            return f"| {name} | — | — | — | {note} |"
        ms = sorted(v * 1000 for v in values)
        return f"| {name} | {statistics.median(ms):.0f} | {ms[0]:.0f} | {ms[-1]:.0f} | {note} |"

    human = statistics.median(figures["human"])
    peer = statistics.median(figures["peer"]) if figures["peer"] else None
    body = "\n".join(
        [
            f"`python -m bench.db.inspect --runs {args.runs}`: the shipped seeds ({held}), the test bed's "
            f"servers; load average {load_before} before, {load()} after. Milliseconds, wall.",
            "",
            "| what | median | min | max | note |",
            "|---|---|---|---|---|",
            row(
                "clikd db.inspect",
                figures["human"],
                "the whole process: start, config, every store, the tables",
            ),
            row("clikd db.inspect --json", figures["json"]),
            row(
                "  of which the stores' reading",
                figures["reading"],
                "in the process, every store in parallel",
            ),
            row(
                "by hand: psql \\dt+ twice, redis-cli --scan",
                figures["peer"],
                "less than db.inspect says: no keyspace, no migrations, no key memory"
                if peer
                else "psql or redis-cli is not installed",
            ),
            "",
            f"Goal ≤ 500 ms: {'met' if human <= 0.5 else 'not met'} ({human * 1000:.0f} ms median)"
            + (f"; {human / peer:.2f}x the by-hand commands." if peer else "."),
        ]
    )
    print(body)
    if not args.no_write:
        write_section("db-inspect", "db.inspect (bench/db/inspect.py)", body)


if __name__ == "__main__":
    main()
