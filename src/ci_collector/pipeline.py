"""Source -> mapper -> sink, one run at a time, remembering only what was fully delivered.

Runs stream through: nothing holds a whole history in memory, so a backfill of any
length runs in the same footprint.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from .errors import EXIT_OK, EXIT_PARTIAL, CollectorError, RunSkipped
from .mapper import MappingError, map_run
from .model import Run
from .sinks.base import Chain, Sink

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Summary:
    runs: int = 0
    events: int = 0
    delivered_runs: int = 0
    skipped: list[str] = field(default_factory=list)
    dead_lettered_events: int = 0

    @property
    def exit_code(self) -> int:
        return EXIT_PARTIAL if self.dead_lettered_events else EXIT_OK


class SkipPolicy:
    """Decides what a run that cannot be collected or mapped costs: a warning, or the poll."""

    def __init__(self, fail_fast: bool = False) -> None:
        self.fail_fast = fail_fast
        self.skipped: list[str] = []

    def __call__(self, what: str, why: str) -> None:
        message = f"skipped {what}: {why}"
        if self.fail_fast:
            raise RunSkipped(f"{message} (--fail-fast)")
        self.skipped.append(message)
        log.warning("%s", message)


def _until_stopped(runs: Iterable[Run]) -> Iterator[Run | CollectorError]:
    """The runs, then the error that ended the source early (rate limit, remote failure).

    Handing the error over as a value rather than raising it through `deliver` lets the
    runs already read be flushed and recorded first: a poll cut short by a rate limit
    keeps its progress instead of fetching it all again next time.
    """
    try:
        yield from runs
    except CollectorError as exc:
        yield exc


def deliver(
    runs: Iterable[Run],
    sink: Sink,
    *,
    skip: SkipPolicy | None = None,
    on_delivered: Callable[[list[Chain]], None] | None = None,
    on_progress: Callable[[Summary], None] | None = None,
    summary: Summary | None = None,
) -> Summary:
    """Map and send every run; `on_delivered` gets the chains the sink fully accepted.

    It is called as soon as the sink reports them (a batch at a time, so the state can
    record a whole batch in one transaction).
    """
    skip = skip or SkipPolicy()
    summary = summary if summary is not None else Summary()  # the caller's, to report a stop

    def settle(done: list[Chain]) -> None:
        summary.delivered_runs += len(done)
        if done and on_delivered is not None:
            on_delivered(done)

    stopped: CollectorError | None = None
    try:
        for run in _until_stopped(runs):
            if isinstance(run, CollectorError):
                stopped = run  # keep what was read: deliver it, then say why we stopped
                break
            summary.runs += 1
            try:
                events = map_run(run)
            except MappingError as exc:
                skip(run.natural_key, str(exc))
                continue
            summary.events += len(events)
            chain = Chain(run.natural_key, run.repo, events, run.source, run.fingerprint)
            settle(sink.add(chain))
            if on_progress is not None:
                on_progress(summary)
        settle(sink.flush())
    finally:
        summary.skipped = skip.skipped
        summary.dead_lettered_events = sink.stats.dead_lettered_events
    if stopped is not None:
        raise stopped
    return summary
