"""The embedded default sink: events go to the local store, in the state's SQLite file.

It batches like every sink (one transaction of one bulk upsert per body), so it is as
safe as the Trunk uploader: a chain is reported delivered only once all of its events
were committed, and storing the same event again updates its row.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..eventstore import EventStore, Row, RunContext, encode_event, event_row, run_contexts
from .base import BatchingSink, Chain

STORE_BATCH_EVENTS = 1000
STORE_BATCH_BYTES = 16_000_000


class StoreSink(BatchingSink):
    """Writes every event to `EventStore(path)`; never dead-letters (errors are fatal)."""

    def __init__(
        self,
        path: str | Path,
        batch_events: int = STORE_BATCH_EVENTS,
        batch_bytes: int = STORE_BATCH_BYTES,
    ) -> None:
        super().__init__(batch_events, batch_bytes)
        self.store = EventStore(path)
        self.path = path
        # What each queued event inherits from its run, until its body is written;
        # counted, because the same run may be queued twice before a flush.
        self._queued: dict[str, tuple[RunContext, int]] = {}

    def add(self, chain: Chain) -> list[Chain]:
        if chain.events:
            contexts = run_contexts(chain.events)
            for event in chain.events:  # per event, not per id: an id may come twice
                context = contexts[event["id"]]
                _, count = self._queued.get(event["id"], (context, 0))
                self._queued[event["id"]] = (context, count + 1)
        return super().add(chain)

    def _deliver(self, body: bytes, events: int) -> bool:
        data = json.loads(body)
        repo = data["repo"]
        host, slug = repo["host"], f"{repo['owner']}/{repo['name']}"
        rows: list[Row] = []
        bodies: list[tuple[str, str]] = []
        for event in data["events"]:
            rows.append(event_row(event, host, slug, self._take(event["id"])))
            bodies.append((event["id"], encode_event(event)))
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
