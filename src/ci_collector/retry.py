"""How every HTTP client here waits before trying again: one policy, one reading of Retry-After."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime

log = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
"""Answers that say "not now" rather than "never": timeouts, rate limits, server trouble."""


def backoff_delay(attempt: int, base: float, cap: float, asked: float | None = None) -> float:
    """Exponential backoff with jitter, never sooner than the server asked.

    The jitter (a random point in the upper half of the step) keeps many collectors that
    failed together from coming back together.
    """
    ceiling = min(cap, base * 2 ** (attempt - 1))
    delay = random.uniform(ceiling / 2, ceiling)
    return max(delay, asked) if asked is not None else delay


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds a ``Retry-After`` header asks for: a number or an HTTP date; None if absent."""
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


class RetryClock:
    """One request's retries: counts attempts, paces them, and knows when to give up.

    Each client keeps its own judgement of *what* is worth retrying; this keeps the
    *how long* in one place.
    """

    def __init__(
        self,
        budget: float,
        base: float,
        cap: float,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.deadline = time.monotonic() + budget
        self.base = base
        self.cap = cap
        self.sleep = sleep
        self.attempts = 0

    def start_attempt(self) -> int:
        self.attempts += 1
        return self.attempts

    def pause(self, what: str, problem: str, asked: float | None) -> float | None:
        """Sleep before the next attempt and return the wait; None when the budget is spent."""
        delay = backoff_delay(self.attempts, self.base, self.cap, asked)
        if time.monotonic() + delay > self.deadline:
            return None
        log.warning("%s failed (%s); retry %d in %.1fs", what, problem, self.attempts, delay)
        self.sleep(delay)
        return delay
