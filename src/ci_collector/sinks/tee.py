"""Two sinks at once: Trunk, plus a local copy of what was sent (``--store``)."""

from __future__ import annotations

from .base import Chain, Sink


class TeeSink:
    """Gives each sink its own copy of a chain; a chain is delivered once both took it.

    Copies, because a batching sink keeps its own count of a chain's pending events on
    the chain object itself. `stats` are the primary's: that is what the user asked for.
    """

    def __init__(self, primary: Sink, secondary: Sink) -> None:
        self.primary = primary
        self.secondary = secondary
        self.stats = primary.stats
        self._original: dict[Chain, Chain] = {}
        self._waiting: dict[Chain, int] = {}

    def add(self, chain: Chain) -> list[Chain]:
        self._waiting[chain] = 2
        done: list[Chain] = []
        for sink in (self.primary, self.secondary):
            copy = Chain(chain.run_key, chain.repo, chain.events, chain.source, chain.fingerprint)
            self._original[copy] = chain
            done.extend(self._settle(sink.add(copy)))
        return done

    def flush(self) -> list[Chain]:
        return self._settle(self.primary.flush()) + self._settle(self.secondary.flush())

    def close(self) -> None:
        try:
            self.primary.close()
        finally:
            self.secondary.close()

    def _settle(self, copies: list[Chain]) -> list[Chain]:
        done: list[Chain] = []
        for copy in copies:
            chain = self._original.pop(copy)
            self._waiting[chain] -= 1
            if self._waiting[chain] == 0:
                del self._waiting[chain]
                done.append(chain)
        return done
