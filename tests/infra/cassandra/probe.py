"""CQL readiness probe for the test-bed Cassandra: a real query, not an open port.

    probe.py HOST PORT [--wait SECONDS] [--owner PID]

Runs `SELECT release_version FROM system.local` until it answers or SECONDS pass (0: one try).
Prints the release version and exits 0 when the server answers; 1 on time-out. With --owner, the
answer counts only if process PID holds the listening socket on PORT (so a different server that
happens to answer is not taken for ours), and the probe exits 2 as soon as PID is gone.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited


def _owns_listener(pid: int, port: int) -> bool:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text(encoding="ascii").splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if f[3] == "0A" and int(f[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                inodes.add(f"socket:[{f[9]}]")
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False
    for fd in fds:
        try:
            if str(fd.readlink()) in inodes:
                return True
        except OSError:
            continue
    return False


def _query(host: str, port: int) -> str:
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
    from cassandra.policies import WhiteListRoundRobinPolicy

    profile = ExecutionProfile(load_balancing_policy=WhiteListRoundRobinPolicy([host]), request_timeout=5)
    cluster = Cluster(
        [host],
        port=port,
        connect_timeout=3,
        control_connection_timeout=3,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
    )
    try:
        session = cluster.connect()
        row = session.execute("SELECT release_version FROM system.local").one()
        return str(row.release_version)
    finally:
        cluster.shutdown()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--wait", type=float, default=0.0)
    ap.add_argument("--owner", type=int)
    args = ap.parse_args()
    logging.getLogger("cassandra").setLevel(logging.CRITICAL)  # refused connections are expected here

    deadline = time.monotonic() + args.wait
    last = ""
    while True:
        if args.owner is not None and not _alive(args.owner):
            print(f"process {args.owner} exited; last probe error: {last or 'none'}", file=sys.stderr)
            return 2
        if args.owner is None or _owns_listener(args.owner, args.port):
            try:
                print(_query(args.host, args.port))
                return 0
            except Exception as exc:  # any failure means "not ready yet"
                last = f"{type(exc).__name__}: {exc}"
        else:
            last = f"process {args.owner} is not listening on port {args.port} (yet)"
        if time.monotonic() >= deadline:
            if args.wait:
                print(f"no CQL answer within {args.wait:g}s; last probe error: {last}", file=sys.stderr)
            return 1
        time.sleep(0.5)


if __name__ == "__main__":
    sys.exit(main())
