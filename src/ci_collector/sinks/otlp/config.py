"""The exporter settings every OpenTelemetry user already knows (``OTEL_EXPORTER_OTLP_*``).

Parsed the way the OpenTelemetry SDKs parse them: the generic endpoint gets
``/v1/traces`` appended, the traces endpoint is used as is; headers are
``k=v,k2=v2`` with URL-encoded values; resource attributes likewise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit, urlunsplit

from ... import secrets
from ...errors import UserError

DEFAULT_BATCH_SPANS = 512
OTLP_NAMESPACE = "otlp:"
"""Where the OTLP sink's deliveries are remembered in the state (see `Ack.sink`)."""

TRACES_PATH = "v1/traces"
COMPRESSIONS = ("none", "gzip")


@dataclass(frozen=True)
class OtlpSettings:
    url: str
    display_url: str
    """The URL with any embedded password masked: the one messages may show."""
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    gzip: bool = False
    resource: dict[str, str] = field(default_factory=dict)
    batch_spans: int = 512

    @property
    def enabled(self) -> bool:
        """Export is on once an endpoint is set; without one only a dry run uses the rest."""
        return bool(self.url)

    @classmethod
    def parse(
        cls,
        *,
        endpoint: str | None,
        traces_endpoint: str | None,
        headers: str | None,
        compression: str | None,
        service_name: str | None,
        resource_attributes: str | None,
        batch_spans: int = 512,
        protocol: str | None = None,
    ) -> OtlpSettings:
        """Settings with an empty `url` when no endpoint is set: OTLP export is off."""
        url = ""
        if traces_endpoint:
            url = traces_endpoint.strip()
        elif endpoint:
            url = endpoint.strip().rstrip("/") + "/" + TRACES_PATH
        if url and protocol and protocol.strip().lower() != "http/protobuf":
            raise UserError(
                f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol.strip()}: ci-collector sends "
                "http/protobuf only (OTLP/HTTP, usually port 4318)"
            )
        parts = urlsplit(url)
        if parts.password:
            secrets.register(parts.password, unquote(parts.password))
        if url and (parts.scheme not in ("http", "https") or not parts.hostname):
            raise UserError(f"the OTLP endpoint must be an http(s) URL, not {_masked(url)!r}")
        parsed_headers = pairs(headers or "", "OTEL_EXPORTER_OTLP_HEADERS")
        secrets.register(*parsed_headers.values())
        mode = (compression or "none").strip().lower()
        if mode not in COMPRESSIONS:
            raise UserError(f"OTEL_EXPORTER_OTLP_COMPRESSION must be gzip or none, not {mode!r}")
        resource = pairs(resource_attributes or "", "OTEL_RESOURCE_ATTRIBUTES")
        if service_name:
            resource["service.name"] = service_name
        return cls(url, _masked(url), parsed_headers, mode == "gzip", resource, batch_spans)


def pairs(text: str, what: str) -> dict[str, str]:
    """``k=v,k2=v2`` with percent-encoded values; a malformed entry is a usage error.

    The message names the key, never the value: header values are API keys.
    """
    found: dict[str, str] = {}
    for entry in text.split(","):
        if not entry.strip():
            continue
        key, sep, value = entry.partition("=")
        key = unquote(key.strip())
        if not sep or not key:
            raise UserError(f"{what}: each entry must be key=value (got an entry without '=')")
        found[key] = unquote(value.strip())
    return found


def _masked(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None and parts.username is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, f"***@{host}", parts.path, parts.query, parts.fragment))
