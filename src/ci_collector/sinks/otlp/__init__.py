"""OpenTelemetry export: the same chains as OTLP/HTTP traces, to any OTLP backend.

`encoder` (chains -> official protobuf messages), `transport` (one body, retries),
`sink` (batching and per-chain acknowledgements), `config` (``OTEL_*`` settings).
"""

from .config import OtlpSettings
from .jsonfile import OtlpJsonWriter, otlp_json_sink
from .sink import OtlpSink
from .transport import Answer, OtlpRefused, OtlpTransport, OtlpUnavailable

__all__ = [
    "Answer",
    "OtlpJsonWriter",
    "OtlpRefused",
    "OtlpSettings",
    "OtlpSink",
    "OtlpTransport",
    "OtlpUnavailable",
    "otlp_json_sink",
]
