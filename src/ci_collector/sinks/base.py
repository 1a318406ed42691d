"""The one small interface every sink shares, and the batching they all use.

A sink takes whole, immutable chains and answers with acknowledgements: a chain is
acknowledged once every one of its events was either accepted or refused (set aside
as a dead letter). Only accepted chains may be marked delivered in the state, so a
crash between two batches of one chain re-sends that chain rather than losing half.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Protocol

from ..jsonio import dumps
from ..model import Repo
from ..trunk import EventDict

DEFAULT_BATCH_EVENTS = 100
DEFAULT_BATCH_BYTES = 1_000_000


encode = dumps
"""Compact, deterministic JSON: the same events always give the same bytes."""


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
    refused_bodies: int = 0
    """Bodies answered 400, split ones included (their parts may all be accepted later)."""


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


class BodyRefused(Exception):
    """Raised by `_deliver` when the receiver refuses a body's content (HTTP 400).

    The batch is halved until the refused chain is alone in its body: one bad event
    must not take the other chains of its batch down with it.
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


RefusalHook = Callable[[Chain, BodyRefused], None]


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
        return self.split(len(self.events) // 2)

    def split(self, at: int) -> tuple[Batch, Batch]:
        """The first `at` events, and the rest."""
        return (
            Batch(self.repo, self.prefix, self.events[:at], self.encoded[:at]),
            Batch(self.repo, self.prefix, self.events[at:], self.encoded[at:]),
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
    halves; `BodyRefused` to have it cut between chains until the refused chain is alone
    (then `_refused` keeps it and `on_refused` hears of it); fatal problems raise.
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
        self.on_refused: RefusalHook | None = None
        """Told of each chain the receiver refused on its own (e.g. to count it in the state)."""

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
        room = self.batch_bytes - len(buffer.prefix) - 2  # the body's bytes around its events
        events, encoded = chain.events, list(map(encode, chain.events))
        at = 0
        while at < len(events):
            taken = _fitting(buffer, encoded, at, self.batch_events - len(buffer.events), room)
            if taken == 0:  # the next event does not fit beside what is queued
                acks.extend(self._send(buffer))
                continue
            buffer.events.extend(events[at : at + taken])
            buffer.encoded.extend(encoded[at : at + taken])
            buffer.owners.extend([chain] * taken)
            buffer.size += sum(map(len, encoded[at : at + taken])) + taken
            at += taken
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
        except BodyRefused as refusal:
            self.stats.refused_bodies += 1
            cut = _chain_boundary(owners)
            if cut:
                older, newer = batch.split(cut)
                return self._send_batch(older, owners[:cut]) + self._send_batch(newer, owners[cut:])
            accepted = False
            self._set_aside(batch, owners[0], refusal)
        self.stats.bodies += 1
        if accepted:
            self.stats.events_sent += count
        else:
            self.stats.dead_lettered_events += count
        acks: list[Ack] = []
        for chain, events in Counter(owners).items():  # counted in C: a chain per body or two
            owed = self._owed[chain]
            owed.events -= events
            owed.refused = owed.refused or not accepted
            if owed.events == 0:
                del self._owed[chain]
                acks.append(Ack(chain, self.namespace, refused=owed.refused))
        return acks

    def _set_aside(self, batch: Batch, chain: Chain, refusal: BodyRefused) -> None:
        """One chain's body was refused on its own: keep it (`_refused`), tell `on_refused`."""
        self._refused(batch, refusal)
        if self.on_refused is not None:
            self.on_refused(chain, refusal)

    def _refused(self, batch: Batch, refusal: BodyRefused) -> None:
        """Keep a refused body somewhere a person can find it (the Trunk sink: a file)."""

    def _deliver(self, batch: Batch) -> bool:
        raise NotImplementedError


def _fitting(buffer: _Buffer, encoded: list[bytes], at: int, free: int, room: int) -> int:
    """How many of the events from `at` join the buffer: at most `free`, and only while
    the body stays within `room` bytes (a comma after each); an event too large for any
    body goes alone into an empty one, and 0 means "send the buffer first"."""
    ends = list(accumulate((len(e) + 1 for e in encoded[at : at + free]), initial=buffer.size))
    taken = bisect_right(ends, room + 1, 1) - 1
    return 1 if taken == 0 and not buffer.events else taken


def _chain_boundary(owners: list[Chain]) -> int:
    """Where to cut a refused body in two: the chain boundary nearest its middle (0: one chain).

    Cutting between chains keeps each chain's events together, so the refused chain
    ends up alone in one body (one dead-letter record) in about log2(chains) steps.
    """
    cuts = [i for i in range(1, len(owners)) if owners[i] is not owners[i - 1]]
    return min(cuts, key=lambda i: abs(2 * i - len(owners)), default=0)
