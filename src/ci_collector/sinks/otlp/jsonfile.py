"""The OTLP dry run: each export request that would be POSTed, as one OTLP/JSON line."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from .config import DEFAULT_BATCH_SPANS
from .encoder import otlp_json
from .sink import DEFAULT_BATCH_BYTES, OtlpSink
from .transport import Answer


class OtlpJsonWriter:
    """An exporter that writes instead of POSTing: one request per line (``-`` is stdout).

    The layout of the OpenTelemetry Collector's file exporter, ready for a trace viewer
    or for ``curl -H 'Content-Type: application/json' --data @line`` to a collector.
    """

    def __init__(self, path: str | Path) -> None:
        self.requests = 0
        self.retries = 0
        self._owned = str(path) != "-"
        self._out: BinaryIO = open(path, "wb") if self._owned else sys.stdout.buffer  # noqa: SIM115

    def export(self, body: bytes, spans: int) -> Answer:
        request = ExportTraceServiceRequest.FromString(body)
        line = json.dumps(otlp_json(request), ensure_ascii=False, separators=(",", ":"))
        self._out.write(line.encode() + b"\n")
        self._out.flush()
        self.requests += 1
        return Answer(200)

    def close(self) -> None:
        if self._owned:
            self._out.close()


def otlp_json_sink(
    path: str | Path,
    resource_attributes: Mapping[str, str] | None = None,
    batch_spans: int = DEFAULT_BATCH_SPANS,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
) -> OtlpSink:
    return OtlpSink(
        OtlpJsonWriter(path),
        resource_attributes=resource_attributes,
        batch_spans=batch_spans,
        batch_bytes=batch_bytes,
    )
