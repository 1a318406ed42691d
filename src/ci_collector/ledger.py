"""What may be remembered as done: acknowledgements in, state writes and checkpoints out.

Every chain handed to the sink gets a sequence number, and so does every checkpoint a
source yields. A checkpoint of a source is committed (its cursor written) only when
every chain of that source before it is *settled*, so a cursor never covers an attempt
the state cannot account for (a chain naming no source holds every checkpoint back).
Other sources' chains do not hold it: one refused build does not stop the other jobs'
cursors. A chain is settled when every sink acknowledged it and either

- every sink accepted it (it is marked delivered, per sink namespace), or
- a sink refused it and the `refused` hook put it somewhere safe *in the state* and says
  so (a quarantine the user can list and replay). The default hook records the refusal
  (``refusals`` table, besides the sink's dead-letter file) and settles only chains
  quarantined there (refused in several polls over half an hour, see refusals.py): any
  other refused chain holds back its source's later checkpoints, so the next poll lists
  it again and re-sends it. A refusal is never passed over silently.

A skipped run never reaches the ledger: its skip is recorded in the state when it happens
(see `SkipPolicy`), which is what lets a checkpoint pass it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .sinks.base import Ack, Chain
from .state import Attempt, State

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Everything of `source` up to here was yielded: its cursor may then be `cursor`.

    `complete` marks the end of a source's poll: once committed, its last success is
    recorded. A checkpoint with no cursor only records that.
    """

    source: str
    cursor: dict[str, Any] | None
    complete: bool = False


@dataclass(slots=True)
class _Tally:
    """Acknowledgements a chain has had so far (one per sink)."""

    acks: int = 0
    refused: bool = False


@dataclass(slots=True)
class Settled:
    """Counts for the summary."""

    delivered: int = 0
    dead_lettered: int = 0
    checkpoints: int = 0
    completed: list[str] = field(default_factory=list)


class Ledger:
    """Turns the sinks' acknowledgements, in whatever order, into ordered state writes.

    `refused` is the hook for chains a sink refused: it returns those it has accounted
    for in the state (quarantined), which settles them; the others hold checkpoints back.
    """

    def __init__(
        self,
        state: State | None,
        sinks: tuple[str, ...],
        *,
        on_delivered: Callable[[list[Chain]], None] | None = None,
        refused: Callable[[list[Chain]], list[Chain]] | None = None,
    ) -> None:
        self.state = state
        self.sinks = sinks
        self.on_delivered = on_delivered
        self.refused = refused or self._record_refused
        self.settled = Settled()
        self._next = 0
        self._open: dict[Chain, tuple[int, _Tally]] = {}
        self._unsettled: dict[int, str] = {}  # sequence number -> source
        self._checkpoints: list[tuple[int, Checkpoint]] = []
        self._refusals = state is not None and bool(state.refusals())
        """Whether delivered chains may have a refusal on record to clear."""

    def expect(self, chain: Chain) -> None:
        """A chain is about to go to the sinks: checkpoints after it wait for it."""
        if chain in self._open:
            return  # the same object twice: its acks count once per sink anyway
        seq = self._take()
        self._open[chain] = (seq, _Tally())
        self._unsettled[seq] = chain.source

    def checkpoint(self, checkpoint: Checkpoint) -> None:
        self._checkpoints.append((self._take(), checkpoint))
        self._commit_due()

    def acknowledge(self, acks: Iterable[Ack]) -> None:
        accepted: dict[str, list[Attempt]] = {}
        delivered: list[Chain] = []
        refused: dict[Chain, int] = {}
        for ack in acks:
            entry = self._open.get(ack.chain)
            if entry is None:
                continue
            seq, tally = entry
            tally.acks += 1
            tally.refused = tally.refused or ack.refused
            if not ack.refused:
                accepted.setdefault(ack.sink, []).append(_attempt(ack.chain))
            if tally.acks == len(self.sinks):
                del self._open[ack.chain]
                if tally.refused:
                    refused[ack.chain] = seq
                else:
                    del self._unsettled[seq]
                    delivered.append(ack.chain)
        if self.state is not None:
            for sink, attempts in accepted.items():
                self.state.mark_all_delivered(attempts, sink=sink)
            if delivered and self._refusals:  # delivered at last: no longer refused
                self.state.clear_refusals(chain.run_key for chain in delivered)
        if refused:
            self.settled.dead_lettered += len(refused)
            for chain in self.refused(list(refused)):
                self._unsettled.pop(refused[chain], None)
        if delivered:
            self.settled.delivered += len(delivered)
            if self.on_delivered is not None:
                self.on_delivered(delivered)
        self._commit_due()

    def _take(self) -> int:
        self._next += 1
        return self._next

    def _commit_due(self) -> None:
        """Write the cursors of the checkpoints no unsettled chain of their source precedes."""
        if not self._checkpoints:
            return
        floor: dict[str, int] = {}
        for seq, source in self._unsettled.items():
            floor[source] = min(seq, floor.get(source, seq))
        anonymous = floor.get("", self._next + 1)
        due: dict[str, Checkpoint] = {}
        completed: list[str] = []
        waiting: list[tuple[int, Checkpoint]] = []
        for seq, checkpoint in self._checkpoints:
            if seq > min(floor.get(checkpoint.source, seq + 1), anonymous):
                waiting.append((seq, checkpoint))
                continue
            if checkpoint.cursor is not None:
                due[checkpoint.source] = checkpoint  # only the newest per source is written
            if checkpoint.complete:
                completed.append(checkpoint.source)
        self._checkpoints = waiting
        if self.state is not None:
            for checkpoint in due.values():
                assert checkpoint.cursor is not None
                self.state.set_cursor(checkpoint.source, checkpoint.cursor)
            for source in completed:
                self.state.record_success(source)
        self.settled.checkpoints += len(due)
        self.settled.completed.extend(completed)

    def _record_refused(self, chains: list[Chain]) -> list[Chain]:
        """Record the refusal; settle only the quarantined, so the next poll sends the rest."""
        if self.state is None:
            return []
        self.state.mark_dead_lettered(_attempt(chain) for chain in chains)
        self._refusals = True
        held = [c for c in chains if self.state.is_quarantined(c.run_key, c.fingerprint)]
        for chain in chains:
            if chain not in held:
                log.debug("%s: refused; holds its source's cursor until it is sent", chain.run_key)
        return held


def _attempt(chain: Chain) -> Attempt:
    return (chain.run_key, chain.source, chain.fingerprint, len(chain.events))
