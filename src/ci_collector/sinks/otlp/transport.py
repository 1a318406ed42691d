"""POST one OTLP/HTTP protobuf body, with the project's client and retry policy.

Kept apart from batching and encoding: this only knows bodies and answers, so the
same transport serves the sink, the benchmark and any future signal (metrics).
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import httpx
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from ... import __version__
from ...retry import RETRYABLE_STATUS, RetryClock, retry_after
from ...unreachable import untrusted_certificate, untrusted_message
from ..base import BodyTooLarge
from ..trunk import DeliveryFailed, TrunkRefused

RETRYABLE = RETRYABLE_STATUS
"""The OTLP/HTTP specification retries 429, 502, 503 and 504; like the Trunk sink we also
retry 408, 425 and 500: span ids are deterministic, so a repeat is harmless, while
dead-lettering a body over one passing server error would make a person replay it."""


class OtlpRefused(TrunkRefused):
    """The endpoint refused the exporter itself (credentials, wrong URL): no body can pass."""


class OtlpUnavailable(DeliveryFailed):
    """The endpoint kept failing (or was unreachable) for the whole retry budget."""


@dataclass(frozen=True, slots=True)
class Answer:
    """What the receiver said about one body: accepted, partly rejected, or refused."""

    status: int
    rejected_spans: int = 0
    message: str = ""

    @property
    def accepted(self) -> bool:
        return 200 <= self.status < 300 and self.rejected_spans == 0


class OtlpTransport:
    """One endpoint, one httpx client; `export` returns an `Answer` or raises.

    Header values (API keys) go only into the client's headers: never into a message.
    """

    def __init__(
        self,
        url: str,
        headers: Mapping[str, str],
        *,
        display_url: str | None = None,
        gzip_bodies: bool = False,
        timeout: float = 10.0,
        retry_budget: float = 300.0,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        verify: bool = True,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.url = url
        self.display_url = display_url or url
        self.gzip = gzip_bodies
        self.retry_budget = retry_budget
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.requests = 0
        self.retries = 0
        self._sleep = sleep
        fixed = {
            "Content-Type": "application/x-protobuf",
            "User-Agent": f"ci-collector/{__version__}",
        }
        if gzip_bodies:
            fixed["Content-Encoding"] = "gzip"
        self._client = httpx.Client(timeout=timeout, verify=verify, headers={**headers, **fixed})

    def close(self) -> None:
        self._client.close()

    def export(self, body: bytes, spans: int) -> Answer:
        """Send one serialized `ExportTraceServiceRequest`; retry what may pass later."""
        payload = gzip.compress(body, compresslevel=6) if self.gzip else body
        clock = RetryClock(self.retry_budget, self.backoff_base, self.backoff_cap, self._sleep)
        while True:
            clock.start_attempt()
            self.requests += 1
            try:
                response = self._client.post(self.url, content=payload)
            except httpx.TransportError as exc:
                reason = untrusted_certificate(exc)
                if reason is not None:
                    raise OtlpRefused(untrusted_message("OTLP", self.display_url, reason)) from None
                problem, wait = type(exc).__name__, None
            else:
                status = response.status_code
                if 200 <= status < 300:
                    return _success(response)
                if status in (401, 403):
                    raise OtlpRefused(
                        f"the OTLP endpoint {self.display_url} answered {status}: check the "
                        "credentials in OTEL_EXPORTER_OTLP_HEADERS (--otlp-headers)"
                    )
                if status == 404:
                    raise OtlpRefused(
                        f"the OTLP endpoint answered 404 for {self.display_url}: check "
                        "OTEL_EXPORTER_OTLP_ENDPOINT (/v1/traces is appended to it)"
                    )
                if status == 413 and spans > 1:
                    raise BodyTooLarge()
                if status not in RETRYABLE:
                    return Answer(status, spans, _text(response))
                problem, wait = f"HTTP {status}", retry_after(response.headers)
            if clock.pause("OTLP export", problem, wait) is None:
                raise OtlpUnavailable(
                    f"OTLP endpoint {self.display_url} still failing after {clock.attempts} "
                    f"attempts ({problem}); nothing was marked delivered, run again later"
                )
            self.retries += 1


def _success(response: httpx.Response) -> Answer:
    """A 2xx may still carry ``partial_success``: spans the receiver dropped."""
    answer = ExportTraceServiceResponse()
    try:
        if "json" in response.headers.get("content-type", ""):
            json_format.Parse(response.content or b"{}", answer, ignore_unknown_fields=True)
        else:
            answer.ParseFromString(response.content)
    except (DecodeError, json_format.ParseError, ValueError):
        return Answer(response.status_code)  # unreadable success: the spec says do not retry
    partial = answer.partial_success
    return Answer(response.status_code, partial.rejected_spans, partial.error_message)


def _text(response: httpx.Response) -> str:
    return response.content[:4000].decode("utf-8", errors="replace").strip()
