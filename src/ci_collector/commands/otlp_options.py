"""The OpenTelemetry export options: the ``OTEL_*`` variables, and a flag for each.

Setting an endpoint is enough to turn OTLP export on. Flags win over the variables;
the traces-specific variables win over the generic ones, as in the OpenTelemetry SDKs.
``OTEL_EXPORTER_OTLP_PROTOCOL`` has no flag: it is only read to refuse ``grpc`` early
rather than send HTTP to a gRPC port.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

import click

from ..sinks.otlp.config import COMPRESSIONS, DEFAULT_BATCH_SPANS, OtlpSettings

F = TypeVar("F", bound=Callable[..., Any])

FORMATS = ("jsonl", "otlp-json")


def otlp_options(func: F) -> F:
    options = [
        click.option(
            "--otlp-endpoint",
            envvar="OTEL_EXPORTER_OTLP_ENDPOINT",
            metavar="URL",
            help="Also (or, without a Trunk token, only) export traces to this OTLP/HTTP "
            "endpoint; /v1/traces is appended [env OTEL_EXPORTER_OTLP_ENDPOINT].",
        ),
        click.option(
            "--otlp-traces-endpoint",
            envvar="OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            metavar="URL",
            help="Full OTLP/HTTP traces URL, used as is [env OTEL_EXPORTER_OTLP_TRACES_ENDPOINT].",
        ),
        click.option(
            "--otlp-headers",
            envvar=["OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS"],
            metavar="K=V,...",
            help="Request headers, URL-encoded values (API keys: prefer the variable) "
            "[env OTEL_EXPORTER_OTLP_HEADERS].",
        ),
        click.option(
            "--otlp-compression",
            envvar=["OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "OTEL_EXPORTER_OTLP_COMPRESSION"],
            type=click.Choice(COMPRESSIONS, case_sensitive=False),
            help="gzip the bodies [env OTEL_EXPORTER_OTLP_COMPRESSION; default none].",
        ),
        click.option(
            "--otlp-service-name",
            envvar="OTEL_SERVICE_NAME",
            metavar="NAME",
            help="service.name of every trace [env OTEL_SERVICE_NAME; default: the repo].",
        ),
        click.option(
            "--otlp-resource-attributes",
            envvar="OTEL_RESOURCE_ATTRIBUTES",
            metavar="K=V,...",
            help="More resource attributes [env OTEL_RESOURCE_ATTRIBUTES].",
        ),
        click.option(
            "--otlp-batch-size",
            type=click.IntRange(1, 10_000),
            default=DEFAULT_BATCH_SPANS,
            show_default=True,
            envvar="CI_COLLECTOR_OTLP_BATCH_SIZE",
            help="Spans per OTLP export request.",
        ),
        click.option(
            "--format",
            "output_format",
            type=click.Choice(FORMATS),
            default="jsonl",
            show_default=True,
            envvar="CI_COLLECTOR_FORMAT",
            help="What --output writes: Trunk request bodies, or OTLP/JSON export requests.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def pop_otlp_settings(options: dict[str, Any]) -> OtlpSettings:
    """Take the OTLP options out of a command's keyword arguments (`enabled` if exporting)."""
    return OtlpSettings.parse(
        endpoint=options.pop("otlp_endpoint"),
        traces_endpoint=options.pop("otlp_traces_endpoint"),
        headers=options.pop("otlp_headers"),
        compression=options.pop("otlp_compression"),
        service_name=options.pop("otlp_service_name"),
        resource_attributes=options.pop("otlp_resource_attributes"),
        batch_spans=options.pop("otlp_batch_size"),
        protocol=os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL"),
    )
