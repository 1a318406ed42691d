"""One request rate, and one pause, shared by every thread talking to one API.

GitHub allows 900 points a minute on its REST endpoints and asks clients that get a
secondary-limit answer (or a ``Retry-After``) to stop *at once*, all of them: with
requests in flight from several workers, a wait taken by one thread alone would let
the others keep hammering. A token bucket of `burst` requests refilled at `rate` a
second never exceeds ``burst + 60 * rate`` in any minute (60 + 14 * 60 = 900).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Pacer:
    """Call `wait` before each request; `pause` holds every caller back until a moment."""

    def __init__(
        self,
        rate: float | None,
        burst: int = 60,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate if rate and rate > 0 else None
        self.burst = max(1, burst)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = float(self.burst)
        self._stamp = clock()
        self._paused_until = 0.0
        self._pauser: int | None = None

    def wait(self) -> float:
        """Block until this caller may send; returns the seconds waited."""
        with self._lock:
            now = self._clock()
            paused = self._pauser != threading.get_ident()  # the pauser sat it out already
            start = max(now, self._paused_until) if paused else now
            if self.rate is not None:
                self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
                self._stamp = now
                self._tokens -= 1
                if self._tokens < 0:  # reserve the slot: the next caller queues behind it
                    start = max(start, now - self._tokens / self.rate)
        delay = start - now
        if delay > 0:
            self._sleep(delay)
        return max(0.0, delay)

    def pause(self, seconds: float) -> None:
        """No other thread sends for `seconds` from now (a secondary limit or
        Retry-After); the caller sleeps them itself."""
        with self._lock:
            until = self._clock() + seconds
            if until > self._paused_until:
                self._paused_until, self._pauser = until, threading.get_ident()
