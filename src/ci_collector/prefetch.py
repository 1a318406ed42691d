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
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

DEFAULT_CONCURRENCY = 8
"""Requests in flight per platform unless --concurrency says otherwise."""


def concurrency_from_env(value: int | None = None) -> int:
    """`value`, else CI_COLLECTOR_CONCURRENCY, else the default (library callers)."""
    if value is not None:
        return max(1, value)
    text = os.environ.get("CI_COLLECTOR_CONCURRENCY", "")
    return max(1, int(text)) if text.strip().isdigit() else DEFAULT_CONCURRENCY


class OrderedPrefetch:
    """A bounded pool of workers; `map` keeps at most ``2 * workers`` fetches ahead.

    With one worker nothing runs ahead at all: `map` is a plain sequential loop, so
    ``--concurrency 1`` is exactly the collector without this module.
    """

    def __init__(self, workers: int) -> None:
        self.workers = max(1, workers)
        self._pool: ThreadPoolExecutor | None = None

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
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="prefetch")
        pool = self._pool
        source = iter(items)
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
