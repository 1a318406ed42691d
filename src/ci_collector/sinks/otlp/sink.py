"""The OTLP sink: batches spans (by count and bytes), acknowledges whole chains only.

Same promises as the Trunk sink: a chain is acknowledged once every one of its spans
was answered, as accepted only if all of them were; a body the receiver refuses (400,
or a ``partial_success`` with rejected spans) is dead-lettered, and its chains are
acknowledged as refused. Its deliveries are remembered under the ``otlp:`` namespace.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from ...model import Repo
from ..base import Ack, BodyTooLarge, Chain, SinkStats
from .config import DEFAULT_BATCH_SPANS, OTLP_NAMESPACE
from .encoder import SCOPE, chain_spans, export_request, otlp_json, resource
from .transport import Answer

log = logging.getLogger(__name__)

DEFAULT_BATCH_BYTES = 4_000_000
SPAN_OVERHEAD = 8
"""Bytes a span costs beyond its own encoding (field tag and length prefix), an upper bound."""
GROUP_OVERHEAD = 32
"""Bytes each repo's `ResourceSpans`/`ScopeSpans` framing costs beyond its resource and scope."""


class Exporter(Protocol):
    """Where bodies go: `OtlpTransport` (HTTP) or the OTLP/JSON file writer."""

    requests: int
    retries: int

    def export(self, body: bytes, spans: int) -> Answer: ...

    def close(self) -> None: ...


@dataclass(slots=True)
class _Queued:
    repo: Repo
    span: Span
    owner: Chain


@dataclass(slots=True)
class _Owed:
    """Per-chain bookkeeping, kept here rather than on the chain: spans still out, refused."""

    pending: dict[Chain, int] = field(default_factory=dict)
    refused: set[Chain] = field(default_factory=set)

    def settle(self, owners: list[Chain], accepted: bool) -> list[Ack]:
        acks: list[Ack] = []
        for chain in owners:
            self.pending[chain] -= 1
            if not accepted:
                self.refused.add(chain)
            if self.pending[chain] == 0:
                del self.pending[chain]
                refused = chain in self.refused
                self.refused.discard(chain)
                acks.append(Ack(chain, OTLP_NAMESPACE, refused=refused))
        return acks


class OtlpSink:
    """Chains in, OTLP export requests out through `exporter` (an `OtlpTransport`)."""

    unit = "spans"
    namespace = OTLP_NAMESPACE

    def __init__(
        self,
        exporter: Exporter,
        *,
        resource_attributes: Mapping[str, str] | None = None,
        batch_spans: int = DEFAULT_BATCH_SPANS,
        batch_bytes: int = DEFAULT_BATCH_BYTES,
        dead_letter_path: str | Path = "ci-collector-dead-letters.otlp.jsonl",
    ) -> None:
        if batch_spans < 1 or batch_bytes < 1:
            raise ValueError("batch limits must be positive")
        self.exporter = exporter
        self.resource_attributes = dict(resource_attributes or {})
        self.batch_spans = batch_spans
        self.batch_bytes = batch_bytes
        self.dead_letter_path = Path(dead_letter_path)
        self.stats = SinkStats()
        self._queue: list[_Queued] = []
        self._size = 0
        self._repos: set[Repo] = set()
        self._owed = _Owed()

    @property
    def namespaces(self) -> tuple[str, ...]:
        return (self.namespace,)

    def add(self, chain: Chain) -> list[Ack]:
        spans = chain_spans(chain.run_key, chain.repo, chain.events)
        if not spans:
            return [Ack(chain, self.namespace)]
        self._owed.pending[chain] = self._owed.pending.get(chain, 0) + len(spans)
        done: list[Ack] = []
        for span in spans:
            size = span.ByteSize() + SPAN_OVERHEAD
            if chain.repo not in self._repos:
                size += self._group_size(chain.repo)
            if self._queue and self._size + size > self.batch_bytes:
                done.extend(self._send_queue())
                size = span.ByteSize() + SPAN_OVERHEAD + self._group_size(chain.repo)
            self._queue.append(_Queued(chain.repo, span, chain))
            self._repos.add(chain.repo)
            self._size += size
            if len(self._queue) >= self.batch_spans:
                done.extend(self._send_queue())
        return done

    def flush(self) -> list[Ack]:
        return self._send_queue() if self._queue else []

    def close(self) -> None:
        """Release the transport; spans not flushed are dropped (their chains were not acked)."""
        self.exporter.close()

    def _group_size(self, repo: Repo) -> int:
        """What one more repo adds to a body: its resource, the scope, their framing."""
        return (
            resource(repo, self.resource_attributes).ByteSize() + SCOPE.ByteSize() + GROUP_OVERHEAD
        )

    def _send_queue(self) -> list[Ack]:
        queued, self._queue, self._size = self._queue, [], 0
        self._repos = set()
        return self._send(queued)

    def _send(self, queued: list[_Queued]) -> list[Ack]:
        request = export_request(
            ((item.repo, [item.span]) for item in queued), self.resource_attributes
        )
        body = request.SerializeToString()
        try:
            answer = self.exporter.export(body, len(queued))
        except BodyTooLarge:
            if len(queued) < 2:
                raise
            half = len(queued) // 2
            return self._send(queued[:half]) + self._send(queued[half:])
        finally:
            self.stats.requests = self.exporter.requests
            self.stats.retries = self.exporter.retries
        self.stats.bodies += 1
        if answer.accepted:
            self.stats.events_sent += len(queued)
        else:
            # OTLP says how many spans were dropped, not which: the whole body counts as refused.
            self.stats.dead_lettered_events += len(queued)
            self._dead_letter(request, answer, len(queued))
        return self._owed.settle([item.owner for item in queued], answer.accepted)

    def _dead_letter(self, request: ExportTraceServiceRequest, answer: Answer, spans: int) -> None:
        """Keep the refused body (OTLP/JSON) with the receiver's reason, for a person to replay."""
        record = {
            "status": answer.status,
            "rejected_spans": answer.rejected_spans,
            "error": answer.message[:4000],
            "body": otlp_json(request),
        }
        self.dead_letter_path.parent.mkdir(parents=True, exist_ok=True)
        with self.dead_letter_path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
        what = "partly rejected" if 200 <= answer.status < 300 else "refused"
        log.error(
            "the OTLP endpoint %s a body of %d spans (HTTP %d, %d rejected: %s); "
            "all its runs are kept in %s and not marked delivered",
            what,
            spans,
            answer.status,
            answer.rejected_spans,
            answer.message[:200] or "no message",
            self.dead_letter_path,
        )
