"""The reference service's gRPC side: the standard grpc.health.v1 Health service on GRPC_PORT.

It needs grpcio (Debian's python3-grpcio in the test bed's image) and no protobuf code: the two
messages of the health protocol are small enough to encode by hand, and grpc's generic method
handlers take plain bytes. Without grpcio importable, :func:`serve` returns None and the caller
falls back to a listener that accepts connections and closes them.

Check answers for the server as a whole (service "") and for the service's own name; any other
name is NOT_FOUND, as the protocol says. Watch sends the status once and holds the stream open
until the client leaves or the server stops (the status never changes while it runs).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

HEALTH_SERVICE = "grpc.health.v1.Health"
# HealthCheckResponse.ServingStatus
SERVING, NOT_SERVING, SERVICE_UNKNOWN = 1, 2, 3
MODES = {"": SERVING, "serving": SERVING, "not_serving": NOT_SERVING}


class DecodeError(ValueError):
    """The request is not a well-formed protobuf message."""


def _varint(data: bytes, offset: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if offset >= len(data) or shift > 63:
            raise DecodeError("truncated varint")
        byte = data[offset]
        offset += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, offset


def decode_request(data: bytes) -> str:
    """HealthCheckRequest's field 1 (``string service``); unknown fields are skipped."""
    service = ""
    offset = 0
    while offset < len(data):
        key, offset = _varint(data, offset)
        number, wire = key >> 3, key & 7
        if wire == 0:
            _, offset = _varint(data, offset)
        elif wire == 1:
            offset += 8
        elif wire == 5:
            offset += 4
        elif wire == 2:
            size, offset = _varint(data, offset)
            if offset + size > len(data):
                raise DecodeError("truncated field")
            if number == 1:
                service = data[offset : offset + size].decode("utf-8")
            offset += size
        else:
            raise DecodeError(f"wire type {wire} is not supported")
    if offset != len(data):
        raise DecodeError("truncated fixed-size field")
    return service


def encode_response(status: int) -> bytes:
    """HealthCheckResponse with field 1 (``ServingStatus status``), a varint below 128."""
    return bytes((0x08, status))


class HealthServer:
    """A grpc server with the Health service; ``stop()`` ends it and every open Watch."""

    def __init__(self, grpc: Any, port: int, names: set[str], status: int) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.names = names
        self.status = status
        self.stopping = threading.Event()
        # so_reuseport off: a second server on a taken port fails instead of sharing it
        self.server = grpc.server(ThreadPoolExecutor(max_workers=8), options=[("grpc.so_reuseport", 0)])
        handlers = {
            "Check": grpc.unary_unary_rpc_method_handler(
                self.check, request_deserializer=decode_request, response_serializer=encode_response
            ),
            "Watch": grpc.unary_stream_rpc_method_handler(
                self.watch, request_deserializer=decode_request, response_serializer=encode_response
            ),
        }
        generic = grpc.method_handlers_generic_handler(HEALTH_SERVICE, handlers)
        self.server.add_generic_rpc_handlers((generic,))
        self.grpc = grpc
        bound = self.server.add_insecure_port(f"0.0.0.0:{port}")
        if not bound:  # older grpcio returns 0 instead of raising
            raise OSError(f"gRPC could not listen on port {port}")
        self.port = int(bound)
        self.server.start()

    def check(self, service: str, context: Any) -> int:
        if service not in self.names:
            context.abort(self.grpc.StatusCode.NOT_FOUND, f"unknown service {service!r}")
        return self.status

    def watch(self, service: str, context: Any) -> Iterator[int]:
        yield self.status if service in self.names else SERVICE_UNKNOWN
        while context.is_active() and not self.stopping.wait(0.5):
            pass

    def stop(self) -> None:
        self.stopping.set()
        self.server.stop(grace=0)


def serve(port: int, service: str, mode: str) -> HealthServer | None:
    """The Health service on ``port`` answering ``mode`` (see MODES), or None without grpcio."""
    try:
        import grpc
    except ImportError:
        return None
    return HealthServer(grpc, port, {"", service}, MODES[mode])
