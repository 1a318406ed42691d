"""The GitHub request budget: what this invocation spent, in total and per repository,
and the headroom (--min-remaining) it must leave the token's other users.

Worker threads send requests concurrently, so every count goes through one lock, requests
in flight are reserved before they are sent (their answers would lower the remaining
budget), and answers arriving out of order never raise the known remaining count.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from ...errors import ComeBackLater
from ...times import ms_to_iso


@dataclass(slots=True)
class Budget:
    """What this invocation cost, for ``--verbose`` and the closing notes."""

    requests: int = 0
    not_modified: int = 0
    waited_seconds: float = 0.0
    remaining: int | None = None
    limit: int | None = None
    reset_epoch: int | None = None

    @property
    def counted(self) -> int:
        """Requests that counted against the rate limit (304s are free)."""
        return self.requests - self.not_modified

    def describe(self) -> str:
        text = (
            f"GitHub API: {self.requests} requests, {self.not_modified} answered 304 "
            f"(free), {self.counted} counted against the rate limit"
        )
        if self.remaining is not None and self.limit is not None:
            text += f"; {self.remaining}/{self.limit} left"
        if self.reset_epoch:
            text += f", resets {ms_to_iso(self.reset_epoch * 1000)}"
        if self.waited_seconds:
            text += f"; waited {self.waited_seconds:.0f}s for rate limits"
        return text


@dataclass
class Ledger:
    min_remaining: int = 0
    """Stop (`ComeBackLater`) rather than leave fewer requests than this to others."""
    by_repo: dict[str, list[int]] = field(default_factory=dict)
    """owner/name -> [requests, answered 304], for the closing budget lines."""
    in_flight: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def reserve(self, budget: Budget) -> None:
        """Count a request in flight; refuse it if it would eat into --min-remaining."""
        with self._lock:
            left, reserve = budget.remaining, self.min_remaining
            if reserve and left is not None and left - self.in_flight - 1 < reserve:
                reset = ms_to_iso((budget.reset_epoch or 0) * 1000)
                raise ComeBackLater(
                    f"GitHub rate limit: {left} requests left, --min-remaining "
                    f"{reserve} keeps the rest for the token's other users; it "
                    f"resets at {reset}; what was sent is saved, run again then"
                )
            self.in_flight += 1

    def release(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def observe(
        self,
        budget: Budget,
        status: int,
        path: str,
        remaining: int | None,
        limit: int | None,
        reset: int | None,
    ) -> None:
        repo = repo_of(path)
        with self._lock:
            budget.requests += 1
            if repo is not None:
                spent = self.by_repo.setdefault(repo, [0, 0])
                spent[0] += 1
                spent[1] += status == 304
            if status == 304:
                budget.not_modified += 1
            if remaining is not None:
                known = budget.remaining
                if known is not None and reset == budget.reset_epoch:
                    remaining = min(known, remaining)  # answers may arrive out of order
                budget.remaining, budget.limit, budget.reset_epoch = remaining, limit, reset

    def waited(self, budget: Budget, seconds: float) -> None:
        with self._lock:
            budget.waited_seconds += seconds


def repo_of(path: str) -> str | None:
    """``/repos/OWNER/NAME/...`` -> ``OWNER/NAME``."""
    parts = path.split("/", 4)
    return f"{parts[2]}/{parts[3]}" if len(parts) >= 4 and parts[1] == "repos" else None
