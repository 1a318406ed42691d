"""Several sinks at once: Trunk plus a local copy of what was sent (``--store``), and more.

Every sink gets the same immutable chain and answers for it on its own; the pipeline
remembers each sink's deliveries under that sink's namespace and counts a chain as
delivered once every sink acknowledged it. A sink that already has a chain (Trunk, when
OTLP was added later and is sent the history it lacks) acknowledges it unsent.
"""

from __future__ import annotations

from collections.abc import Callable

from .base import Ack, Chain, Sink

Remembered = Callable[[str, str, str], bool]
"""``(namespace, run_key, fingerprint) -> bool``: has that sink this attempt already?"""


class TeeSink:
    """Hands each chain to every sink and passes on their acknowledgements unchanged.

    `stats` are the first sink's: that is the destination the user asked for.
    `remembered` (set by the pipeline from the state) spares a sink what it has.
    """

    def __init__(self, *sinks: Sink) -> None:
        if len(sinks) < 2:
            raise ValueError("a tee needs at least two sinks")
        self.sinks = sinks
        self.stats = sinks[0].stats
        self.remembered: Remembered | None = None

    @property
    def primary(self) -> Sink:
        return self.sinks[0]

    @property
    def namespaces(self) -> tuple[str, ...]:
        names = tuple(name for sink in self.sinks for name in sink.namespaces)
        if len(set(names)) != len(names):
            raise ValueError(f"two sinks share a state namespace: {names}")
        return names

    def add(self, chain: Chain) -> list[Ack]:
        acks: list[Ack] = []
        for sink in self.sinks:
            if self._has(sink, chain):
                acks.extend(Ack(chain, namespace) for namespace in sink.namespaces)
            else:
                acks.extend(sink.add(chain))
        return acks

    def _has(self, sink: Sink, chain: Chain) -> bool:
        remembered = self.remembered
        if remembered is None:
            return False
        return all(remembered(ns, chain.run_key, chain.fingerprint) for ns in sink.namespaces)

    def flush(self) -> list[Ack]:
        return [ack for sink in self.sinks for ack in sink.flush()]

    def close(self) -> None:
        problem: BaseException | None = None
        for sink in self.sinks:
            try:
                sink.close()
            except BaseException as exc:  # close the others, then re-raise the first
                problem = problem or exc
        if problem is not None:
            raise problem
