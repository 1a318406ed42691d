"""Several sinks at once: Trunk plus a local copy of what was sent (``--store``), and more.

Every sink gets the same immutable chain and answers for it on its own; the pipeline
remembers each sink's deliveries under that sink's namespace and counts a chain as
delivered once every sink acknowledged it.
"""

from __future__ import annotations

from .base import Ack, Chain, Sink


class TeeSink:
    """Hands each chain to every sink and passes on their acknowledgements unchanged.

    `stats` are the first sink's: that is the destination the user asked for.
    """

    def __init__(self, *sinks: Sink) -> None:
        if len(sinks) < 2:
            raise ValueError("a tee needs at least two sinks")
        self.sinks = sinks
        self.stats = sinks[0].stats

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
        return [ack for sink in self.sinks for ack in sink.add(chain)]

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
