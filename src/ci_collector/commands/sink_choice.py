"""Which sinks a collect command delivers to, built from its options.

Apart from common.py so the options and run loop stay readable; `build_sink` is
re-exported there.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import UserError
from ..sinks import JsonlSink, Sink, StoreSink, TeeSink, TrunkSink
from ..sinks.base import BodyRefused, Chain
from ..sinks.otlp.config import OtlpSettings
from .trunk_config import dead_letter_path

if TYPE_CHECKING:
    from ..sinks.otlp.sink import OtlpSink
    from .common import DeliveryConfig


def build_sink(
    config: DeliveryConfig,
    store_path: Path,
    on_refused: Callable[[Chain, BodyRefused], None] | None = None,
) -> Sink:
    """Trunk with a token, OTLP when configured, else the local store; ``--store`` adds
    the store to the remote destinations. Several destinations are one `TeeSink`.

    `on_refused` hears of each chain Trunk refused on its own (quarantine bookkeeping)."""
    if config.output is not None:
        if config.store:
            raise UserError("--store cannot be combined with --output (a dry run stores nothing)")
        if config.output_format == "otlp-json":
            from ..sinks.otlp.jsonfile import otlp_json_sink  # protobuf: OTLP runs only

            otlp = config.otlp or OtlpSettings("", "")
            return otlp_json_sink(config.output, otlp.resource, otlp.batch_spans)
        return JsonlSink(config.output, batch_events=config.batch_size)
    sinks: list[Sink] = []
    if config.trunk_token:
        trunk = _trunk_sink(config, config.trunk_token)
        trunk.on_refused = on_refused
        sinks.append(trunk)
    if config.otlp is not None and config.otlp.enabled:
        sinks.append(_otlp_sink(config, config.otlp))
    if not sinks or config.store:
        sinks.append(StoreSink(store_path))
    return sinks[0] if len(sinks) == 1 else TeeSink(*sinks)


def _otlp_sink(config: DeliveryConfig, otlp: OtlpSettings) -> OtlpSink:
    """The OTLP/HTTP exporter; its refusals are kept beside Trunk's (``*.otlp.jsonl``)."""
    from ..sinks.otlp.sink import OtlpSink  # protobuf: only OTLP runs pay for importing it
    from ..sinks.otlp.transport import OtlpTransport

    transport = OtlpTransport(
        otlp.url,
        otlp.headers,
        display_url=otlp.display_url,
        gzip_bodies=otlp.gzip,
        timeout=config.timeout,
        retry_budget=config.retry_seconds,
        verify=not config.insecure,
    )
    dead = dead_letter_path(config)
    return OtlpSink(
        transport,
        resource_attributes=otlp.resource,
        batch_spans=otlp.batch_spans,
        dead_letter_path=dead.with_name(f"{dead.stem}.otlp{dead.suffix or '.jsonl'}"),
    )


def _trunk_sink(config: DeliveryConfig, token: str) -> TrunkSink:
    return TrunkSink(
        token,
        config.trunk_url,
        batch_events=config.batch_size,
        dead_letter_path=dead_letter_path(config),
        timeout=config.timeout,
        retry_budget=config.retry_seconds,
        verify=config.trunk_verify(),
    )
