"""How every HTTP client here waits before trying again: one policy, one reading of Retry-After."""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

from urllib3.exceptions import MaxRetryError, ResponseError
from urllib3.util.retry import Retry

if TYPE_CHECKING:
    from typing import Self

    from urllib3.connectionpool import ConnectionPool
    from urllib3.response import BaseHTTPResponse

log = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
"""Answers that say "not now" rather than "never": timeouts, rate limits, server trouble."""

BACKOFF_BASE = 0.5
BACKOFF_CAP = 30.0
"""The one pacing of every client's retries: 0.25-0.5 s, then doubling, at most 30 s."""


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
        if delay > min(self.deadline - time.monotonic(), invocation_remaining()):
            return None
        log.warning("%s failed (%s); retry %d in %.1fs", what, problem, self.attempts, delay)
        self.sleep(delay)
        return delay


# ---- one deadline for the whole invocation ---------------------------------------------

_invocation_end: float | None = None


def set_invocation_deadline(seconds: float | None) -> None:
    """Bound every request and every wait of this invocation (``--deadline``); None: no bound."""
    global _invocation_end
    _invocation_end = None if seconds is None else time.monotonic() + seconds


def invocation_remaining() -> float:
    """Seconds left before the invocation's deadline (``inf`` without one)."""
    return math.inf if _invocation_end is None else _invocation_end - time.monotonic()


# ---- urllib3's own retry loop, paced and bounded like `RetryClock` ---------------------


class PacedRetry(Retry):
    """urllib3 `Retry` (used by requests, hence PyGithub and python-jenkins) with this
    module's pacing: jittered backoff, a lenient and clamped ``Retry-After``, and a time
    budget (``--retry-seconds``, and the invocation's deadline) besides the attempt count.

    A wait that would end past the budget is not slept: the retry gives up at once, as
    `RetryClock` does, so a ``Retry-After: 86400`` ends the request now, not tomorrow.
    """

    def __init__(
        self,
        *args: Any,
        budget: float = 300.0,
        base: float = BACKOFF_BASE,
        cap: float = BACKOFF_CAP,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.budget = budget
        self.base = base
        self.cap = cap
        self.started: float | None = None
        self.planned_wait = 0.0

    def new(self, **kw: Any) -> Self:
        retry = super().new(**kw)
        retry.budget, retry.base, retry.cap = self.budget, self.base, self.cap
        retry.started = self.started if self.started is not None else time.monotonic()
        return retry

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: ConnectionPool | None = None,
        _stacktrace: TracebackType | None = None,
    ) -> Self:
        retry = super().increment(method, url, response, error, _pool, _stacktrace)
        asked = retry_after(response.headers) if response is not None else None
        failures = len(retry.history)
        wait = backoff_delay(failures, retry.base, retry.cap, asked)
        started = retry.started if retry.started is not None else time.monotonic()
        left = min(started + retry.budget - time.monotonic(), invocation_remaining())
        if wait > left:
            reason = error or ResponseError(
                f"HTTP {response.status if response is not None else '?'}: waiting "
                f"{wait:.0f}s more is beyond the retry budget"
            )
            raise MaxRetryError(_pool, url or "", reason)  # type: ignore[arg-type]
        retry.planned_wait = wait
        return retry

    def get_retry_after(self, response: BaseHTTPResponse) -> float | None:
        return retry_after(response.headers)

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        if self.planned_wait > 0:
            log.debug("retrying in %.1fs", self.planned_wait)
            time.sleep(self.planned_wait)
