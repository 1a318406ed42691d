"""Seeded fault injection for the loopback servers: which request fails, and how.

One `Chaos` per schedule is installed as the `intercept` of every server of that
schedule (the platform stand-in and Trunk). For each request it draws from its own
`random.Random`, so a seed replays the same decisions for the same request sequence.
It also holds the SIGKILL trigger: the collector is killed when the k-th request of an
invocation arrives, before or after the server acted on it.
"""

from __future__ import annotations

import json
import os
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.servers.base import Reply, Request

TIMEOUT = 1.0
"""The collector's --timeout in chaos runs (PyGithub rounds timeouts to whole seconds)."""

SLOW = TIMEOUT + 0.6
"""How late a "slow" answer comes: always after the collector gave up on it."""

COLLECTOR_FAULTS = ("http_500", "http_502", "http_503", "http_429", "drop", "slow", "truncated")
GITHUB_ONLY = ("rate_limit_soon", "rate_limit_far")
TRUNK_FAULTS = (
    "http_500",
    "http_502",
    "http_503",
    "http_429",
    "drop",
    "slow",
    "answer_lost",
    "http_400",
)

TRANSIENT = frozenset(
    {
        "http_500",
        "http_502",
        "http_503",
        "http_429",
        "drop",
        "slow",
        "answer_lost",
        "rate_limit_soon",
        "rate_limit_far",
    }
)
"""Faults a retry may absorb, or that end a poll with 75 (come back later)."""


Deleter = Callable[[Request], bool]
"""Deletes what `request` asks about from the model (True) if it is a fetch after a list."""


@dataclass
class Invocation:
    """What one run of the collector suffered."""

    faults: Counter[str] = field(default_factory=Counter)
    requests: int = 0
    kill_at: int | None = None
    kill_after: bool = False
    killed: bool = False


class Chaos:
    """A per-request fault decider for one schedule (seeded), plus the kill trigger."""

    def __init__(self, rng: random.Random, deleter: Deleter | None = None) -> None:
        self.rng = rng
        self.deleter = deleter
        self.rate = 0.0
        self.pid: int | None = None
        self.current = Invocation()
        self.total: Counter[str] = Counter()
        self._lock = threading.Lock()

    def begin(self, rate: float, kill_at: int | None, kill_after: bool) -> Invocation:
        with self._lock:
            self.rate = rate
            self.current = Invocation(kill_at=kill_at, kill_after=kill_after)
            self.pid = None
            return self.current

    def quiet(self) -> None:
        with self._lock:
            self.rate = 0.0
            self.current = Invocation()

    # ---- the intercepts -------------------------------------------------------------

    def platform(self, github: bool = False) -> Callable[[Request, Callable[[], Reply]], Reply]:
        kinds = COLLECTOR_FAULTS + (GITHUB_ONLY if github else ())
        return lambda request, real: self._intercept(request, real, kinds, trunk=False)

    def trunk(self) -> Callable[[Request, Callable[[], Reply]], Reply]:
        return lambda request, real: self._intercept(request, real, TRUNK_FAULTS, trunk=True)

    def _intercept(
        self, request: Request, real: Callable[[], Reply], kinds: tuple[str, ...], trunk: bool
    ) -> Reply:
        with self._lock:
            invocation = self.current
            invocation.requests += 1
            kill_now = invocation.kill_at == invocation.requests and self.pid is not None
            kind = self.rng.choice(kinds) if self.rng.random() < self.rate else None
            if kind == "truncated" and request.method != "GET":
                kind = None
            deletion = self.rng.random() < self.rate / 2 and self.deleter is not None
            if kind is None and deletion and self.deleter is not None and self.deleter(request):
                kind = "deleted"  # the model forgot the run: the server answers a real 404
            if kind is not None:
                invocation.faults[("trunk " if trunk else "") + kind] += 1
                self.total[("trunk " if trunk else "") + kind] += 1
        if kill_now and not invocation.kill_after:
            self._kill(invocation)
        reply = self._apply(kind, request, real)
        if kill_now and invocation.kill_after:
            self._kill(invocation)
        return reply

    def _kill(self, invocation: Invocation) -> None:
        assert self.pid is not None
        try:
            os.kill(self.pid, signal.SIGKILL)
            invocation.killed = True
        except ProcessLookupError:
            pass

    def _apply(self, kind: str | None, request: Request, real: Callable[[], Reply]) -> Reply:
        error = json.dumps({"message": f"chaos: {kind}"}).encode()
        if kind is None or kind == "deleted":
            return real()  # a deletion already happened in the model: the real 404
        if kind.startswith("http_") and kind != "http_400":
            status = int(kind[5:])
            headers = {"Retry-After": str(self.rng.choice((0, 1)))} if status == 429 else {}
            return Reply(status, error, headers)
        if kind == "http_400":
            return Reply(400, b'{"error":"chaos: refused"}')
        if kind == "drop":
            return Reply(drop=True)
        if kind in ("slow", "answer_lost"):
            reply = real()  # the server acted (Trunk stored the events); the answer is lost
            if kind == "slow":
                reply.delay = SLOW
            else:
                reply.drop = True
            return reply
        if kind == "truncated":
            reply = real()
            if reply.status == 200 and len(reply.body) > 2:
                reply.body = reply.body[: self.rng.randrange(1, len(reply.body) - 1)]
            return reply
        now = int(time.time())
        reset = now if kind == "rate_limit_soon" else now + 3600
        return Reply(
            403,
            b'{"message":"API rate limit exceeded for user ID 1."}',
            {
                "x-ratelimit-limit": "5000",
                "x-ratelimit-remaining": "0",
                "x-ratelimit-used": "5000",
                "x-ratelimit-reset": str(reset),
                "x-ratelimit-resource": "core",
            },
        )
