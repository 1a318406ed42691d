"""A real OTLP/HTTP trace receiver on 127.0.0.1, decoding with the official protobuf classes.

It accepts ``POST /v1/traces`` with ``application/x-protobuf`` bodies (gzip when the
request says ``Content-Encoding: gzip``), checks the API key header, and keeps every
span by (trace id, span id); a re-sent span must be byte-identical to the first copy.
Faults are queued in `faults` (one per POST): a non-200 reply is answered instead and
nothing is kept; a `partial` fault keeps the body but answers ``partial_success``.
"""

from __future__ import annotations

import gzip
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from .base import LoopbackServer, Reply, Request

PATH = "/v1/traces"
API_KEY_HEADER = "x-honeycomb-team"
API_KEY = "otlp-test-key/with=odd,chars"
"""Needs URL-encoding in OTEL_EXPORTER_OTLP_HEADERS: proves values are decoded."""


@dataclass
class Partial:
    """Answer 200 with ``partial_success``: `rejected` spans dropped (nothing kept)."""

    rejected: int
    message: str = "some spans were invalid"


class OtlpReceiver:
    def __init__(self, api_key: str | None = API_KEY, path: str = PATH) -> None:
        self.api_key = api_key
        self.path = path
        self.faults: list[Reply | Partial] = []
        self.spans: dict[tuple[bytes, bytes], bytes] = {}
        self.resources: dict[tuple[bytes, bytes], dict[str, str]] = {}
        self.deliveries: Counter[tuple[bytes, bytes]] = Counter()
        self.conflicts: list[tuple[bytes, bytes]] = []
        self.requests_decoded: list[ExportTraceServiceRequest] = []
        self.gzipped = 0
        self._lock = threading.Lock()
        self.server = LoopbackServer(self._handle)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def posts(self) -> int:
        return sum(1 for request in self.server.requests if request.method == "POST")

    def _handle(self, request: Request) -> Reply:
        if request.method != "POST" or request.path != self.path:
            return Reply(404, b"not found", {"Content-Type": "text/plain"})
        if self.api_key is not None and request.headers.get(API_KEY_HEADER) != self.api_key:
            return Reply(401, b"unauthorized", {"Content-Type": "text/plain"})
        with self._lock:
            fault = self.faults.pop(0) if self.faults else None
        if isinstance(fault, Reply) and fault.status != 200:
            return fault
        if request.headers.get("content-type") != "application/x-protobuf":
            return Reply(415, b"protobuf only", {"Content-Type": "text/plain"})
        body = request.body
        if request.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
            self.gzipped += 1
        try:
            export = ExportTraceServiceRequest.FromString(body)
        except Exception:
            return Reply(400, b"undecodable body", {"Content-Type": "text/plain"})
        answer = ExportTraceServiceResponse()
        if isinstance(fault, Partial):
            answer.partial_success.rejected_spans = fault.rejected
            answer.partial_success.error_message = fault.message
        else:
            self._keep(export)
        reply = Reply(200, answer.SerializeToString(), {"Content-Type": "application/x-protobuf"})
        if isinstance(fault, Reply):
            reply.delay, reply.drop = fault.delay, fault.drop
        return reply

    def _keep(self, export: ExportTraceServiceRequest) -> None:
        with self._lock:
            self.requests_decoded.append(export)
            for resource_spans in export.resource_spans:
                resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                for scope in resource_spans.scope_spans:
                    for span in scope.spans:
                        key = (span.trace_id, span.span_id)
                        encoded = span.SerializeToString(deterministic=True)
                        if self.spans.setdefault(key, encoded) != encoded:
                            self.conflicts.append(key)
                        self.resources[key] = resource
                        self.deliveries[key] += 1

    def all_spans(self) -> list[Span]:
        return [Span.FromString(raw) for raw in self.spans.values()]


@contextmanager
def running_receiver(api_key: str | None = API_KEY) -> Iterator[OtlpReceiver]:
    receiver = OtlpReceiver(api_key)
    with receiver.server:
        yield receiver
