"""The one small interface every sink shares, and the batching they all use.

A sink takes whole chains and reports back which chains were *completely* accepted:
only those may be marked delivered in the state, so a crash between two batches of
one chain re-sends that chain rather than losing half of it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
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


@dataclass(slots=True, eq=False)
class Chain:
    """One run attempt's events, with what the state needs to remember it by."""

    run_key: str
    repo: Repo
    events: list[EventDict]
    source: str = ""
    fingerprint: str = ""
    pending: int = 0
    failed: bool = False


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

    def add(self, chain: Chain) -> list[Chain]:
        """Queue a chain; return the chains that are now fully delivered."""
        ...

    def flush(self) -> list[Chain]:
        """Send everything queued; return the chains that are now fully delivered."""
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
class _Buffer:
    prefix: bytes
    events: list[bytes] = field(default_factory=list)
    owners: list[Chain] = field(default_factory=list)
    size: int = 0


class BatchingSink:
    """Groups events per repo into request bodies of bounded count and size.

    Subclasses implement `_deliver(body, events) -> bool`: True when the body was
    accepted, False when it was set aside (dead-lettered); `BodyTooLarge` to have it
    sent in halves; `BodyRefused` to have it halved until the refused chain is alone
    (then `_refused` keeps it and `on_refused` hears of it); fatal problems raise.
    """

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
        self.on_refused: RefusalHook | None = None
        """Told of each chain the receiver refused on its own (e.g. to quarantine it)."""

    def add(self, chain: Chain) -> list[Chain]:
        if not chain.events:
            return [chain]
        buffer = self._buffers.get(chain.repo)
        if buffer is None:
            repo = {"host": chain.repo.host, "owner": chain.repo.owner, "name": chain.repo.name}
            buffer = _Buffer(prefix=b'{"repo":' + encode(repo) + b',"events":[')
            self._buffers[chain.repo] = buffer
        done: list[Chain] = []
        chain.pending += len(chain.events)
        for event in chain.events:
            encoded = encode(event)
            too_big = buffer.size + len(encoded) + len(buffer.prefix) + 2 > self.batch_bytes
            if buffer.events and too_big:
                done.extend(self._send(buffer))
            buffer.events.append(encoded)
            buffer.owners.append(chain)
            buffer.size += len(encoded) + 1
            if len(buffer.events) >= self.batch_events:
                done.extend(self._send(buffer))
        return done

    def flush(self) -> list[Chain]:
        done: list[Chain] = []
        for buffer in self._buffers.values():
            if buffer.events:
                done.extend(self._send(buffer))
        return done

    def close(self) -> None:
        """Release resources; queued events that were not flushed are dropped."""

    def _send(self, buffer: _Buffer) -> list[Chain]:
        events, owners = buffer.events, buffer.owners
        buffer.events, buffer.owners, buffer.size = [], [], 0
        return self._send_events(buffer.prefix, events, owners)

    def _send_events(self, prefix: bytes, events: list[bytes], owners: list[Chain]) -> list[Chain]:
        """Send one body; account each event to its chain, so a chain fails only for its own."""
        count = len(events)
        body = prefix + b",".join(events) + b"]}"
        try:
            accepted = self._deliver(body, count)
        except BodyTooLarge:
            if count < 2:
                raise
            return self._halves(prefix, events, owners)
        except BodyRefused as refusal:
            self.stats.refused_bodies += 1
            cut = _chain_boundary(owners)
            if cut:
                return self._send_events(prefix, events[:cut], owners[:cut]) + self._send_events(
                    prefix, events[cut:], owners[cut:]
                )
            accepted = False
            self._set_aside(body, owners[0], refusal)
        self.stats.bodies += 1
        if accepted:
            self.stats.events_sent += count
        else:
            self.stats.dead_lettered_events += count
        done: list[Chain] = []
        for chain in owners:
            chain.pending -= 1
            if not accepted:
                chain.failed = True
            if chain.pending == 0 and not chain.failed:
                done.append(chain)
        return done

    def _halves(self, prefix: bytes, events: list[bytes], owners: list[Chain]) -> list[Chain]:
        half = len(events) // 2
        return self._send_events(prefix, events[:half], owners[:half]) + self._send_events(
            prefix, events[half:], owners[half:]
        )

    def _set_aside(self, body: bytes, chain: Chain, refusal: BodyRefused) -> None:
        """One chain's body was refused on its own: keep it (`_refused`), tell `on_refused`."""
        self._refused(body, refusal)
        if self.on_refused is not None:
            self.on_refused(chain, refusal)

    def _refused(self, body: bytes, refusal: BodyRefused) -> None:
        """Keep a refused body somewhere a person can find it (the Trunk sink: a file)."""

    def _deliver(self, body: bytes, events: int) -> bool:
        raise NotImplementedError


def _chain_boundary(owners: list[Chain]) -> int:
    """Where to cut a refused body in two: the chain boundary nearest its middle (0: one chain).

    Cutting between chains keeps each chain's events together, so the refused chain
    ends up alone in one body (one dead-letter record) in about log2(chains) steps.
    """
    cuts = [i for i in range(1, len(owners)) if owners[i] is not owners[i - 1]]
    return min(cuts, key=lambda i: abs(2 * i - len(owners)), default=0)
