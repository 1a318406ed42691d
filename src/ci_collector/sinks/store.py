"""The embedded default sink: events go to the local store, in the state's SQLite file.

It batches like every sink (one transaction of one bulk upsert per body), so it is as
safe as the Trunk uploader: a chain is reported delivered only once all of its events
were committed, and storing the same event again updates its row.
"""

from __future__ import annotations

from pathlib import Path

from ..eventstore import EventStore, Row, RunContext, event_row, run_contexts
from .base import Ack, Batch, BatchingSink, Chain

STORE_BATCH_EVENTS = 1000
STORE_BATCH_BYTES = 16_000_000


class StoreSink(BatchingSink):
    """Writes every event to `EventStore(path)`; never dead-letters (errors are fatal)."""

    def __init__(
        self,
        path: str | Path,
        batch_events: int = STORE_BATCH_EVENTS,
        batch_bytes: int = STORE_BATCH_BYTES,
        *,
        namespace: str = "store:",
    ) -> None:
        super().__init__(batch_events, batch_bytes)
        self.namespace = namespace
        self.store = EventStore(path)
        self.path = path
        # What each queued event inherits from its run, until its body is written;
        # counted, because the same run may be queued twice before a flush.
        self._queued: dict[str, tuple[RunContext, int]] = {}

    def add(self, chain: Chain) -> list[Ack]:
        if chain.events:
            contexts = run_contexts(chain.events)
            for event in chain.events:  # per event, not per id: an id may come twice
                context = contexts[event["id"]]
                _, count = self._queued.get(event["id"], (context, 0))
                self._queued[event["id"]] = (context, count + 1)
        return super().add(chain)

    def _deliver(self, batch: Batch) -> bool:
        host, slug = batch.repo.host, f"{batch.repo.owner}/{batch.repo.name}"
        rows: list[Row] = []
        bodies: list[tuple[str, str]] = []
        for event, encoded in zip(batch.events, batch.encoded, strict=True):
            event_id = str(event["id"])
            rows.append(event_row(event, host, slug, self._take(event_id)))
            bodies.append((event_id, encoded.decode()))
        self.store.write(rows, bodies)
        self.stats.requests += 1
        return True

    def _take(self, event_id: str) -> RunContext:
        context, count = self._queued[event_id]
        if count == 1:
            del self._queued[event_id]
        else:
            self._queued[event_id] = (context, count - 1)
        return context

    def close(self) -> None:
        self.store.close()
