"""SSH tunnels to a remote database: clikd's Fabric forward against OpenSSH's ``ssh -L``.

    .venv/bin/python -m bench.remote.tunnel [--runs 3] [--mb 100] [--no-write]

Needs the test bed's bastion (tests/infra/sshd/up) and Postgres (tests/infra/databases/up). Each
variant reaches the same Postgres; per run it opens the tunnel, pulls ``--mb`` MB with ``COPY ... TO
STDOUT`` (what pg_dump's data phase looks like on the wire) and times 200 ``SELECT 1`` round trips:

- direct: no tunnel (the ceiling);
- ssh -L: the OpenSSH client (the peer);
- fabric: ``Connection.forward_local`` as Fabric ships it (1 KiB per read);
- clikd: tasks/core/remote/tunnel.py (Fabric with 64 KiB reads, strict host keys).

Every variant runs in its own process, so Fabric's module state does not leak between them.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SSHD = ROOT / "tests" / "infra" / "sshd" / "facts.json"
DBS = ROOT / "tests" / "infra" / "databases" / "facts.json"
VARIANTS = ("direct", "ssh -L", "fabric", "clikd")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, limit: float = 10.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.02)
    raise SystemExit(f"nothing listens on 127.0.0.1:{port} after {limit:g}s")


def _measure(port: int, pg: dict[str, Any], mb: int) -> dict[str, float]:
    import psycopg

    query = f"COPY (SELECT repeat('x', 1000) FROM generate_series(1, {int(mb) * 1000})) TO STDOUT"  # noqa: S608
    with psycopg.connect(
        host="127.0.0.1", port=port, user=pg["user"], password=pg["password"], dbname="postgres"
    ) as conn:
        started = time.perf_counter()
        size = 0
        with conn.cursor().copy(query) as copy:
            for chunk in copy:
                size += len(chunk)
        pull = time.perf_counter() - started
        started = time.perf_counter()
        for _ in range(200):
            conn.execute("SELECT 1").fetchone()
        rtt = (time.perf_counter() - started) / 200
    return {"mb_s": size / 1e6 / pull, "rtt_ms": rtt * 1000}


def _variant(name: str, mb: int) -> dict[str, float]:
    """One run of one variant (in this process): open, measure, close."""
    ssh = json.loads(SSHD.read_text())
    pg = json.loads(DBS.read_text())["postgres"]
    target = ("127.0.0.1", int(pg["port"]))
    opened = time.perf_counter()
    if name == "direct":
        return {"open_ms": 0.0, **_measure(target[1], pg, mb)}
    if name == "ssh -L":
        port = _free_port()
        proc = subprocess.Popen(
            [
                "ssh", "-N", "-p", str(ssh["port"]), "-i", ssh["key"], "-o", "BatchMode=yes",
                "-o", "IdentitiesOnly=yes", "-o", f"UserKnownHostsFile={ssh['known_hosts']}",
                "-o", "StrictHostKeyChecking=yes", "-o", "ExitOnForwardFailure=yes",
                "-L", f"127.0.0.1:{port}:{target[0]}:{target[1]}", f"{ssh['user']}@{ssh['host']}",
            ]
        )  # fmt: skip
        try:
            _wait_port(port)
            opened = time.perf_counter() - opened
            return {"open_ms": opened * 1000, **_measure(port, pg, mb)}
        finally:
            proc.terminate()
            proc.wait()
    if name == "fabric":
        import paramiko
        from fabric import Connection

        port = _free_port()
        conn = Connection(
            ssh["host"], user=ssh["user"], port=ssh["port"],
            connect_kwargs={"key_filename": [ssh["key"]], "allow_agent": False, "look_for_keys": False},
        )  # fmt: skip
        conn.client.set_missing_host_key_policy(paramiko.RejectPolicy())
        conn.client.load_host_keys(ssh["known_hosts"])
        conn.open()
        with conn.forward_local(port, remote_port=target[1], remote_host=target[0], local_host="127.0.0.1"):
            _wait_port(port)
            opened = time.perf_counter() - opened
            result = {"open_ms": opened * 1000, **_measure(port, pg, mb)}
        conn.close()
        return result
    from tasks.core.remote.tunnel import forwards, parse_bastion

    bastion = parse_bastion(f"{ssh['user']}@{ssh['host']}:{ssh['port']}", "staging")
    with forwards(
        "staging", bastion, {"postgres": target}, identity_file=ssh["key"], known_hosts=ssh["known_hosts"]
    ) as tunnels:
        opened = time.perf_counter() - opened
        return {"open_ms": opened * 1000, **_measure(tunnels.ports["postgres"], pg, mb)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    parser.add_argument("--variant", help=argparse.SUPPRESS)  # internal: one run in this process
    args = parser.parse_args()
    if args.variant:
        print(json.dumps(_variant(args.variant, args.mb)))
        return
    for path in (SSHD, DBS):
        if not path.is_file():
            raise SystemExit(f"{path} is missing: run tests/infra/up")
    runs: dict[str, list[dict[str, float]]] = {v: [] for v in VARIANTS}
    load_before = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    for _ in range(args.runs):
        for v in VARIANTS:  # interleaved, so load changes hit every variant alike
            done = subprocess.run(
                [sys.executable, "-m", "bench.remote.tunnel", "--variant", v, "--mb", str(args.mb)],
                cwd=ROOT, capture_output=True, text=True, check=True,
            )  # fmt: skip
            runs[v].append(json.loads(done.stdout.strip().splitlines()[-1]))
    load_after = " ".join(Path("/proc/loadavg").read_text().split()[:3])

    def med(v: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[v])

    def per_run(v: str) -> str:
        return ", ".join(f"{r['mb_s']:.0f}" for r in runs[v])

    rows = [
        f"| {v} | {med(v, 'open_ms'):.0f} | {med(v, 'mb_s'):.0f} | {med(v, 'rtt_ms'):.3f} | {per_run(v)} |"
        for v in VARIANTS
    ]
    body = f"""`python -m bench.remote.tunnel --runs {args.runs} --mb {args.mb}`: medians of {args.runs}
interleaved runs, each in a fresh process. The bastion is the test bed's OpenSSH server on 127.0.0.1:2222 (key
authentication) and the database its Postgres, so the network is loopback and the figures show what
each tunnel costs by itself: opening it (connect, key exchange, authentication, forward ready), pulling
{args.mb} MB with `COPY ... TO STDOUT`, and a `SELECT 1` round trip. Load average before/after:
{load_before} / {load_after}.

| variant | open ms | MB/s | round trip ms | MB/s per run |
|---|---:|---:|---:|---|
{chr(10).join(rows)}

`fabric` is `Connection.forward_local` as Fabric ships it: its forwarder reads 1 KiB at a time. clikd's
tunnel is the same Fabric forward with 64 KiB reads (tasks/core/remote/tunnel.py)."""
    print(body)
    if not args.no_write:
        from bench.record import write_section

        write_section("remote", "Remote targets: SSH tunnel to a database, clikd against ssh -L", body)


if __name__ == "__main__":
    main()
