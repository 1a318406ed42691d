"""Building and driving an `OtlpSink` against the loopback receiver."""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ci_collector.mapper import map_run
from ci_collector.model import Run
from ci_collector.sinks import Chain
from ci_collector.sinks.base import Ack
from ci_collector.sinks.otlp.sink import OtlpSink
from ci_collector.sinks.otlp.transport import OtlpTransport
from tests.servers.otlp import API_KEY, API_KEY_HEADER, OtlpReceiver


def make_sink(
    receiver: OtlpReceiver,
    tmp_path: Path,
    *,
    sleeps: list[float] | None = None,
    gzip_bodies: bool = False,
    retry_budget: float = 5.0,
    **options: Any,
) -> OtlpSink:
    transport = OtlpTransport(
        receiver.url + "/v1/traces",
        {API_KEY_HEADER: API_KEY},
        gzip_bodies=gzip_bodies,
        timeout=5.0,
        retry_budget=retry_budget,
        backoff_base=0.01,
        backoff_cap=0.05,
        sleep=sleeps.append if sleeps is not None else time.sleep,
    )
    return OtlpSink(transport, dead_letter_path=tmp_path / "dead.otlp.jsonl", **options)


def chain_of(run: Run) -> Chain:
    return Chain(run.natural_key, run.repo, map_run(run), run.source, run.fingerprint)


def send(sink: OtlpSink, runs: Iterable[Run]) -> list[str]:
    """Add every run, flush, close; the run keys acknowledged as accepted, in order."""
    acks: list[Ack] = []
    try:
        for run in runs:
            acks.extend(sink.add(chain_of(run)))
        acks.extend(sink.flush())
    finally:
        sink.close()
    assert all(ack.sink == "otlp:" for ack in acks)
    return [ack.chain.run_key for ack in acks if not ack.refused]
