"""Ordered prefetch: slow per-run fetches in worker threads, results in submission order.

A collector waits for each answer before asking the next question, so under real
latency (150-400 ms a request on GitHub) wall time is latency times requests. Here the
per-run fetches (GitHub jobs pages, Jenkins ``wfapi/describe``, CircleCI workflow and
job lists) run up to N at a time while the caller consumes results strictly in the
order it submitted them: the source yields runs in exactly the sequential order, so
bodies are byte-identical and the delivery spine commits checkpoints in order.

Threads, not asyncio: PyGithub/requests, python-jenkins and the httpx client the
collectors use are synchronous, and the work they wait on releases the GIL. Only the
fetch runs in a worker; the item iterator (which reads the state file: one SQLite
connection may not be used from other threads) and everything done with the results
stay on the caller's thread.

Threads only pay when fetches wait. Against a server that answers at once (a controller
on the same host, a stand-in) they buy no time and cost CPU: every answer is a GIL
handover between a worker and the caller, about 0.5 ms of CPU a fetch. So fetches run on the
caller's thread until they are seen waiting (wall time minus the thread's own CPU) for
`WAIT_WORTH_THREADS` over the last `RECENT_FETCHES`; from then on, in workers. Over a
real network the first fetch already waits that long, so the switch costs one round trip.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

log = logging.getLogger(__name__)

Item = TypeVar("Item")
Result = TypeVar("Result")

DEFAULT_CONCURRENCY = 8
"""Requests in flight per platform unless --concurrency says otherwise."""

WAIT_WORTH_THREADS = 0.02
"""Seconds spent waiting by the last `RECENT_FETCHES` fetches that make workers worth it:
2.5 ms a fetch, five times the CPU a worker's handover costs, under any network's RTT."""
RECENT_FETCHES = 8


def concurrency_from_env(value: int | None = None) -> int:
    """`value`, else CI_COLLECTOR_CONCURRENCY, else the default (library callers)."""
    if value is not None:
        return max(1, value)
    text = os.environ.get("CI_COLLECTOR_CONCURRENCY", "")
    return max(1, int(text)) if text.strip().isdigit() else DEFAULT_CONCURRENCY


class OrderedPrefetch:
    """A bounded pool of workers; `map` keeps at most ``2 * workers`` fetches ahead.

    With one worker nothing runs ahead at all: `map` is a plain sequential loop, so
    ``--concurrency 1`` is exactly the collector without this module. With more, `map`
    is that loop too until fetches are seen waiting, then hands the rest to workers
    (the switch is made once, for every later `map` of this prefetch as well).
    """

    def __init__(
        self,
        workers: int,
        *,
        clock: Callable[[], float] = time.perf_counter,
        cpu_clock: Callable[[], float] = time.thread_time,
    ) -> None:
        self.workers = max(1, workers)
        self._pool: ThreadPoolExecutor | None = None
        self._clock, self._cpu_clock = clock, cpu_clock
        self._waits: deque[float] = deque(maxlen=RECENT_FETCHES)
        self.threaded = False
        """True once fetches were seen waiting: from then on they run in workers."""

    def __enter__(self) -> OrderedPrefetch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Drop queued fetches, wait for the ones in flight (they hold connections)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def map(self, fetch: Callable[[Item], Result], items: Iterable[Item]) -> Iterator[Result]:
        """``fetch(item)`` for each item, in item order; a fetch's exception is raised
        where its result would have been yielded (as a sequential loop would)."""
        if self.workers == 1:
            for item in items:
                yield fetch(item)
            return
        source = iter(items)
        if not self.threaded:
            for item in source:
                began, own = self._clock(), self._cpu_clock()
                result = fetch(item)
                self._waited(self._clock() - began - (self._cpu_clock() - own))
                yield result
                if self.threaded:
                    break
            else:
                return
        yield from self._in_workers(fetch, source)

    def _waited(self, seconds: float) -> None:
        self._waits.append(seconds)
        waited = sum(self._waits)
        if waited >= WAIT_WORTH_THREADS:
            self.threaded = True
            log.debug(
                "answers wait on the network (%.0f ms over the last %d): up to %d in flight",
                waited * 1000,
                len(self._waits),
                self.workers,
            )

    def _in_workers(
        self, fetch: Callable[[Item], Result], source: Iterator[Item]
    ) -> Iterator[Result]:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="prefetch")
        pool = self._pool
        window: deque[Future[Result]] = deque()
        try:
            for item in source:
                window.append(pool.submit(fetch, item))
                if len(window) >= 2 * self.workers:
                    break
            while window:
                done = window.popleft().result()
                for item in source:  # refill before handing over: keep the workers busy
                    window.append(pool.submit(fetch, item))
                    break
                yield done
        finally:
            for future in window:
                future.cancel()
