"""Triggered builds after the builds that triggered them, in one poll's stream.

A build triggered by another job's build may be listed before its upstream (jobs are
polled one after another); bodies must never carry a build before its trigger.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from ...ledger import Checkpoint
from ...model import Run
from ...pipeline import Item


def upstream_first(items: Iterable[Item]) -> Iterator[Item]:
    """The items, with downstream builds after any upstream of them (then in poll order).

    A build triggered by another is held to the end of the poll (its upstream may be in
    a job polled later), and so is every later checkpoint of its job: a cursor never
    passes a build the pipeline has not been handed yet.
    """
    downstream: list[Run] = []
    held: list[Checkpoint] = []
    waiting_sources: set[str] = set()
    for item in items:
        if isinstance(item, Checkpoint):
            if item.source in waiting_sources:
                held.append(item)
            else:
                yield item
        elif item.external_parent is None:
            yield item
        else:
            downstream.append(item)
            waiting_sources.add(item.source)
    waiting = downstream
    while waiting:
        keys = {run.natural_key for run in waiting}
        ready = [
            run
            for run in waiting
            if run.external_parent is None or run.external_parent.natural_key not in keys
        ]
        if not ready:  # a cycle of triggers cannot happen; never loop on bad data
            ready = waiting
        yield from ready
        waiting = [run for run in waiting if run not in ready]
    yield from held
