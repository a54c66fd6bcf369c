"""Write tests/infra/clikd.test.toml: the project's clikd.toml pointed at the test bed.

Usage: python tests/infra/render_config.py tests/infra/testbed.json tests/infra/clikd.test.toml

The services, their ports, dependencies and environment stay exactly as clikd.toml has them; only
where images come from and where the databases run change:
- service images come from the test bed's password-protected registry on loopback;
- Postgres and KeyDB run per branch from the images the test bed built (never pulled);
- the ScyllaDB role is played by the test bed's Cassandra, shared by branches through keyspace names;
- the object store is the test bed's SeaweedFS, shared by branches through bucket names;
- contract tests (`[services.NAME.test] openapi`) cover the operations the reference service fakes
  (STANDIN_OPERATIONS; the others answer 404, which the spec does not document).
"""

from __future__ import annotations

import json
import sys
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
# The operations of codegen/spec/clikd.openapi.yaml that tests/infra/refservice/refservice.py implements
# (the same as tasks.core.standin.STANDIN_OPERATIONS; this script runs without the package installed).
STANDIN_OPERATIONS = ["register", "login", "getCurrentUser", "getUser", "getFeed"]


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {value!r} as TOML")


def dump(tree: dict[str, Any], prefix: str = "") -> str:
    """A small TOML writer: scalars and inline tables first, then one [table] per nested dict."""
    lines: list[str] = []
    tables: list[tuple[str, dict[str, Any]]] = []
    for key, value in tree.items():
        name = f"{prefix}.{key}" if prefix else key
        nested = isinstance(value, dict) and any(isinstance(v, dict) for v in value.values())
        if nested or (isinstance(value, dict) and prefix == ""):
            tables.append((name, value))
        else:
            lines.append(f"{json.dumps(key) if not key.isidentifier() else key} = {_value(value)}")
    text = "\n".join(lines) + ("\n" if lines else "")
    for name, table in tables:
        text += f"\n[{name}]\n" + dump(table, name)
    return text


def render(facts: dict[str, Any]) -> dict[str, Any]:
    config = tomllib.loads((ROOT / "clikd.toml").read_text(encoding="utf-8"))
    registry = facts["registry"]
    config["registry"] = {
        "host": registry["host"],
        "namespace": registry["namespace"],
        "username": registry["username"],
        "token_env": "CLIKD_TESTBED_REGISTRY_PASSWORD",
        "use_gh_cli": False,
    }
    images = facts["images"]
    config["databases"]["postgres"].update(image=images["postgres"], pull="never", timeout=60)
    config["databases"]["keydb"].update(image=images["keydb"], pull="never", timeout=30)
    cassandra = facts.get("cassandra") or {"host": "127.0.0.1", "port": 9042}
    config["databases"]["scylla"] = {
        "kind": "scylla",
        "mode": "external",
        "host": cassandra["host"],
        "port": int(cassandra["port"]),
        "timeout": 120,
    }
    s3 = facts.get("s3")
    if s3 and "s3" in config["databases"]:
        # the test bed's shared SeaweedFS, branches apart by bucket (a test runs the image per branch)
        config["databases"]["s3"] = {
            "kind": "s3",
            "mode": "external",
            "host": s3["host"],
            "port": int(s3["port"]),
            "user": s3["access_key"],
            "password": s3["secret_key"],
            "timeout": 60,
        }
    for name, service in config["services"].items():
        service["image"] = f"{registry['host']}/{registry['namespace']}/{name}:latest"
        test = service.get("test")
        if test and test.get("openapi"):
            wanted = test.get("operations") or STANDIN_OPERATIONS
            test["operations"] = [op for op in STANDIN_OPERATIONS if op in wanted]
    return config


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    facts = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    header = "# Written by tests/infra/render_config.py from testbed.json; rerun tests/infra/up.\n"
    Path(argv[2]).write_text(header + dump(render(facts)), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
