"""A Prometheus exporter the canary tests run and steer: request counters and a latency histogram
per service and slot, served in Prometheus's text format on a free loopback port.

A background thread plays the traffic: every tick it adds the requests a slot's profile asks for
(``rps`` per second, ``error_ratio`` of them answered 5xx, each taking ``latency`` seconds), so the
counters grow between scrapes as a real service's do. The tests choose a profile per slot
(:meth:`Exporter.healthy`, :meth:`error_burst`, :meth:`latency_spike`, :meth:`idle`) and never sleep
to make traffic happen. A slot that never had a request exposes no series at all.

The test bed's Prometheus (tests/infra/prometheus/up) finds it through file_sd: :meth:`register`
writes ``<targets_dir>/<name>.json``, :meth:`close` removes it.
"""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

# Prometheus client libraries' default buckets, in seconds.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass
class Profile:
    rps: float = 0.0
    error_ratio: float = 0.0
    latency: float = 0.05  # seconds per request


@dataclass
class Slot:
    profile: Profile = field(default_factory=Profile)
    ok: float = 0.0  # requests answered 200
    errors: float = 0.0  # requests answered 500
    buckets: list[float] = field(default_factory=lambda: [0.0] * len(BUCKETS))
    count: float = 0.0
    sum: float = 0.0
    pending: float = 0.0  # fractional requests carried to the next tick
    pending_errors: float = 0.0


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


class Exporter:
    def __init__(self, targets_dir: Path, name: str, *, tick: float = 0.1) -> None:
        self.targets_dir = Path(targets_dir)
        self.name = name
        self.tick = tick
        self.slots: dict[tuple[str, str], Slot] = {}
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] != "/metrics":
                    self.send_error(404)
                    return
                body = exporter.render().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port: int = self.server.server_address[1]
        self.threads = [
            threading.Thread(target=self.server.serve_forever, name=f"exporter-{name}", daemon=True),
            threading.Thread(target=self._play, name=f"traffic-{name}", daemon=True),
        ]
        for thread in self.threads:
            thread.start()

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def target_file(self) -> Path:
        return self.targets_dir / f"{self.name}.json"

    # ------------------------------------------------------------------ traffic profiles
    def set(self, service: str, slot: str, profile: Profile) -> None:
        with self.lock:
            self.slots.setdefault((service, slot), Slot()).profile = profile

    def healthy(self, service: str, slot: str, *, rps: float = 50.0, latency: float = 0.04) -> None:
        self.set(service, slot, Profile(rps=rps, error_ratio=0.0, latency=latency))

    def error_burst(self, service: str, slot: str, *, ratio: float = 0.2, rps: float = 50.0) -> None:
        self.set(service, slot, Profile(rps=rps, error_ratio=ratio, latency=0.04))

    def latency_spike(self, service: str, slot: str, *, latency: float = 1.2, rps: float = 50.0) -> None:
        self.set(service, slot, Profile(rps=rps, error_ratio=0.0, latency=latency))

    def idle(self, service: str, slot: str) -> None:
        """No more requests: the counters stay where they are (a rate of 0)."""
        self.set(service, slot, Profile(rps=0.0))

    def _play(self) -> None:
        while not self.stopped.wait(self.tick):
            with self.lock:
                for slot in self.slots.values():
                    self._advance(slot)

    def _advance(self, slot: Slot) -> None:
        p = slot.profile
        slot.pending += p.rps * self.tick
        requests = math.floor(slot.pending)
        if requests <= 0:
            return
        slot.pending -= requests
        slot.pending_errors += requests * p.error_ratio
        errors = min(requests, math.floor(slot.pending_errors))
        slot.pending_errors -= errors
        slot.errors += errors
        slot.ok += requests - errors
        slot.count += requests
        slot.sum += requests * p.latency
        for i, le in enumerate(BUCKETS):
            if p.latency <= le:
                slot.buckets[i] += requests

    # ------------------------------------------------------------------ exposition
    def render(self) -> str:
        requests = [
            "# HELP http_requests_total Requests answered, by status code.",
            "# TYPE http_requests_total counter",
        ]
        duration = [
            "# HELP http_request_duration_seconds Time to answer a request.",
            "# TYPE http_request_duration_seconds histogram",
        ]
        with self.lock:
            for (service, slot_name), slot in sorted(self.slots.items()):
                if slot.count == 0:
                    continue
                base = f'service="{_label(service)}",slot="{_label(slot_name)}"'
                if slot.ok:
                    requests.append(f'http_requests_total{{{base},code="200"}} {_number(slot.ok)}')
                if slot.errors:
                    requests.append(f'http_requests_total{{{base},code="500"}} {_number(slot.errors)}')
                for le, value in zip(BUCKETS, slot.buckets, strict=True):
                    duration.append(
                        f'http_request_duration_seconds_bucket{{{base},le="{le}"}} {_number(value)}'
                    )
                duration.append(
                    f'http_request_duration_seconds_bucket{{{base},le="+Inf"}} {_number(slot.count)}'
                )
                duration.append(f"http_request_duration_seconds_sum{{{base}}} {slot.sum!r}")
                duration.append(f"http_request_duration_seconds_count{{{base}}} {_number(slot.count)}")
        return "\n".join(requests + duration) + "\n"

    # ------------------------------------------------------------------ file_sd
    def register(self) -> None:
        """Tell Prometheus about this exporter (it rereads the targets directory every second)."""
        self.targets_dir.mkdir(parents=True, exist_ok=True)
        doc = [{"targets": [self.target], "labels": {"exporter": self.name}}]
        # Written beside and renamed: Prometheus must never read half a file (the name is not *.json).
        tmp = self.targets_dir / f".{self.name}.json.tmp"
        tmp.write_text(json.dumps(doc) + "\n", encoding="utf-8")
        tmp.replace(self.target_file)

    def close(self) -> None:
        self.target_file.unlink(missing_ok=True)
        self.stopped.set()
        self.server.shutdown()
        self.server.server_close()
        for thread in self.threads:
            thread.join(timeout=5)
