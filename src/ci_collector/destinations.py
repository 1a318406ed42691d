"""Several destinations at once (Trunk, OTLP, the local store), each with its own memory.

Each remote destination remembers its deliveries under its own state namespace (Trunk
``""``, OTLP ``otlp:``), so adding a destination later sends it the history it has not
received, and never re-sends to the others what they already have:

- the sources see a `CombinedState`: a run counts as delivered only once *every*
  destination has it, and a bookmark (cursor, ETag) counts only where all agree;
- each destination sits behind a `Ledger` that skips what it already has and records
  what it acknowledges, as soon as it does.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .sinks.base import Chain, Sink, SinkStats
from .state import State

OTLP_NAMESPACE = "otlp:"
TRUNK_NAMESPACE = ""


class CombinedState(State):
    """The state as the sources see it when chains go to several destinations.

    Reads answer for all namespaces together (delivered = delivered everywhere; a cursor
    or ETag only if every namespace holds the same one, else none: the source re-lists,
    and each `Ledger` keeps what a destination has from being sent to it twice).
    Writes go to every namespace.
    """

    def __init__(self, path: str | Path, namespaces: Sequence[str]) -> None:
        super().__init__(path, namespaces[0])
        self.views = [self] + [State(path, namespace) for namespace in namespaces[1:]]

    def close(self) -> None:
        try:
            for view in self.views[1:]:
                view.close()
        finally:
            super().close()

    def is_delivered(self, run_key: str, fingerprint: str = "") -> bool:
        return super().is_delivered(run_key, fingerprint) and all(
            view.is_delivered(run_key, fingerprint) for view in self.views[1:]
        )

    def mark_all_delivered(self, attempts: Iterable[tuple[str, str, str, int]]) -> None:
        attempts = list(attempts)
        super().mark_all_delivered(attempts)
        for view in self.views[1:]:
            view.mark_all_delivered(attempts)

    def cursor(self, source: str) -> dict[str, Any] | None:
        mine = super().cursor(source)
        same = all(view.cursor(source) == mine for view in self.views[1:])
        return mine if same else None

    def set_cursor(self, source: str, cursor: dict[str, Any]) -> None:
        super().set_cursor(source, cursor)
        for view in self.views[1:]:
            view.set_cursor(source, cursor)

    def record_success(self, source: str) -> None:
        super().record_success(source)
        for view in self.views[1:]:
            view.record_success(source)

    def etag(self, url: str) -> tuple[str, bytes] | None:
        mine = super().etag(url)
        same = all(view.etag(url) == mine for view in self.views[1:])
        return mine if same else None

    def set_etag(self, url: str, source: str, etag: str, body: bytes) -> None:
        super().set_etag(url, source, etag, body)
        for view in self.views[1:]:
            view.set_etag(url, source, etag, body)

    def delivered_count(self, source: str | None = None) -> int:
        return min(
            [super().delivered_count(source)]
            + [view.delivered_count(source) for view in self.views[1:]]
        )


class Ledger:
    """One destination's memory: skip chains it already took, record the ones it takes.

    It owns `state` (a connection to the shared file under this destination's namespace).
    """

    def __init__(self, sink: Sink, state: State) -> None:
        self.sink = sink
        self.state = state
        self.stats = sink.stats
        self.unit: str = getattr(sink, "unit", "events")

    def add(self, chain: Chain) -> list[Chain]:
        if self.state.is_delivered(chain.run_key, chain.fingerprint):
            return [chain]
        return self._record(self.sink.add(chain))

    def flush(self) -> list[Chain]:
        return self._record(self.sink.flush())

    def close(self) -> None:
        try:
            self.sink.close()
        finally:
            self.state.close()

    def _record(self, done: list[Chain]) -> list[Chain]:
        if done:
            self.state.mark_all_delivered(
                (chain.run_key, chain.source, chain.fingerprint, len(chain.events))
                for chain in done
            )
        return done


class FanOut:
    """Gives every sink its own copy of each chain; a chain is done once all took it.

    `stats` add up what every sink refused (so any refusal makes the exit code 1) and
    count what the first sink sent: the figures the summary line reports.
    """

    def __init__(self, sinks: Sequence[Sink]) -> None:
        self.sinks = list(sinks)
        self.stats = SinkStats()
        self.unit: str = getattr(self.sinks[0], "unit", "events")
        self._original: dict[Chain, Chain] = {}
        self._waiting: dict[Chain, int] = {}

    def add(self, chain: Chain) -> list[Chain]:
        self._waiting[chain] = len(self.sinks)
        done: list[Chain] = []
        for sink in self.sinks:
            copy = Chain(chain.run_key, chain.repo, chain.events, chain.source, chain.fingerprint)
            self._original[copy] = chain
            done.extend(self._settle(sink.add(copy)))
        self._count()
        return done

    def flush(self) -> list[Chain]:
        done: list[Chain] = []
        for sink in self.sinks:
            done.extend(self._settle(sink.flush()))
        self._count()
        return done

    def close(self) -> None:
        errors: list[BaseException] = []
        for sink in self.sinks:
            try:
                sink.close()
            except Exception as exc:  # close every sink, then report the first failure
                errors.append(exc)
        if errors:
            raise errors[0]

    def _count(self) -> None:
        first = self.sinks[0].stats
        self.stats.requests = sum(sink.stats.requests for sink in self.sinks)
        self.stats.bodies = sum(sink.stats.bodies for sink in self.sinks)
        self.stats.retries = sum(sink.stats.retries for sink in self.sinks)
        self.stats.events_sent = first.events_sent
        self.stats.dead_lettered_events = sum(s.stats.dead_lettered_events for s in self.sinks)

    def _settle(self, copies: list[Chain]) -> list[Chain]:
        done: list[Chain] = []
        for copy in copies:
            chain = self._original.pop(copy)
            self._waiting[chain] -= 1
            if self._waiting[chain] == 0:
                del self._waiting[chain]
                done.append(chain)
        return done
