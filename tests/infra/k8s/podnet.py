"""The simulated pod network of the test control plane.

kwok simulates pods without running containers, so nothing listens on a pod's address. The API
server's service proxy (``/api/v1/namespaces/NS/services/NAME:PORT/proxy/PATH``, what ``deploy``'s smoke
tests use) dials the pod address behind the Service; tests/infra/k8s/up adds a NAT rule (iptables
``-t nat OUTPUT -d POD_CIDR -j REDIRECT``) so that dial arrives at this loopback server instead.

This server never forwards anything. For a connection to POD_IP:PORT (the original destination, read
with SO_ORIGINAL_DST) it looks the pod up by its IP through the API and answers as the pod would:

- no pod with that IP: 502;
- the pod is not Ready: 503;
- any container image whose tag starts with ``unhealthy``: 500 ``{"status": "failing"}`` (how tests
  make a slot that is Ready but fails its smoke test);
- otherwise 200 ``{"status": "ok", "pod": ..., "images": [...], "path": ...}``.

Standard library only: it runs with the system Python before any virtualenv exists.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import socket
import ssl
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

SO_ORIGINAL_DST = 80  # linux/netfilter_ipv4.h


def original_destination(conn: socket.socket) -> str:
    """The IPv4 address a NAT-redirected connection was meant for."""
    raw = conn.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
    return socket.inet_ntoa(raw[4:8])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", default="127.0.0.1:10248")
    parser.add_argument("--api", required=True)
    parser.add_argument("--token-file", required=True)
    parser.add_argument("--ca-file", required=True)
    parser.add_argument("--pod-cidr", required=True)
    args = parser.parse_args()
    cidr = ipaddress.ip_network(args.pod_cidr)
    context = ssl.create_default_context(cafile=args.ca_file)

    def find_pod(ip: str) -> dict[str, Any] | None:
        token = Path(args.token_file).read_text(encoding="utf-8").strip()
        query = urllib.parse.urlencode({"fieldSelector": f"status.podIP={ip}"})
        request = urllib.request.Request(  # noqa: S310  (--api is an https URL we were given)
            f"{args.api}/api/v1/pods?{query}", headers={"Authorization": f"Bearer {token}"}
        )
        with urllib.request.urlopen(request, context=context, timeout=5) as response:  # noqa: S310
            items: list[dict[str, Any]] = json.load(response).get("items", [])
        live = [p for p in items if not p["metadata"].get("deletionTimestamp")]
        return (live or items or [None])[0]

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            host = original_destination(self.connection)
            try:
                inside = ipaddress.ip_address(host) in cidr
            except ValueError:
                inside = False
            if not inside:
                self._answer(
                    403, {"error": f"{host!r} is not a simulated pod address; podnet forwards nothing"}
                )
                return
            try:
                pod = find_pod(host)
            except OSError as exc:
                self._answer(502, {"error": f"cannot ask the API server: {exc}"})
                return
            if pod is None:
                self._answer(502, {"error": f"no pod has address {host}"})
                return
            name = pod["metadata"]["name"]
            images = [c["image"] for c in pod["spec"]["containers"]]
            conditions = {c["type"]: c["status"] for c in pod.get("status", {}).get("conditions", [])}
            if conditions.get("Ready") != "True":
                self._answer(503, {"status": "not ready", "pod": name})
                return
            if any(image.rpartition(":")[2].startswith("unhealthy") for image in images):
                self._answer(500, {"status": "failing", "pod": name, "images": images})
                return
            self._answer(200, {"status": "ok", "pod": name, "images": images, "path": url.path})

        do_HEAD = do_GET

    host, _, port = args.listen.rpartition(":")
    ThreadingHTTPServer((host, int(port)), Handler).serve_forever()


if __name__ == "__main__":
    main()
