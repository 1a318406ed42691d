"""The one small interface every sink shares, and the batching they all use.

A sink takes whole, immutable chains and answers with acknowledgements: a chain is
acknowledged once every one of its events was either accepted or refused (set aside
as a dead letter). Only accepted chains may be marked delivered in the state, so a
crash between two batches of one chain re-sends that chain rather than losing half.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Protocol

from ..model import Repo
from ..trunk import EventDict

DEFAULT_BATCH_EVENTS = 100
DEFAULT_BATCH_BYTES = 1_000_000


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
"""One encoder for every event: ``json.dumps`` with options builds a new one per call."""


def encode(value: object) -> bytes:
    """Compact, deterministic JSON: the same events always give the same bytes."""
    return _ENCODER.encode(value).encode()


@dataclass(frozen=True, slots=True, eq=False)
class Chain:
    """One run attempt's events, with what the state needs to remember it by.

    Immutable and compared by identity: the same chain object travels to every sink,
    and each sink keeps its own count of what it still owes for it.
    """

    run_key: str
    repo: Repo
    events: list[EventDict]
    source: str = ""
    fingerprint: str = ""


@dataclass(frozen=True, slots=True)
class Ack:
    """A sink's last word on a chain: all of its events were accepted, or some refused.

    `sink` is the sink's state namespace (``""`` Trunk, ``store:`` the local store...),
    so each destination's deliveries are remembered apart.
    """

    chain: Chain
    sink: str
    refused: bool = False


@dataclass(slots=True)
class SinkStats:
    requests: int = 0
    bodies: int = 0
    events_sent: int = 0
    retries: int = 0
    dead_lettered_events: int = 0


class Sink(Protocol):
    stats: SinkStats

    @property
    def namespaces(self) -> tuple[str, ...]:
        """The state namespaces this sink acknowledges under (one per destination)."""
        ...

    def add(self, chain: Chain) -> list[Ack]:
        """Queue a chain; return the acknowledgements that are now due."""
        ...

    def flush(self) -> list[Ack]:
        """Send everything queued; every chain added so far is acknowledged by now."""
        ...

    def close(self) -> None: ...


class BodyTooLarge(Exception):
    """Raised by `_deliver` when the receiver wants smaller bodies: the batch is halved."""


@dataclass(slots=True)
class Batch:
    """One request body's worth of events of one repo, as dicts and as encoded JSON.

    The encoded form exists anyway (the size rule needs it); sinks that write JSON join
    it with `body`, the store writes the dicts and their encodings as rows.
    """

    repo: Repo
    prefix: bytes
    events: list[EventDict]
    encoded: list[bytes]

    def body(self) -> bytes:
        return self.prefix + b",".join(self.encoded) + b"]}"

    def halves(self) -> tuple[Batch, Batch]:
        half = len(self.events) // 2
        return (
            Batch(self.repo, self.prefix, self.events[:half], self.encoded[:half]),
            Batch(self.repo, self.prefix, self.events[half:], self.encoded[half:]),
        )


@dataclass(slots=True)
class _Buffer:
    repo: Repo
    prefix: bytes
    events: list[EventDict] = field(default_factory=list)
    encoded: list[bytes] = field(default_factory=list)
    owners: list[Chain] = field(default_factory=list)
    size: int = 0


@dataclass(slots=True)
class _Owed:
    """What this sink still owes a chain: events not yet answered, and whether any failed."""

    events: int
    refused: bool = False


class BatchingSink:
    """Groups events per repo into request bodies of bounded count and size.

    Subclasses implement `_deliver(batch) -> bool`: True when the body was accepted,
    False when it was set aside (dead-lettered); `BodyTooLarge` to have it sent in
    halves; fatal problems raise.
    """

    namespace = ""
    """Where this sink's deliveries are remembered in the state (see `Ack.sink`)."""

    def __init__(
        self,
        batch_events: int = DEFAULT_BATCH_EVENTS,
        batch_bytes: int = DEFAULT_BATCH_BYTES,
    ) -> None:
        if batch_events < 1 or batch_bytes < 1:
            raise ValueError("batch limits must be positive")
        self.batch_events = batch_events
        self.batch_bytes = batch_bytes
        self.stats = SinkStats()
        self._buffers: dict[Repo, _Buffer] = {}
        self._owed: dict[Chain, _Owed] = {}

    @property
    def namespaces(self) -> tuple[str, ...]:
        return (self.namespace,)

    def add(self, chain: Chain) -> list[Ack]:
        if not chain.events:
            return [Ack(chain, self.namespace)]
        buffer = self._buffers.get(chain.repo)
        if buffer is None:
            repo = {"host": chain.repo.host, "owner": chain.repo.owner, "name": chain.repo.name}
            buffer = _Buffer(chain.repo, prefix=b'{"repo":' + encode(repo) + b',"events":[')
            self._buffers[chain.repo] = buffer
        acks: list[Ack] = []
        owed = self._owed.get(chain)
        if owed is None:
            self._owed[chain] = _Owed(len(chain.events))
        else:  # the same chain queued twice before it was answered
            owed.events += len(chain.events)
        for event in chain.events:
            encoded = encode(event)
            too_big = buffer.size + len(encoded) + len(buffer.prefix) + 2 > self.batch_bytes
            if buffer.events and too_big:
                acks.extend(self._send(buffer))
            buffer.events.append(event)
            buffer.encoded.append(encoded)
            buffer.owners.append(chain)
            buffer.size += len(encoded) + 1
            if len(buffer.events) >= self.batch_events:
                acks.extend(self._send(buffer))
        return acks

    def flush(self) -> list[Ack]:
        acks: list[Ack] = []
        for buffer in self._buffers.values():
            if buffer.events:
                acks.extend(self._send(buffer))
        return acks

    def close(self) -> None:
        """Release resources; queued events that were not flushed are dropped."""

    def _send(self, buffer: _Buffer) -> list[Ack]:
        batch = Batch(buffer.repo, buffer.prefix, buffer.events, buffer.encoded)
        owners = buffer.owners
        buffer.events, buffer.encoded, buffer.owners, buffer.size = [], [], [], 0
        return self._send_batch(batch, owners)

    def _send_batch(self, batch: Batch, owners: list[Chain]) -> list[Ack]:
        """Send one body; account each event to its chain, so a chain fails only for its own."""
        count = len(batch.events)
        try:
            accepted = self._deliver(batch)
        except BodyTooLarge:
            if count < 2:
                raise
            older, newer = batch.halves()
            half = len(older.events)
            return self._send_batch(older, owners[:half]) + self._send_batch(newer, owners[half:])
        self.stats.bodies += 1
        if accepted:
            self.stats.events_sent += count
        else:
            self.stats.dead_lettered_events += count
        acks: list[Ack] = []
        for chain in owners:
            owed = self._owed[chain]
            owed.events -= 1
            owed.refused = owed.refused or not accepted
            if owed.events == 0:
                del self._owed[chain]
                acks.append(Ack(chain, self.namespace, refused=owed.refused))
        return acks

    def _deliver(self, batch: Batch) -> bool:
        raise NotImplementedError
