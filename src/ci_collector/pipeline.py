"""Source -> mapper -> sink, one run at a time, remembering only what was acknowledged.

A source yields runs and `Checkpoint`s in one ordered stream; the `Ledger` writes a
checkpoint's cursor only after the sink acknowledged every chain before it. Runs stream
through: nothing holds a whole history in memory, so a backfill of any length runs in
the same footprint.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from .errors import EXIT_OK, EXIT_PARTIAL, CollectorError, RunSkipped
from .ledger import Checkpoint, Ledger
from .mapper import MappingError, map_run
from .model import Run
from .sinks.base import Chain, Sink
from .sinks.tee import TeeSink
from .state import State

log = logging.getLogger(__name__)

Item = Run | Checkpoint
"""What a source yields: runs, and checkpoints saying how far it has got."""

RunSource = Callable[[State, "SkipPolicy"], Iterable[Item]]

__all__ = ["Checkpoint", "Item", "RunSource", "SkipPolicy", "Summary", "deliver", "run"]


@dataclass(slots=True)
class Summary:
    runs: int = 0
    events: int = 0
    delivered_runs: int = 0
    skipped: list[str] = field(default_factory=list)
    dead_lettered_events: int = 0
    dead_lettered_runs: int = 0

    @property
    def exit_code(self) -> int:
        refused = self.dead_lettered_events or self.dead_lettered_runs  # by any sink
        return EXIT_PARTIAL if refused else EXIT_OK


class SkipPolicy:
    """Decides what a run that cannot be collected or mapped costs: a warning, or the poll.

    A skip naming the run's key and source is also remembered in the state, with the
    `settings` that skipped it (say, a fingerprint of the repository map): that settles
    it (a checkpoint may pass it), a source retries it once its settings change, and
    `state show` lists it meanwhile.
    """

    def __init__(self, fail_fast: bool = False) -> None:
        self.fail_fast = fail_fast
        self.skipped: list[str] = []
        self.state: State | None = None

    def __call__(
        self,
        what: str,
        why: str,
        *,
        run_key: str = "",
        source: str = "",
        settings: str = "",
        run_keys: Iterable[str] = (),
    ) -> None:
        """`run_keys`: one warning for several runs (``what`` names them), each remembered."""
        message = f"skipped {what}: {why}"
        if self.fail_fast:
            raise RunSkipped(f"{message} (--fail-fast)")
        self.skipped.append(message)
        log.warning("%s", message)
        if self.state is not None and source:
            for key in [run_key, *run_keys] if run_key else run_keys:
                self.state.mark_skipped(key, source, settings, why)


def _until_stopped(items: Iterable[Item]) -> Iterator[Item | CollectorError]:
    """The items, then the error that ended the source early (rate limit, remote failure).

    Handing the error over as a value rather than raising it through `deliver` lets the
    runs already read be flushed and their checkpoints committed first: a poll cut short
    by a rate limit keeps its progress instead of fetching it all again next time.
    """
    try:
        yield from items
    except CollectorError as exc:
        yield exc


def deliver(
    items: Iterable[Item],
    sink: Sink,
    *,
    state: State | None = None,
    skip: SkipPolicy | None = None,
    on_delivered: Callable[[list[Chain]], None] | None = None,
    on_progress: Callable[[Summary], None] | None = None,
    summary: Summary | None = None,
) -> Summary:
    """Map and send every run; write each checkpoint once all before it is acknowledged.

    `on_delivered` gets the chains every sink accepted, a batch at a time. Without a
    `state` nothing is remembered (checkpoints are only ordered).
    """
    skip = skip or SkipPolicy()
    summary = summary if summary is not None else Summary()  # the caller's, to report a stop
    ledger = Ledger(state, sink.namespaces, on_delivered=on_delivered)
    stopped: CollectorError | None = None
    try:
        for item in _until_stopped(items):
            if isinstance(item, CollectorError):
                stopped = item  # keep what was read: deliver it, then say why we stopped
                break
            if isinstance(item, Checkpoint):
                ledger.checkpoint(item)
                continue
            summary.runs += 1
            try:
                events = map_run(item)
            except MappingError as exc:
                skip(item.natural_key, str(exc), run_key=item.natural_key, source=item.source)
                continue
            summary.events += len(events)
            chain = Chain(item.natural_key, item.repo, events, item.source, item.fingerprint)
            ledger.expect(chain)
            ledger.acknowledge(sink.add(chain))
            summary.delivered_runs = ledger.settled.delivered
            if on_progress is not None:
                on_progress(summary)
        ledger.acknowledge(sink.flush())
    finally:
        summary.delivered_runs = ledger.settled.delivered
        summary.dead_lettered_runs = ledger.settled.dead_lettered
        summary.skipped = skip.skipped
        summary.dead_lettered_events = sink.stats.dead_lettered_events
    if stopped is not None:
        raise stopped
    return summary


def run(
    source: RunSource,
    state: State,
    sink: Sink,
    skip: SkipPolicy,
    *,
    on_progress: Callable[[Summary], None] | None = None,
    summary: Summary | None = None,
) -> Summary:
    """One poll of `source` into `sink`, remembered in `state` (the commands' run loop).

    The state learns the sink's namespaces first, so "delivered" means delivered to
    every destination of this run, and skips are remembered in it.
    """
    state.sinks = sink.namespaces
    if isinstance(sink, TeeSink):
        sink.remembered = state.delivered_to
    skip.state = state
    return deliver(
        source(state, skip),
        sink,
        state=state,
        skip=skip,
        on_progress=on_progress,
        summary=summary,
    )
